/**
 * A recorded bucket that does not fit a memory budget: the step runs unrecorded instead of
 * failing, the buckets of that kind are given up (evicted, and not recorded again), and the
 * logits are the unrecorded step's. The budget is set between what two mixed buckets need and
 * what one unrecorded step needs, measured first on an unbudgeted backend; without the fallback
 * the second step throws OutOfMemoryError.
 */
import { describe, expect, it } from 'vitest';
import type { ForwardBatch } from '../../src/engine/model-runner.js';
import { WebGpuBackend } from '../../src/backends/webgpu/webgpu-backend.js';
import { openLlamaModel } from '../../src/models/llama/llama-family.js';
import { LlamaRunner } from '../../src/models/llama/llama-runner.js';
import { builtinModelPath } from '../../src/models/load-model.js';
import { gpuBackend, gpuSkipReason } from '../gpu-setup.js';

const gpu = await gpuBackend();

/** Two mixed steps of different row buckets (a 10-token and a 40-token prefill chunk beside a decode). */
const STEPS: ForwardBatch[] = [
  {
    seqs: [
      { tokens: [5, 6, 7, 8, 9, 10, 11, 12, 13, 14], start: 0, pages: [0] },
      { tokens: [20], start: 0, pages: [4] },
    ],
  },
  {
    seqs: [
      { tokens: Array.from({ length: 40 }, (_, i) => 30 + i), start: 0, pages: [8, 9, 10] },
      { tokens: [21], start: 1, pages: [4] },
    ],
  },
];

async function runner(backend: WebGpuBackend, mixedBuckets: number): Promise<LlamaRunner> {
  const m = await openLlamaModel(builtinModelPath());
  const r = await LlamaRunner.load(m, {
    backend,
    actDtype: 'f32',
    maxTokens: 128,
    maxSeqs: 4,
    numPages: 32,
    mixedBuckets,
  });
  await m.weights.close();
  return r;
}

describe.skipIf(!gpu)(`a mixed bucket over the memory budget${gpu ? '' : ` (skipped: ${gpuSkipReason()})`}`, () => {
  it('runs its step unrecorded with the same logits and records no more mixed buckets', async () => {
    // what the two recorded buckets hold, and the unrecorded logits
    const probe = await WebGpuBackend.create();
    const live: number[] = [];
    const reference: Float32Array[] = [];
    try {
      const recorded = await runner(probe, 8);
      for (const step of STEPS) {
        await recorded.forward(step);
        live.push(probe.memory().totalBytes);
      }
      expect(recorded.stats.mixedRecords).toBe(2);
      recorded.destroy();
      const plain = await runner(probe, 0);
      for (const step of STEPS) reference.push(Float32Array.from(await plain.forward(step)));
      plain.destroy();
    } finally {
      probe.destroy();
    }
    const backend = await WebGpuBackend.create();
    try {
      const r = await runner(backend, 8);
      // room for the first bucket, not for both
      backend.arena.setBudget(live[1]! - 1);
      console.log(`budget ${live[1]! - 1} B: first bucket leaves ${live[0]} B live, both ${live[1]} B`);
      const got: Float32Array[] = [];
      for (const step of STEPS) got.push(Float32Array.from(await r.forward(step)));
      expect(r.stats.mixedRecords, 'the first bucket fit').toBe(1);
      expect(r.stats.recordingsGivenUp, 'the second did not, once').toBe(1);
      expect(r.mixedBucketInfo(), 'mixed buckets given up').toEqual([]);
      got.forEach((g, i) => expect(Array.from(g), `step ${i}`).toEqual(Array.from(reference[i]!)));
      // a later mixed step runs unrecorded without trying again
      await r.forward(STEPS[0]!);
      expect([r.stats.mixedRecords, r.stats.recordingsGivenUp]).toEqual([1, 1]);
      r.destroy();
    } finally {
      backend.destroy();
    }
  });
});
