/**
 * The worker-hosted engine and its OpenAI-style client in Chromium: the page (main thread) imports
 * the bundle and calls `createWorkerEngine` and `chat.completions.create`; the bundle starts the
 * worker itself. A fixed chat prompt decoded greedily (temperature 0, ignore_eos, 16 tokens) on the
 * CPU backend must give the text Node's engine gives for the same template-rendered prompt, and the
 * streamed chunks must add up to the non-streamed reply. A page without COOP/COEP must get the
 * typed error naming those headers.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import puppeteer, { type Browser } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CpuBackend } from '../../src/backends/cpu/cpu-backend.js';
import { loadModel } from '../../src/models/load-model.js';
import { BUNDLE_MOUNTS, buildTestBundle, launchChromium, modulePage, pageRoutes } from './bundle-page.js';
import { CHROMIUM, chromiumSkipReason } from './chromium.js';
import { startStaticServer, type StaticServer } from './static-server.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const builtin = join(root, 'models/builtin');
const MESSAGES = [{ role: 'user' as const, content: 'The jury said' }];
const STEPS = 16;

const skip = chromiumSkipReason();
if (skip) console.warn(`[tessera] worker-engine page tests skipped: ${skip}`);

interface PageResult {
  ok: boolean;
  backend?: string;
  notices?: string[];
  json?: {
    choices: { message: { content: string }; finish_reason: string }[];
    usage: Record<string, number>;
    object: string;
  };
  chunks?: {
    object: string;
    choices: { delta: { content?: string }; finish_reason: string | null }[];
    usage?: Record<string, number>;
  }[];
  error?: { name: string; message: string };
}

/** Runs on the page's main thread: the API under test, through the bundle only. */
const PAGE_SCRIPT = `
import { createWorkerEngine } from '/bundle/tessera.js';
window.runApi = async ({ messages, steps, backend }) => {
  const notices = [];
  try {
    const engine = await createWorkerEngine({ modelUrl: '/models/builtin/', backend, actDtype: 'f32', onNotice: (m, code) => notices.push(code + ': ' + m) });
    const body = { messages, max_tokens: steps, temperature: 0, ignore_eos: true };
    const json = await engine.chat.completions.create(body);
    const chunks = [];
    for await (const c of await engine.chat.completions.create({ ...body, stream: true, stream_options: { include_usage: true } })) chunks.push(c);
    engine.terminate();
    return { ok: true, backend: engine.backend, notices, json, chunks };
  } catch (e) {
    return { ok: false, notices, error: { name: e.name, message: e.message } };
  }
};`;

const PAGE = modulePage('tessera worker engine', PAGE_SCRIPT);

/** Node's greedy text for the same messages: the template rendered by the tokenizer, the engine driven directly. */
async function nodeReply(): Promise<{ text: string; promptTokens: number; tokens: number }> {
  const model = await loadModel(builtin, { backend: new CpuBackend(), actDtype: 'f32' });
  const prompt = model.tokenizer.encode(model.tokenizer.applyChatTemplate(MESSAGES, { addGenerationPrompt: true }), {
    addSpecialTokens: false,
  });
  const req = await model.engine.submit(prompt, { temperature: 0, maxTokens: STEPS, ignoreEos: true });
  let text = '';
  let tokens = 0;
  for await (const ev of req) {
    if (ev.type !== 'delta') continue;
    text += ev.text;
    tokens += ev.tokens.length;
  }
  await model.close();
  return { text, promptTokens: prompt.length, tokens };
}

