/** The platform of the browser bundle: scripts/build-browser.mjs resolves `current.ts` to this file. */
export { browserPlatform as platform } from './browser.js';
