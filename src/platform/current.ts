/**
 * The platform of this build: Node's. The browser bundle (scripts/build-browser.mjs) resolves this
 * module to `browser.ts` instead, so Node's modules never enter it.
 */
export { nodePlatform as platform } from './node.js';
