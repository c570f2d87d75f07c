/**
 * Loading from user-picked files in Chromium: the built-in model's files are chosen in an
 * `<input type="file" multiple>` (puppeteer sets them, as a user's picker would), the page hands the
 * `File`s to a module worker, and `loadModel(blobFolder(files))` followed by `model.generate()` must
 * give the text Node's `generate()` gives for the same prompt (greedy, CPU backend, f32). The server
 * does not serve the model at all, so the weights can only have come through the File API.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CpuBackend } from '../../src/backends/cpu/cpu-backend.js';
import { loadModel } from '../../src/models/load-model.js';
import { BUNDLE_DIR, buildTestBundle, launchChromium, pageRoutes } from './bundle-page.js';
import { chromiumSkipReason } from './chromium.js';
import { startStaticServer, type StaticServer } from './static-server.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const builtin = join(root, 'models/builtin');
/** What a user would pick: the folder's model files (config, tokenizer, weights). */
const PICKED = readdirSync(builtin)
  .filter((f) => /\.(json|safetensors)$/.test(f) && f !== 'reference.json')
  .map((f) => join(builtin, f));
const PROMPT = 'The jury said';
const STEPS = 12;

const skip = chromiumSkipReason();
if (skip) console.warn(`[tessera] file-picker page test skipped: ${skip}`);

/** Runs in the page's worker (its source is sent there): load the picked files, generate greedily. */
async function generateFromFiles(
  t: typeof import('../../src/browser.js'),
  args: { files: File[]; prompt: string; steps: number },
): Promise<{ text: string; names: string[] }> {
  const backend = await t.openBackend({ prefer: 'cpu' });
  const model = await t.loadModel(t.blobFolder(args.files), { backend, actDtype: 'f32' });
  let text = '';
  for await (const delta of model.generate(args.prompt, { maxTokens: args.steps, temperature: 0, ignoreEos: true }))
    text += delta;
  await model.close();
  return { text, names: args.files.map((f) => f.name).sort() };
}

const WORKER = `import * as tessera from '/bundle/tessera.js';
const run = ${generateFromFiles.toString()};
self.onmessage = async (e) => {
  try { self.postMessage({ ok: true, result: await run(tessera, e.data) }); }
  catch (err) { self.postMessage({ ok: false, error: String(err && err.stack ? err.stack : err) }); }
};`;

const PAGE = `<!doctype html><meta charset="utf-8"><title>tessera file picker</title>
<input type="file" id="pick" multiple>
<script>
  window.generateFromPicked = (prompt, steps) => new Promise((resolve) => {
    const files = Array.from(document.getElementById('pick').files);
    const w = new Worker('/worker.js', { type: 'module' });
    w.onmessage = (e) => { w.terminate(); resolve(e.data); };
    w.onerror = (e) => { w.terminate(); resolve({ ok: false, error: 'worker error: ' + e.message }); };
    w.postMessage({ files, prompt, steps });
  });
</script>`;

describe.skipIf(skip !== null)(`loading user-picked files in Chromium${skip ? ` (${skip})` : ''}`, () => {
  let server: StaticServer;
  let browser: Browser;

  beforeAll(async () => {
    await buildTestBundle();
    // the bundle only: no /models/ mount, so the model cannot arrive by URL
    server = await startStaticServer(
      { '/bundle/': BUNDLE_DIR },
      pageRoutes(PAGE, { '/worker.js': { type: 'text/javascript', body: WORKER } }),
    );
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('loadModel(blobFolder(input.files)) and generate() give Node’s greedy text', { timeout: 300_000 }, async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    try {
      await page.goto(`${server.url}/`);
      const input = await page.$('input#pick');
      await input!.uploadFile(...PICKED);
      expect(await page.$eval('#pick', (e) => (e as HTMLInputElement).files?.length)).toBe(PICKED.length);
      const out = (await page.evaluate(
        (p, n) =>
          (window as unknown as { generateFromPicked: (p: string, n: number) => Promise<unknown> }).generateFromPicked(
            p,
            n,
          ),
        PROMPT,
        STEPS,
      )) as { ok: true; result: { text: string; names: string[] } } | { ok: false; error: string };
      if (!out.ok) throw new Error(`page failed: ${out.error}`);
      const model = await loadModel(builtin, { backend: new CpuBackend(), actDtype: 'f32' });
      let node = '';
      for await (const d of model.generate(PROMPT, { maxTokens: STEPS, temperature: 0, ignoreEos: true })) node += d;
      await model.close();
      console.log(`[page] picked ${out.result.names.join(', ')}: ${JSON.stringify(out.result.text)}`);
      expect(out.result.names.length).toBe(PICKED.length);
      expect(node.length).toBeGreaterThan(0);
      expect(out.result.text).toBe(node);
      expect([...server.requests.keys()].some((p) => p.startsWith('/models/'))).toBe(false);
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  });
});
