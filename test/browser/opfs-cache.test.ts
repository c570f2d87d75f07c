/**
 * The worker-hosted engine's model cache in the Origin Private File System, in Chromium: the first
 * load fetches the built-in model's files and records each one's size and SHA-256; the second load
 * makes no request for them (the test server counts requests by path) and replies the same; after
 * the page overwrites the cached weights with other bytes of the same size, the next load finds the
 * SHA-256 wrong, fetches the file again and still replies the same. CPU backend: the cache sits
 * below the backend, and this test runs wherever Chromium does.
 */
import { statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, modulePage, serveBundlePage } from './bundle-page.js';
import { chromiumSkipReason } from './chromium.js';
import type { StaticServer } from './static-server.js';

const WEIGHTS = '/models/builtin/model.safetensors';
const WEIGHT_BYTES = statSync(fileURLToPath(new URL(`../..${WEIGHTS}`, import.meta.url))).size;
const skip = chromiumSkipReason();
if (skip) console.warn(`[tessera] OPFS cache page tests skipped: ${skip}`);

interface LoadResult {
  ok: boolean;
  text?: string;
  events?: { file: string; hit: boolean; reason?: string }[];
  /** The page's onProgress reports: bytes of the model arriving over the network. */
  progress?: { loaded: number; total: number | null }[];
  error?: string;
}

const PAGE_SCRIPT = `
import { createWorkerEngine } from '/bundle/tessera.js';
window.loadAndReply = async () => {
  const events = [];
  const progress = [];
  try {
    const engine = await createWorkerEngine({ modelUrl: '/models/builtin/', backend: 'cpu', actDtype: 'f32', onCache: (e) => events.push(e), onProgress: (p) => progress.push(p) });
    const r = await engine.chat.completions.create({ messages: [{ role: 'user', content: 'The jury said' }], max_tokens: 8, temperature: 0, ignore_eos: true });
    engine.terminate();
    return { ok: true, text: r.choices[0].message.content, events, progress };
  } catch (e) {
    return { ok: false, error: e.name + ': ' + e.message, events };
  }
};
// Overwrites the cached weights with as many other bytes: the manifest's size still matches, its SHA-256 not.
window.corruptCachedWeights = async () => {
  const models = await (await navigator.storage.getDirectory()).getDirectoryHandle('tessera-models');
  for await (const [, dir] of models.entries()) {
    const h = await dir.getFileHandle('model.safetensors');
    const size = (await h.getFile()).size;
    const w = await h.createWritable();
    await w.write(new Uint8Array(size).fill(7));
    await w.close();
    return size;
  }
  return 0;
};`;

const PAGE = modulePage('tessera OPFS cache', PAGE_SCRIPT);

describe.skipIf(skip !== null)(`model files cached in OPFS${skip ? ` (${skip})` : ''}`, () => {
  let server: StaticServer;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    server = await serveBundlePage(PAGE);
    // a fresh profile each launch, so the first load below starts with an empty cache
    browser = await launchChromium();
    page = await browser.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warn') console.log(`[page] ${m.text()}`);
    });
    await page.goto(`${server.url}/`);
    await page.waitForFunction(() => 'loadAndReply' in window);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  async function load(): Promise<LoadResult & { weightRequests: number; modelRequests: number }> {
    server.requests.clear();
    const out = (await page.evaluate(() =>
      (window as unknown as { loadAndReply: () => Promise<LoadResult> }).loadAndReply(),
    )) as LoadResult;
    if (!out.ok) throw new Error(`page failed: ${out.error}`);
    const modelRequests = [...server.requests].filter(([p]) => p.startsWith('/models/')).reduce((a, [, n]) => a + n, 0);
    return { ...out, weightRequests: server.requests.get(WEIGHTS) ?? 0, modelRequests };
  }

  it('the second load fetches nothing; a corrupted copy fails its SHA-256 and is fetched again', {
    timeout: 600_000,
  }, async () => {
    const first = await load();
    console.log(`[opfs] first load: ${first.modelRequests} model requests, events ${JSON.stringify(first.events)}`);
    expect(first.weightRequests).toBeGreaterThan(0);
    // the download reached the page's onProgress, growing, up to at least the weights' size
    const loaded = first.progress!.map((p) => p.loaded);
    console.log(`[opfs] first load: ${loaded.length} progress reports, last ${JSON.stringify(first.progress!.at(-1))}`);
    expect(loaded.length).toBeGreaterThan(1);
    expect(Math.max(...loaded)).toBeGreaterThanOrEqual(WEIGHT_BYTES);
    expect(first.events!.find((e) => e.file === 'model.safetensors')).toMatchObject({
      hit: false,
      reason: 'not cached',
    });

    const second = await load();
    console.log(`[opfs] second load: ${JSON.stringify([...server.requests])}`);
    expect(second.weightRequests).toBe(0);
    expect(second.progress).toEqual([]);
    expect(second.modelRequests).toBe(0);
    expect(second.events!.length).toBeGreaterThan(0);
    expect(second.events!.every((e) => e.hit)).toBe(true);
    expect(second.text).toBe(first.text);

    const size = await page.evaluate(() =>
      (window as unknown as { corruptCachedWeights: () => Promise<number> }).corruptCachedWeights(),
    );
    expect(size).toBeGreaterThan(0);
    const third = await load();
    expect(third.events!.find((e) => e.file === 'model.safetensors')).toMatchObject({
      hit: false,
      reason: 'SHA-256 differs from the manifest',
    });
    expect(third.weightRequests).toBeGreaterThan(0);
    expect(third.text).toBe(first.text);
  });
});
