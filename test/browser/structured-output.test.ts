/**
 * Structured output in the page: a chat completion with `response_format: json_schema` through the
 * worker-hosted engine in Chromium returns JSON that parses and satisfies the schema (xgrammar's
 * WebAssembly, from its own chunk of the bundle, masks the sampler), on the CPU backend and on
 * WebGPU. On SwiftShader (seconds per token) the WebGPU row asks for a boolean, a few tokens, unless
 * TESSERA_HEAVY asks for the object schema the CPU row uses.
 */
import type { Browser, Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, modulePage, serveBundlePage } from './bundle-page.js';
import { chromiumSkipReason } from './chromium.js';
import type { StaticServer } from './static-server.js';

const skip = chromiumSkipReason();
if (skip) console.warn(`[tessera] structured-output page tests skipped: ${skip}`);

/** Whether the page's WebGPU adapter is SwiftShader (Chromium's software fallback). */
async function softwareAdapter(page: Page): Promise<boolean> {
  return page.evaluate(async () => {
    const a = await navigator.gpu?.requestAdapter();
    // GPUAdapterInfo's fields are prototype getters: Object.values() of it is empty
    const info = a?.info;
    return !!info && /swiftshader/i.test([info.vendor, info.architecture, info.device, info.description].join(' '));
  });
}

const SCHEMA = {
  type: 'object',
  properties: { verdict: { type: 'string', enum: ['guilty', 'not guilty'] } },
  required: ['verdict'],
  additionalProperties: false,
};

/** A schema whose every answer is a few tokens ('true', 'false'), for a software WebGPU adapter. */
const SHORT_SCHEMA = { type: 'boolean' };

const PAGE_SCRIPT = `
import { createWorkerEngine } from '/bundle/tessera.js';

window.structured = async ({ backend, schema }) => {
  const notices = [];
  try {
    const engine = await createWorkerEngine({ modelUrl: '/models/builtin/', backend, actDtype: 'f32', onNotice: (m, code) => notices.push(code) });
    const r = await engine.chat.completions.create({
      messages: [{ role: 'user', content: 'The jury said' }],
      max_tokens: 40,
      temperature: 0,
      response_format: { type: 'json_schema', json_schema: { name: 'verdict', schema } },
    });
    engine.terminate();
    return { ok: true, backend: engine.backend, content: r.choices[0].message.content, finish: r.choices[0].finish_reason, notices };
  } catch (e) {
    return { ok: false, error: e.name + ': ' + e.message, notices };
  }
};`;

const PAGE = modulePage('tessera structured output', PAGE_SCRIPT);

describe.skipIf(skip !== null)(`structured output in the page${skip ? ` (${skip})` : ''}`, () => {
  let server: StaticServer;
  let browser: Browser;

  beforeAll(async () => {
    server = await serveBundlePage(PAGE);
    browser = await launchChromium({ protocolTimeout: 900_000 });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  for (const backend of ['cpu', 'webgpu'] as const) {
    it(`${backend}: a json_schema request returns JSON satisfying the schema`, { timeout: 900_000 }, async (ctx) => {
      const page = await browser.newPage();
      page.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warn') console.log(`[page] ${m.text()}`);
      });
      try {
        await page.goto(`${server.url}/`);
        await page.waitForFunction(() => 'structured' in window);
        if (backend === 'webgpu' && !(await page.evaluate(async () => !!(await navigator.gpu?.requestAdapter()))))
          return ctx.skip("Chromium's page has no WebGPU adapter here");
        const short = backend === 'webgpu' && !process.env.TESSERA_HEAVY && (await softwareAdapter(page));
        if (short) console.log('[page] webgpu: SwiftShader, so the boolean schema (TESSERA_HEAVY=1: the object one)');
        const t0 = performance.now();
        const out = (await page.evaluate(
          (args) => (window as unknown as { structured: (a: unknown) => Promise<unknown> }).structured(args),
          { backend, schema: short ? SHORT_SCHEMA : SCHEMA },
        )) as { ok: boolean; backend?: string; content?: string; finish?: string; error?: string; notices: string[] };
        console.log(`[page] ${backend}: ${JSON.stringify(out)} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
        if (!out.ok) throw new Error(`page failed: ${out.error}`);
        expect(out.backend).toBe(backend);
        expect(out.finish).toBe('stop');
        const value = JSON.parse(out.content!) as unknown;
        if (short) {
          expect(typeof value).toBe('boolean');
          return;
        }
        expect(Object.keys(value as object)).toEqual(['verdict']);
        expect(['guilty', 'not guilty']).toContain((value as { verdict: string }).verdict);
      } finally {
        await page.close();
      }
    });
  }
});
