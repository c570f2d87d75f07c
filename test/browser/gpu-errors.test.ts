/**
 * The GPU errors a page meets, forced in Chromium on WebGPU through the worker-hosted engine:
 * - no shader-f16 (SwiftShader has none; on a GPU with it, none is expected): a 'no-f16' notice,
 *   and f32 activations;
 * - out of memory at load (an absurd 64 KiB budget): OutOfMemoryError, in the page's own class,
 *   naming the bytes asked for and the budget;
 * - out of memory for the default engine only (a 48 MiB budget: the built-in model's weights fit, the
 *   KV cache for 64 full-context sequences, ~192 MiB in f32, does not): a smaller engine loads, with a
 *   'smaller-batch' notice;
 * - device lost (`device.destroy()` in the worker): onDeviceLost with a DeviceLostError, later
 *   requests refused with it, and `reload()` giving an engine that answers again.
 * The no-WebGPU fallback is in worker-engine.test.ts.
 */
import type { Browser, Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, modulePage, serveBundlePage } from './bundle-page.js';
import { chromiumSkipReason } from './chromium.js';
import type { StaticServer } from './static-server.js';

const skip = chromiumSkipReason();
if (skip) console.warn(`[tessera] GPU error page tests skipped: ${skip}`);

const PAGE_SCRIPT = `
import * as t from '/bundle/tessera.js';
const MESSAGES = [{ role: 'user', content: 'The jury said' }];
window.hasAdapter = async () => {
  const a = await navigator.gpu?.requestAdapter();
  return a ? { f16: a.features.has('shader-f16') } : null;
};
window.outOfMemory = async () => {
  const notices = [];
  try {
    await t.createWorkerEngine({ modelUrl: '/models/builtin/', backend: 'webgpu', cache: false, memoryBudget: 65536, onNotice: (m, code) => notices.push(code) });
    return { ok: true, notices };
  } catch (e) {
    return { ok: false, notices, name: e.name, message: e.message, typed: e instanceof t.OutOfMemoryError && e instanceof t.GpuError };
  }
};
window.smallerEngine = async (reply) => {
  const notices = [];
  try {
    const engine = await t.createWorkerEngine({ modelUrl: '/models/builtin/', backend: 'webgpu', actDtype: 'f32', cache: false, memoryBudget: 48 * 2 ** 20, onNotice: (m, code) => notices.push({ code, m }) });
    const r = reply ? await engine.chat.completions.create({ messages: MESSAGES, max_tokens: 2, temperature: 0, ignore_eos: true }) : null;
    engine.terminate();
    return { ok: true, backend: engine.backend, notices, tokens: r && r.usage.completion_tokens };
  } catch (e) {
    return { ok: false, notices, name: e.name, message: e.message };
  }
};
window.deviceLoss = async () => {
  let onLost;
  const lostSeen = new Promise((r) => (onLost = r));
  const engine = await t.createWorkerEngine({ modelUrl: '/models/builtin/', backend: 'webgpu', actDtype: 'f32', onDeviceLost: (e) => onLost(e) });
  engine.loseDevice();
  const lost = await lostSeen;
  let refused = null;
  try { await engine.chat.completions.create({ messages: MESSAGES, max_tokens: 2 }); } catch (e) { refused = e; }
  const again = await engine.reload();
  const reply = await again.chat.completions.create({ messages: MESSAGES, max_tokens: 2, temperature: 0, ignore_eos: true });
  again.terminate();
  return {
    lost: { name: lost.name, message: lost.message, typed: lost instanceof t.DeviceLostError, same: engine.lost === lost },
    refused: refused && { name: refused.name, typed: refused instanceof t.DeviceLostError },
    reloaded: { backend: again.backend, tokens: reply.usage.completion_tokens, lost: again.lost },
  };
};`;

const PAGE = modulePage('tessera GPU errors', PAGE_SCRIPT);

describe.skipIf(skip !== null)(`GPU errors in the page${skip ? ` (${skip})` : ''}`, () => {
  let server: StaticServer;
  let browser: Browser;

  beforeAll(async () => {
    server = await serveBundlePage(PAGE);
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  async function inPage<T>(fn: string, arg?: unknown): Promise<T> {
    const page: Page = await browser.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warn') console.log(`[page] ${m.text()}`);
    });
    try {
      await page.goto(`${server.url}/`);
      await page.waitForFunction((f) => f in window, {}, fn);
      return (await page.evaluate(
        (f, a) => (window as unknown as Record<string, (a: unknown) => Promise<T>>)[f]!(a),
        fn,
        arg,
      )) as T;
    } finally {
      await page.close();
    }
  }

  it('no f16: a typed notice; an absurd memory budget: OutOfMemoryError with the size asked', {
    timeout: 300_000,
  }, async (ctx) => {
    const adapter = await inPage<{ f16: boolean } | null>('hasAdapter');
    if (!adapter) return ctx.skip("Chromium's page has no WebGPU adapter here");
    const out = await inPage<{ ok: boolean; notices: string[]; name?: string; message?: string; typed?: boolean }>(
      'outOfMemory',
    );
    console.log(`[page] out of memory: ${JSON.stringify(out)}`);
    expect(out.ok).toBe(false);
    expect(out.name).toBe('OutOfMemoryError');
    expect(out.typed).toBe(true);
    expect(out.message).toMatch(/out of GPU memory allocating [\d.]+ (B|KiB|MiB|GiB) for '.+' \(budget 64\.0 KiB/);
    expect(out.notices.includes('no-f16')).toBe(!adapter.f16);
    expect(out.notices).not.toContain('no-webgpu');
  });

  it('out of memory for the default engine: a smaller one loads, with a notice', { timeout: 600_000 }, async (ctx) => {
    if (!(await inPage('hasAdapter'))) return ctx.skip("Chromium's page has no WebGPU adapter here");
    // the smaller engine's reply costs shader compiles (minutes on SwiftShader): TESSERA_HEAVY asks for it
    const reply = !!process.env.TESSERA_HEAVY;
    const out = await inPage<{
      ok: boolean;
      backend?: string;
      notices: { code: string; m: string }[];
      tokens?: number | null;
      message?: string;
    }>('smallerEngine', reply);
    console.log(`[page] smaller engine: ${JSON.stringify(out)}`);
    expect(out.ok).toBe(true);
    expect(out.backend).toBe('webgpu');
    const smaller = out.notices.filter((n) => n.code === 'smaller-batch');
    expect(smaller).toHaveLength(1);
    expect(smaller[0]!.m).toMatch(/^out of GPU memory for the default engine: running \d+ sequences at once/);
    expect(out.tokens).toBe(reply ? 2 : null);
  });

  it('device lost: a typed error first, then reload() answers again on WebGPU', { timeout: 600_000 }, async (ctx) => {
    if (!(await inPage('hasAdapter'))) return ctx.skip("Chromium's page has no WebGPU adapter here");
    const out = await inPage<{
      lost: { name: string; message: string; typed: boolean; same: boolean };
      refused: { name: string; typed: boolean } | null;
      reloaded: { backend: string; tokens: number; lost: unknown };
    }>('deviceLoss');
    console.log(`[page] device loss: ${JSON.stringify(out)}`);
    expect(out.lost).toMatchObject({ name: 'DeviceLostError', typed: true, same: true });
    expect(out.lost.message).toContain('the GPU device was lost');
    expect(out.refused).toEqual({ name: 'DeviceLostError', typed: true });
    expect(out.reloaded).toEqual({ backend: 'webgpu', tokens: 2, lost: null });
  });
});
