/**
 * The GGUF writer checked by llama.cpp itself: the built-in model written as F16 and BF16 GGUF,
 * run greedy by llama.cpp's CPU binary through node-llama-cpp, continues the reference prompts
 * exactly as PyTorch did (models/builtin/reference.json: bf16 weights, f32 arithmetic). A wrong
 * Q/K permutation, RoPE base or norm epsilon would change the continuations.
 *
 * node-llama-cpp is a benchmark peer, not a dependency: the test runs when LLAMA_CPP_MODULE names
 * its package folder (scripts/pack-llama-cpp.sh installs one under .peers/build) and skips visibly
 * otherwise.
 */
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeLlamaGguf } from '../../src/models/llama/gguf-from-hf.js';
import { openLlamaModel } from '../../src/models/llama/llama-family.js';
import { tempFolder } from '../io/helpers.js';

const moduleDir = process.env.LLAMA_CPP_MODULE;
const reason = moduleDir ? '' : ' (skipped: set LLAMA_CPP_MODULE to a node-llama-cpp package folder)';

interface Reference {
  prompt: string;
  ids: number[];
  greedy: number[];
}
const references = (JSON.parse(readFileSync('models/builtin/reference.json', 'utf8')) as { references: Reference[] })
  .references;

describe.skipIf(!moduleDir)(`llama.cpp (CPU) on GGUF files of the built-in model${reason}`, () => {
  let dir = '';
  beforeAll(async () => {
    dir = await tempFolder();
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  for (const type of ['F16', 'BF16'] as const) {
    it(`${type}: greedy continuations equal PyTorch's`, { timeout: 600_000 }, async () => {
      const m = await openLlamaModel('models/builtin');
      const file = join(dir, `builtin-${type}.gguf`);
      await writeLlamaGguf(m.weights, m.config, file, { type });
      await m.weights.close();
      const lib = await import(pathToFileURL(join(moduleDir!, 'dist', 'index.js')).href);
      // any prebuilt binary: the CPU one, or a GPU one with no layers offloaded (ggml's CPU backend)
      const llama = await lib.getLlama({ gpu: 'auto', build: 'never', logLevel: 'error', maxThreads: 2 });
      const model = await llama.loadModel({ modelPath: file, gpuLayers: 0 });
      try {
        for (const r of references) {
          const context = await model.createContext({ contextSize: 64, threads: 2 });
          const stream = context.getSequence().evaluate(r.ids, { temperature: 0, yieldEogToken: true });
          const got: number[] = [];
          for (let i = 0; i < r.greedy.length; i++) got.push((await stream.next()).value as number);
          await stream.return();
          await context.dispose();
          expect(got, r.prompt).toEqual(r.greedy);
        }
      } finally {
        await model.dispose();
        await llama.dispose();
      }
    });
  }
});
