/**
 * Warm-up before serving (src/models/llama/warm-up.ts): one step through each prefill and mixed row
 * bucket, after which steps of new token counts in those buckets compile no pipeline and replay a
 * recorded stream; the warm-up's K/V writes do not change what a later request computes (its
 * logits equal an unwarmed runner's, bit for bit), including a mixed step of more sequences than
 * the warm-up's two (no recording while serving); and on a software adapter it runs only when
 * asked. Without warm-up the same steps compile pipelines (checked too, so the test can fail).
 */
import { describe, expect, it } from 'vitest';
import { WebGpuBackend } from '../../src/backends/webgpu/webgpu-backend.js';
import type { ForwardBatch } from '../../src/engine/model-runner.js';
import { openLlamaModel } from '../../src/models/llama/llama-family.js';
import { LlamaRunner } from '../../src/models/llama/llama-runner.js';
import { builtinModelPath } from '../../src/models/load-model.js';
import { gpuBackend, gpuSkipReason } from '../gpu-setup.js';

const gpu = await gpuBackend();

async function runner(backend: WebGpuBackend, prefillBuckets?: number): Promise<LlamaRunner> {
  const m = await openLlamaModel(builtinModelPath());
  const r = await LlamaRunner.load(m, {
    backend,
    actDtype: 'f32',
    maxTokens: 64,
    maxSeqs: 4,
    numPages: 32,
    ...(prefillBuckets === undefined ? {} : { prefillBuckets }),
  });
  await m.weights.close();
  return r;
}

const ids = (n: number, from: number) => Array.from({ length: n }, (_, i) => from + ((i * 37) % 500));
/** A prefill of 20 tokens (bucket 32), an 11-token chunk beside a decode (12 rows: bucket 16), a decode of both. */
const STEPS: ForwardBatch[] = [
  { seqs: [{ tokens: ids(20, 3), start: 0, pages: [0, 1] }] },
  {
    seqs: [
      { tokens: ids(11, 7), start: 0, pages: [4] },
      { tokens: [42], start: 20, pages: [0, 1] },
    ],
  },
  // both sequences decode: a batch of 2
  {
    seqs: [
      { tokens: [5], start: 21, pages: [0, 1] },
      { tokens: [6], start: 11, pages: [4] },
    ],
  },
  // both decode beside a third prompt's 9-token chunk: 11 rows (bucket 16) over 3 sequences, a mix the warm-up never ran
  {
    seqs: [
      { tokens: [7], start: 22, pages: [0, 1] },
      { tokens: [8], start: 12, pages: [4] },
      { tokens: ids(9, 11), start: 0, pages: [8] },
    ],
  },
];