describe.skipIf(skip !== null)(`worker-hosted engine in Chromium${skip ? ` (${skip})` : ''}`, () => {
  let isolated: StaticServer;
  let plain: StaticServer;
  let browser: Browser;
  /** Chromium without the WebGPU flags: `navigator.gpu` is absent, as in a browser without WebGPU. */
  let noGpuBrowser: Browser;

  beforeAll(async () => {
    await buildTestBundle();
    const pages = pageRoutes(PAGE);
    isolated = await startStaticServer(BUNDLE_MOUNTS, pages);
    plain = await startStaticServer(BUNDLE_MOUNTS, pages, { crossOriginIsolated: false });
    browser = await launchChromium();
    noGpuBrowser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await noGpuBrowser?.close();
    await isolated?.close();
    await plain?.close();
  });

  async function runPage(server: StaticServer, backend: string, on = browser): Promise<PageResult> {
    const page = await on.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warn') console.log(`[page] ${m.text()}`);
    });
    try {
      await page.goto(`${server.url}/`);
      await page.waitForFunction(() => 'runApi' in window);
      const out = (await page.evaluate(
        (args) => (window as unknown as { runApi: (a: unknown) => Promise<unknown> }).runApi(args),
        { messages: MESSAGES, steps: STEPS, backend },
      )) as PageResult;
      expect(errors).toEqual([]);
      return out;
    } finally {
      await page.close();
    }
  }

  it('CPU backend: greedy reply equals Node, streaming equals non-streaming', { timeout: 600_000 }, async () => {
    const out = await runPage(isolated, 'cpu');
    if (!out.ok) throw new Error(`page failed: ${out.error?.name}: ${out.error?.message}`);
    const node = await nodeReply();
    console.log(`[page] backend ${out.backend}; reply ${JSON.stringify(out.json!.choices[0]!.message.content)}`);
    expect(out.backend).toBe('cpu');
    expect(out.json!.object).toBe('chat.completion');
    expect(out.json!.choices[0]!.message.content).toBe(node.text);
    expect(out.json!.choices[0]!.finish_reason).toBe('length');
    expect(out.json!.usage).toMatchObject({ prompt_tokens: node.promptTokens, completion_tokens: STEPS });
    expect(node.tokens).toBe(STEPS);
    const chunks = out.chunks!;
    expect(chunks.every((c) => c.object === 'chat.completion.chunk')).toBe(true);
    const streamed = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    expect(streamed).toBe(out.json!.choices[0]!.message.content);
    expect(chunks.map((c) => c.choices[0]?.finish_reason).filter(Boolean)).toEqual(['length']);
    expect(chunks.at(-1)!.usage).toEqual(out.json!.usage);
  });

  it('a page without COOP/COEP gets CrossOriginIsolationError naming the headers', { timeout: 300_000 }, async () => {
    const out = await runPage(plain, 'cpu');
    expect(out.ok).toBe(false);
    expect(out.error!.name).toBe('CrossOriginIsolationError');
    expect(out.error!.message).toContain('Cross-Origin-Opener-Policy: same-origin');
    expect(out.error!.message).toContain('Cross-Origin-Embedder-Policy: require-corp');
  });

  it("a software WebGPU adapter: backend auto takes the CPU backend's faster kernels, saying why", {
    timeout: 600_000,
  }, async (ctx) => {
    const page = await browser.newPage();
    const software = await page
      .goto(`${isolated.url}/`)
      .then(() => page.evaluate(async () => (await navigator.gpu?.requestAdapter())?.info.isFallbackAdapter ?? null))
      .finally(() => page.close());
    if (software !== true)
      return ctx.skip(`the page's WebGPU adapter is ${software === null ? 'absent' : 'a GPU'} here`);
    const out = await runPage(isolated, 'auto');
    if (!out.ok) throw new Error(`page failed: ${out.error?.name}: ${out.error?.message}`);
    console.log(`[page] notices: ${JSON.stringify(out.notices)}`);
    expect(out.backend).toBe('cpu');
    expect(
      out.notices!.some((n) => n.startsWith('no-webgpu: the WebGPU adapter') && n.includes('software renderer')),
    ).toBe(true);
    expect(out.json!.usage.completion_tokens).toBe(STEPS);
  });

  it('no WebGPU: backend auto falls back to the CPU with a notice saying why', { timeout: 600_000 }, async () => {
    const out = await runPage(isolated, 'auto', noGpuBrowser);
    if (!out.ok) throw new Error(`page failed: ${out.error?.name}: ${out.error?.message}`);
    console.log(`[page] notices: ${JSON.stringify(out.notices)}`);
    expect(out.backend).toBe('cpu');
    // the notice is typed: its code names the fallback
    expect(out.notices!.some((n) => n.startsWith('no-webgpu: WebGPU unavailable') && n.includes('CPU backend'))).toBe(
      true,
    );
    // the browser's reason, not a Node host's (no driver to install in a page)
    expect(out.notices!.some((n) => n.includes('the browser offers no GPU adapter'))).toBe(true);
    expect(out.notices!.some((n) => /Vulkan|Debian/.test(n))).toBe(false);
    expect(out.json!.usage.completion_tokens).toBe(STEPS);
  });
});
