/**
 * What the page tests share: the browser bundle built into .build-browser-test/, served beside the
 * repository's models by the static server with the test's page at '/', and Debian's Chromium
 * launched headless with WebGPU on (chromium.ts).
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import puppeteer, { type Browser } from 'puppeteer-core';
import { buildBrowserBundle } from '../../scripts/build-browser.mjs';
import { CHROMIUM, CHROMIUM_WEBGPU_FLAGS } from './chromium.js';
import { startStaticServer, type StaticServer } from './static-server.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

type Pages = Readonly<Record<string, { type: string; body: string }>>;

/** An HTML page that runs `script` as its module. */
export function modulePage(title: string, script: string): string {
  return `<!doctype html><meta charset="utf-8"><title>${title}</title>
<script type="module">${script}</script>`;
}

/** Builds the bundle (logging its lines), returning its sizes. */
export function buildTestBundle(): ReturnType<typeof buildBrowserBundle> {
  return buildBrowserBundle({ outdir: join(root, '.build-browser-test'), log: (l) => console.log(`[bundle] ${l}`) });
}

/** The bundle at /bundle/ and the models at /models/. */
export const BUNDLE_MOUNTS: Readonly<Record<string, string>> = {
  '/bundle/': join(root, '.build-browser-test'),
  '/models/': join(root, 'models'),
};

/** `html` at '/', an empty favicon, and `extra`. */
export function pageRoutes(html: string, extra: Pages = {}): Pages {
  return {
    '/': { type: 'text/html; charset=utf-8', body: html },
    ...extra,
    '/favicon.ico': { type: 'image/x-icon', body: '' },
  };
}

/** Builds the bundle and serves it with `html` at '/' (and `extra` pages). */
export async function serveBundlePage(html: string, extra: Pages = {}): Promise<StaticServer> {
  await buildTestBundle();
  return startStaticServer(BUNDLE_MOUNTS, pageRoutes(html, extra));
}

/**
 * Chromium, headless, with WebGPU on; `protocolTimeout` where one evaluate may run for minutes
 * (shader compiles on SwiftShader).
 */
export function launchChromium(o: { protocolTimeout?: number } = {}): Promise<Browser> {
  return puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_WEBGPU_FLAGS, ...o });
}