describe.skipIf(!gpu)(`warm-up${gpu ? '' : ` (skipped: ${gpuSkipReason()})`}`, () => {
  it('compiles and records every bucket first, and changes no later logits', async () => {
    // each runner on a fresh backend: pipeline caches are per backend
    const coldGpu = await WebGpuBackend.create();
    const warmGpu = await WebGpuBackend.create();
    try {
      const cold = await runner(coldGpu);
      const compiledBefore = coldGpu.pipelines.compiled;
      const coldLogits: Float32Array[] = [];
      for (const s of STEPS) coldLogits.push(Float32Array.from(await cold.forward(s)));
      const coldCompiles = coldGpu.pipelines.compiled - compiledBefore;
      expect(coldCompiles, 'without warm-up these steps compile').toBeGreaterThan(0);
      cold.destroy();

      const warm = await runner(warmGpu);
      if (warmGpu.caps.software) expect((await warm.warmUp()).steps, 'auto skips a software adapter').toBe(0);
      const report = await warm.warmUp({ softwareToo: true });
      console.log(`warm-up: ${report.steps} steps in ${report.ms.toFixed(0)} ms; cold steps compiled ${coldCompiles}`);
      // prefill buckets 16, 32, 64; mixed buckets 8, 16, 32, 64; decode at the batch buckets 1, 2, 4
      expect(warm.decodeBatchBuckets).toEqual([1, 2, 4]);
      expect(report.steps).toBe(10);
      // the recordings' device memory, as the arena counts it
      expect(report.recordedBytes).toBeGreaterThan(0);
      // each shape also timed once after its recording: the costs the engine's prefill budget starts from (3 is bucket 4's)
      expect([...warm.stepCosts!.decode.keys()]).toEqual([1, 2, 3, 4]);
      expect([...warm.stepCosts!.mixed.keys()].sort((a, b) => a - b)).toEqual([8, 16, 32, 64]);
      for (const ms of [...warm.stepCosts!.decode.values(), ...warm.stepCosts!.mixed.values()])
        expect(ms).toBeGreaterThan(0);
      const compiled = warmGpu.pipelines.compiled;
      const replays = [warm.stats.prefillReplays, warm.stats.mixedReplays, warm.stats.replays];
      const records = [warm.stats.prefillRecords, warm.stats.mixedRecords, warm.stats.decodeRecords];
      const transient = warm.stats.transientSteps;
      for (const [i, s] of STEPS.entries())
        expect(Array.from(await warm.forward(s)), `step ${i}`).toEqual(Array.from(coldLogits[i]!));
      expect(warmGpu.pipelines.compiled - compiled, 'no compile after warm-up').toBe(0);
      expect([
        warm.stats.prefillReplays - replays[0]!,
        warm.stats.mixedReplays - replays[1]!,
        warm.stats.replays - replays[2]!,
      ]).toEqual([1, 2, 1]);
      const recordedWhileServing = [
        warm.stats.prefillRecords - records[0]!,
        warm.stats.mixedRecords - records[1]!,
        warm.stats.decodeRecords - records[2]!,
        warm.stats.transientSteps - transient,
      ];
      expect(recordedWhileServing, 'no step recorded or run unrecorded after warm-up').toEqual([0, 0, 0, 0]);
      warm.destroy();
    } finally {
      coldGpu.destroy();
      warmGpu.destroy();
    }
  });

  it('replays a lone prompt whose prefill bucket was evicted through its mixed bucket, recording nothing', async () => {
    const coldGpu = await WebGpuBackend.create();
    const warmGpu = await WebGpuBackend.create();
    try {
      const cold = await runner(coldGpu);
      const want = Float32Array.from(await cold.forward(STEPS[0]!));
      cold.destroy();
      // one prefill bucket kept: the warm-up walks 16, 32, 64 upwards, so only 64 stays
      const warm = await runner(warmGpu, 1);
      await warm.warmUp({ softwareToo: true });
      expect(warm.prefillBucketInfo().map((b) => b.rows)).toEqual([64]);
      const before = { ...warm.stats };
      // 20 tokens alone: prefill bucket 32 is gone; mixed bucket 32 was recorded at warm-up
      const got = await warm.forward(STEPS[0]!);
      expect(warm.stats.mixedReplays - before.mixedReplays, 'a mixed replay').toBe(1);
      expect(
        [warm.stats.prefillRecords - before.prefillRecords, warm.stats.mixedRecords - before.mixedRecords],
        'nothing recorded on the spot',
      ).toEqual([0, 0]);
      // the same logits as the prefill bucket's, up to the lm_head's summation order over more rows
      expect(got.length).toBe(want.length);
      const scale = Math.max(...Array.from(want, Math.abs));
      const err = Math.max(...Array.from(got, (v, i) => Math.abs(v - want[i]!)));
      console.log(`lone prompt through its mixed bucket: max |Δ| ${(err / scale).toExponential(2)} of max|logit|`);
      expect(err / scale).toBeLessThan(1e-4);
      warm.destroy();
    } finally {
      coldGpu.destroy();
      warmGpu.destroy();
    }
  });
});
