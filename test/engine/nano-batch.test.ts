/**
 * Nano-batching (src/engine/nano-batch.ts): the split keeps every chunk whole and in order, and an
 * engine whose host-driven steps run as nano-batches draws the plain engine's greedy tokens on the
 * built-in model, at several batch sizes with mixed prompt lengths and prefill chunks interleaved
 * with decodes, up to rounding: where a request's runs part, both picks are near-ties in a reference
 * forward of the shared prefix, since the matmul kernel (so the summation order) is chosen by row count.
 */
import { describe, expect, it } from 'vitest';
import type { Backend } from '../../src/backends/backend.js';
import { CpuBackend } from '../../src/backends/cpu/cpu-backend.js';
import { checkDivergences } from '../../bench/greedy-divergence.js';
import { UNIT_ROUNDOFF } from '../../bench/verify.js';
import { Engine } from '../../src/engine/engine.js';
import { resolveNanoBatches, splitNanoBatches } from '../../src/engine/nano-batch.js';
import { engineTokenizer } from '../../src/models/engine-tokenizer.js';
import { openLlamaModel } from '../../src/models/llama/llama-family.js';
import { LlamaRunner } from '../../src/models/llama/llama-runner.js';
import { builtinModelPath } from '../../src/models/load-model.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { Rng } from '../../src/util/rng.js';
import { gpuBackend, gpuSkipReason } from '../gpu-setup.js';

const seed = testSeed();
const gpu = await gpuBackend();

describe('splitNanoBatches', () => {
  const chunks = (counts: number[]) => counts.map((count, i) => ({ id: i, count }));
  it('keeps order and every chunk whole, in at most n parts of about equal tokens', () => {
    const rng = new Rng(seed);
    for (let trial = 0; trial < 200; trial++) {
      const cs = chunks(Array.from({ length: rng.int(1, 12) }, () => (rng.next() < 0.7 ? 1 : rng.int(2, 40))));
      const n = rng.int(1, 5);
      const parts = splitNanoBatches(cs, n);
      expect(parts.flat()).toEqual(cs);
      expect(parts.length).toBe(Math.min(n, cs.length));
      expect(parts.every((p) => p.length > 0)).toBe(true);
    }
  });
  it('balances decode tokens evenly', () => {
    expect(splitNanoBatches(chunks(Array(8).fill(1)), 2).map((p) => p.length)).toEqual([4, 4]);
    expect(splitNanoBatches(chunks(Array(9).fill(1)), 3).map((p) => p.length)).toEqual([3, 3, 3]);
    // a long prefill chunk takes a part of its own
    expect(splitNanoBatches(chunks([30, 1, 1, 1]), 2).map((p) => p.length)).toEqual([1, 3]);
  });
  it('reads the option', () => {
    expect(resolveNanoBatches(undefined)).toBe(1);
    expect(resolveNanoBatches('off')).toBe(1);
    expect(resolveNanoBatches('auto')).toBe('auto');
    expect(resolveNanoBatches(3)).toBe(3);
    expect(() => resolveNanoBatches(0)).toThrow(/positive integer/);
    expect(() => resolveNanoBatches(1.5)).toThrow(/positive integer/);
  });
});

/** Greedy tokens of each prompt, and how many forwards the runner ran. */
async function serve(
  runner: LlamaRunner,
  tokenizer: ReturnType<typeof engineTokenizer>,
  prompts: number[][],
  nanoBatches: number | 'off',
): Promise<{ tokens: number[][]; forwards: number }> {
  const before = runner.stats.steps;
  // small budgets so prompts arrive in chunks beside running decodes
  const engine = new Engine(runner, tokenizer, {
    seed: 1,
    maxBatchTokens: 24,
    prefillChunkTokens: 6,
    maxRunningSeqs: 8,
    prefixCaching: false,
    nanoBatches,
  });
  const reqs = await Promise.all(
    prompts.map((p) => engine.submit(p, { temperature: 0, maxTokens: 6, ignoreEos: true })),
  );
  const results = await Promise.all(reqs.map((r) => r.result));
  expect(engine.failed).toBeNull();
  await engine.shutdown();
  return { tokens: results.map((r) => r.choices[0]!.tokens.map((t) => t.id)), forwards: runner.stats.steps - before };
}

function prompts(rng: Rng, count: number, vocab: number): number[][] {
  return Array.from({ length: count }, () => Array.from({ length: rng.int(1, 20) }, () => rng.int(3, vocab - 1)));
}

/** Batch sizes, each with the nano-batch counts it is served with. */
async function checkSameTokens(backend: Backend, cases: [batch: number, nano: number[]][]): Promise<void> {
  const model = await openLlamaModel(builtinModelPath());
  const runner = await LlamaRunner.load(model, { backend, maxTokens: 32, maxSeqs: 8, numPages: 64 });
  const tokenizer = engineTokenizer(model.tokenizer!);
  await model.weights.close();
  try {
    const rng = new Rng(seed);
    for (const [b, counts] of cases) {
      const ps = prompts(rng, b, runner.vocabSize);
      const plain = await serve(runner, tokenizer, ps, 'off');
      for (const n of counts) {
        const nano = await serve(runner, tokenizer, ps, n);
        // a nano-batch runs its rows' matmuls at another row count, and both backends pick the kernel by
        // it (so another summation order): greedy picks may part at near-ties of the logits, and only
        // there (bench/greedy-divergence.ts)
        const o = { pageSize: runner.pageSize, unitRoundoff: UNIT_ROUNDOFF[backend.caps.f16 ? 'f16' : 'f32'], cap: b };
        const r = await checkDivergences(runner, ps, plain.tokens, nano.tokens, o);
        console.log(
          `batch ${b}, ${n} nano-batches: ${r.diverged} of ${b} requests part (tolerance ${r.tol.toExponential(2)})`,
        );
        expect(r.bad, `batch ${b}, ${n} nano-batches: partings that are not near-ties`).toEqual([]);
        // the split really ran: more forwards than the plain engine's steps
        expect(nano.forwards, `batch ${b}, ${n} nano-batches ran as separate forwards`).toBeGreaterThan(plain.forwards);
      }
    }
  } finally {
    runner.destroy();
  }
}

describe.skipIf(!gpu)(
  `nano-batched engine on WebGPU, built-in model (${seedNote(seed)})${gpu ? '' : ` (skipped: ${gpuSkipReason()})`}`,
  () => {
    it('draws the plain engine greedy tokens at batch 2, 5 and 8 in 2 to 4 nano-batches', async () => {
      await checkSameTokens(gpu!, [
        [2, [2]],
        [5, [3]],
        [8, [2, 4]],
      ]);
    }, 300_000);
  },
);

describe.skipIf(gpu)(`nano-batched engine on WebGPU (skipped: ${gpuSkipReason()})`, () => {
  it('needs a WebGPU adapter', () => {});
});

describe(`nano-batched engine on the CPU backend, built-in model (${seedNote(seed)})`, () => {
  it('draws the plain engine greedy tokens at batch 3 in 2 nano-batches', async () => {
    await checkSameTokens(new CpuBackend(), [[3, [2]]]);
  }, 300_000);
});
