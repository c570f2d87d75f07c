/**
 * GPU-resident decode on the built-in model (WebGPU): steps submitted back to back, each feeding
 * the ids the previous one drew on the device, produce the same tokens as the host-driven loop
 * (forward, then sampling, then the ids written back), greedy and seeded; and once warm the loop
 * creates no GPU buffer at all.
 */
import { describe, expect, it } from 'vitest';
import { openLlamaModel } from '../../src/models/llama/llama-family.js';
import { LlamaRunner } from '../../src/models/llama/llama-runner.js';
import { builtinModelPath } from '../../src/models/load-model.js';
import type { DeviceSampleRow } from '../../src/engine/model-runner.js';
import { gpuBackend, gpuSkipReason } from '../gpu-setup.js';

const gpu = await gpuBackend();
const PROMPTS = [
  [5, 6, 7, 8, 9],
  [40, 41],
  [300, 301, 302],
];
const STEPS = 8;
const SEED = 1234;
const row = (i: number, step: number, temperature: number): DeviceSampleRow => ({
  row: i,
  temperature,
  topK: 0,
  topP: 1,
  minP: 0,
  seed: SEED + i,
  stream: 0,
  step,
});

describe.skipIf(!gpu)(`GPU-resident decode${gpu ? '' : ` (skipped: ${gpuSkipReason()})`}`, () => {
  for (const temperature of [0, 0.8]) {
    it(`draws the host loop's tokens with ${STEPS} steps in flight (temperature ${temperature}, seed ${SEED})`, async () => {
      const m = await openLlamaModel(builtinModelPath());
      const runner = await LlamaRunner.load(m, { backend: gpu!, maxTokens: 32, maxSeqs: 4, numPages: 24 });
      await m.weights.close();
      try {
        const run = async (resident: boolean, pageBase: number): Promise<number[][]> => {
          const seqs = PROMPTS.map((p, s) => ({ prompt: p, pages: [pageBase + s * 4, pageBase + s * 4 + 1] }));
          const first: number[] = [];
          for (const [i, s] of seqs.entries()) {
            await runner.forward({ seqs: [{ tokens: s.prompt, start: 0, pages: s.pages }] }, { readLogits: false });
            first.push((await runner.sampleOnDevice([{ ...row(i, 0, temperature), row: 0 }]))[0]!);
          }
          const out = seqs.map((_, i) => [first[i]!]);
          if (resident) {
            const pending: Promise<Int32Array>[] = [];
            for (let k = 0; k < STEPS; k++) {
              const dseqs = seqs.map((s) => ({ start: s.prompt.length + k, pages: s.pages }));
              pending.push(
                runner.submitDecode!(
                  dseqs,
                  k === 0 ? Int32Array.from(first) : null,
                  seqs.map((_, i) => row(i, k + 1, temperature)),
                ),
              );
            }
            for (const ids of await Promise.all(pending)) ids.forEach((t, i) => out[i]!.push(t));
          } else {
            for (let k = 0; k < STEPS; k++) {
              await runner.forward(
                {
                  seqs: seqs.map((s, i) => ({ tokens: [out[i]!.at(-1)!], start: s.prompt.length + k, pages: s.pages })),
                },
                { readLogits: false },
              );
              const ids = await runner.sampleOnDevice(seqs.map((_, i) => row(i, k + 1, temperature)));
              ids.forEach((t, i) => out[i]!.push(t));
            }
          }
          return out;
        };
        const host = await run(false, 0);
        const resident = await run(true, 12);
        console.log(`host ${JSON.stringify(host)}\nresident ${JSON.stringify(resident)}`);
        expect(resident).toEqual(host);
        expect(runner.stats.residentSteps).toBe(STEPS);
      } finally {
        runner.destroy();
      }
    });
  }

  it('creates no GPU buffer in a warm resident decode loop', async () => {
    const m = await openLlamaModel(builtinModelPath());
    const runner = await LlamaRunner.load(m, { backend: gpu!, maxTokens: 32, maxSeqs: 4, numPages: 8 });
    await m.weights.close();
    try {
      const seqs = [{ pages: [0, 1, 2] }, { pages: [3, 4, 5] }];
      for (const s of seqs)
        await runner.forward({ seqs: [{ tokens: [5, 6, 7], start: 0, pages: s.pages }] }, { readLogits: false });
      const step = (k: number, tokens: Int32Array | null) =>
        runner.submitDecode!(
          seqs.map((s) => ({ start: 3 + k, pages: s.pages })),
          tokens,
          seqs.map((_, i) => row(i, k, 0)),
        );
      // warm: records the stream, the sampler and the staging ring
      const warm = [step(0, Int32Array.from([1, 2])), step(1, null), step(2, null)];
      await Promise.all(warm);
      const before = gpu!.buffersCreated;
      for (let k = 3; k < 30; k += 3) await Promise.all([step(k, null), step(k + 1, null), step(k + 2, null)]);
      expect(gpu!.buffersCreated - before).toBe(0);
    } finally {
      runner.destroy();
    }
  });
});
