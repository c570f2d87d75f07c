/**
 * The rounding-tolerant oracle of greedy runs (bench/greedy-divergence.ts): on constructed logits it
 * accepts a parting at a near-tie and refuses one where a run's token is far from the top; on the
 * built-in model (WebGPU) the same decode rows run as one batch of 16 and as two nano-batches of 8
 * (other matmul kernels by M, so other roundings) differ by less than the tolerance's ε, the greedy
 * picks that differ between them pass it, and a wrong token slipped into one run fails it.
 */
import { describe, expect, it } from 'vitest';
import {
  checkDivergences,
  firstDivergence,
  gapsToMax,
  judgeDivergences,
  NOISE_SAFETY,
  nearTieTolerance,
  ROUNDING_FLOOR_UNITS,
} from '../../bench/greedy-divergence.js';
import { UNIT_ROUNDOFF } from '../../bench/verify.js';
import { openLlamaModel } from '../../src/models/llama/llama-family.js';
import { LlamaRunner } from '../../src/models/llama/llama-runner.js';
import { builtinModelPath } from '../../src/models/load-model.js';
import { gpuBackend, gpuSkipReason } from '../gpu-setup.js';

const gpu = await gpuBackend();

describe('greedy divergence oracle on constructed logits', () => {
  it('finds the first output where two runs differ', () => {
    expect(firstDivergence([1, 2, 3], [1, 2, 3])).toBe(-1);
    expect(firstDivergence([1, 2, 3], [1, 5, 3])).toBe(1);
    expect(firstDivergence([1, 2, 3], [1, 2])).toBe(2);
    expect(firstDivergence([], [])).toBe(-1);
  });

  it('states the tolerance as 2 × safety × the larger of the measured noise and the rounding floor', () => {
    const floor = ROUNDING_FLOOR_UNITS * UNIT_ROUNDOFF.f16 * 10;
    expect(nearTieTolerance(0, 10, UNIT_ROUNDOFF.f16)).toBeCloseTo(2 * NOISE_SAFETY * floor, 15);
    expect(nearTieTolerance(0.1, 10, UNIT_ROUNDOFF.f16)).toBeCloseTo(2 * NOISE_SAFETY * 0.1, 15);
  });

  it('accepts a near-tie and refuses a far token, a missing token and NaN logits', () => {
    const row = new Float32Array([0.5, 3.0, 2.995, -1.0, 2.0]);
    expect(gapsToMax(row, 1, 2)).toEqual({ top: 1, gapA: 0, gapB: expect.closeTo(0.005, 6) });
    const tol = 0.01;
    const partings = [
      { request: 0, at: 4, base: 1, other: 2 }, // the top two, 0.005 apart: rounding can swap them
      { request: 1, at: 2, base: 2, other: 1 }, // the same the other way round
      { request: 2, at: 0, base: 1, other: 3 }, // 4.0 below the top: no rounding does that
      { request: 3, at: 7, base: 1, other: -1 }, // a run that ended early
      { request: 4, at: 1, base: 4, other: 1 }, // the baseline's own pick far from the reference's top
    ];
    const rows = [row, row, row, row, row];
    const { bad, worst } = judgeDivergences(partings, rows, tol);
    expect(bad.map((v) => v.request)).toEqual([2, 3, 4]);
    expect(worst!.request).toBe(2); // the largest finite gap
    const nan = new Float32Array([Number.NaN, 1, 1]);
    expect(judgeDivergences([{ request: 0, at: 0, base: 1, other: 2 }], [nan], tol).bad).toHaveLength(1);
  });
});

/** Row r's argmax in logits of rows of `vocab`. */
function argmaxRow(x: Float32Array, r: number, vocab: number): number {
  let best = 0;
  for (let j = 1; j < vocab; j++) if (x[r * vocab + j]! > x[r * vocab + best]!) best = j;
  return best;
}

