/**
 * What the page tests share: the browser bundle built into .build-browser-test/<pid>/, served beside
 * the repository's models by the static server with the test's page at '/', and Debian's Chromium
 * launched headless with WebGPU on (chromium.ts).
 */
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
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

const BUILDS = join(root, '.build-browser-test');

/**
 * This test process's bundle folder. Test files run in parallel processes, and a build first deletes
 * the folder's old chunks: a folder shared between processes lost chunks under a page still loading
 * them (404s mid-test). Files of one process run one after another, so they may share one.
 */
export const BUNDLE_DIR = join(BUILDS, String(process.pid));

/** Whether process `pid` still runs (signal 0 tests without signalling). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Builds the bundle into BUNDLE_DIR (logging its lines), returning its sizes; drops folders of ended runs. */
export function buildTestBundle(): ReturnType<typeof buildBrowserBundle> {
  mkdirSync(BUILDS, { recursive: true });
  for (const d of readdirSync(BUILDS, { withFileTypes: true }).filter((e) => e.isDirectory()))
    if (/^\d+$/.test(d.name) && !alive(Number(d.name))) rmSync(join(BUILDS, d.name), { recursive: true, force: true });
  return buildBrowserBundle({ outdir: BUNDLE_DIR, log: (l) => console.log(`[bundle] ${l}`) });
}

/** The bundle at /bundle/ and the models at /models/. */
export const BUNDLE_MOUNTS: Readonly<Record<string, string>> = {
  '/bundle/': BUNDLE_DIR,
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