describe.skipIf(!gpu)(
  `greedy divergence oracle on the built-in model, WebGPU (fixed prompts, no RNG)${gpu ? '' : ` (skipped: ${gpuSkipReason()})`}`,
  () => {
    it('the rounding between 16 rows and 2 × 8 stays within the tolerance, its partings pass, a wrong token fails', async () => {
      const model = await openLlamaModel(builtinModelPath());
      const runner = await LlamaRunner.load(model, {
        backend: gpu!,
        actDtype: 'f16',
        maxTokens: 64,
        maxSeqs: 16,
        numPages: 64,
      });
      await model.weights.close();
      try {
        const V = runner.vocabSize;
        const B = 16;
        // prompts of lengths 5 to 20 on a fixed pattern, then one forced decode token each: on lavapipe
        // one request's top two logits after it are closer than the two batchings' rounding
        const prompts = Array.from({ length: B }, (_, i) =>
          Array.from({ length: 5 + i }, (_, k) => ((7 * i + 13 * k + 3) % 4000) + 3),
        );
        const pages = prompts.map((_, i) => [4 * i, 4 * i + 1, 4 * i + 2, 4 * i + 3]);
        for (const [i, p] of prompts.entries())
          await runner.forward({ seqs: [{ tokens: p, start: 0, pages: pages[i]! }] });
        const decode = (i: number) => ({ tokens: [100 + i], start: prompts[i]!.length, pages: pages[i]! });
        const whole = await runner.forward({ seqs: prompts.map((_, i) => decode(i)) }, { readLogits: true });
        const halves = new Float32Array(B * V);
        for (const h of [0, 1]) {
          const seqs = Array.from({ length: B / 2 }, (_, k) => decode((h * B) / 2 + k));
          halves.set(await runner.forward({ seqs }, { readLogits: true }), (h * B * V) / 2);
        }
        let diff = 0;
        let maxAbs = 0;
        for (let j = 0; j < B * V; j++) {
          diff = Math.max(diff, Math.abs(whole[j]! - halves[j]!));
          maxAbs = Math.max(maxAbs, Math.abs(whole[j]!));
        }
        const tol = nearTieTolerance(0, maxAbs, UNIT_ROUNDOFF.f16);
        const base = prompts.map((_, i) => [100 + i, argmaxRow(whole, i, V)]);
        const split = prompts.map((_, i) => [100 + i, argmaxRow(halves, i, V)]);
        const o = { pageSize: runner.pageSize, unitRoundoff: UNIT_ROUNDOFF.f16, cap: B };
        const r = await checkDivergences(runner, prompts, base, split, o);
        console.log(
          `16 rows vs 2 × 8: logits differ by up to ${diff.toExponential(3)} (largest |logit| ${maxAbs.toFixed(2)}, ` +
            `the rounding floor's tolerance ${tol.toFixed(4)}); ${r.diverged} greedy picks differ; the oracle's tolerance ` +
            `${r.tol.toFixed(4)}, reference noise ${r.noise.toExponential(2)}`,
        );
        // the premise of the tolerance: a batching's rounding moves each logit by less than ε = tol / 2
        expect(diff).toBeLessThanOrEqual(tol / 2);
        expect(r.bad).toEqual([]);
        // a bug's token: request 5 draws one from the middle of the reference's order instead
        const prefix = [...prompts[5]!, 100 + 5];
        const ref = await runner.forward({ seqs: [{ tokens: prefix, start: 0, pages: [0, 1] }] }, { readLogits: true });
        const order = [...ref.keys()].sort((a, b) => ref[b]! - ref[a]!);
        const wrong = split.map((ids) => [...ids]);
        wrong[5]![1] = order[Math.floor(order.length / 2)]!;
        const w = await checkDivergences(runner, prompts, base, wrong, o);
        expect(w.bad.map((v) => [v.request, v.at])).toEqual([[5, 1]]);
      } finally {
        runner.destroy();
      }
    }, 300_000);
  },
);

describe.skipIf(gpu)(`greedy divergence oracle on WebGPU (skipped: ${gpuSkipReason()})`, () => {
  it('needs a WebGPU adapter', () => {});
});
