/**
 * Rows that belong to no sequence (step-padding.ts), on WebGPU with the built-in model: a step run
 * in more rows than it has tokens gives the real rows the logits of the unpadded step and writes
 * the same K/V (pad rows store nothing), for prefill, mixed and pure-decode steps. Pools are
 * zeroed before each run, so a stray write by a pad row would show as a nonzero where the
 * unpadded steps left zero. The unpadded step is itself checked against the float64 oracle's
 * logits (reference.json) where its prompt is a reference prompt.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { ForwardBatch } from '../../src/engine/model-runner.js';
import { openLlamaModel } from '../../src/models/llama/llama-family.js';
import { LlamaRunner } from '../../src/models/llama/llama-runner.js';
import { builtinModelPath } from '../../src/models/load-model.js';
import { gpuBackend, gpuSkipReason } from '../gpu-setup.js';

const gpu = await gpuBackend();
const reference = JSON.parse(readFileSync(`${builtinModelPath()}/reference.json`, 'utf8')) as {
  references: { ids: number[]; lastLogits: number[] }[];
};
/**
 * 10× the f32 WebGPU error against the float64 oracle measured in builtin-model.test.ts. Padded
 * and unpadded steps are compared with it too, not bit for bit: the matmul kernel is chosen by M
 * (GEMV, skinny sets, tiled), so another row count may sum in another order (measured on
 * lavapipe: 6.8e-7 of max|logit| between 25 and 32 rows).
 */
const ORACLE_TOL = 2.9e-6;

/** Largest |a − b| as a fraction of max |b|. */
function maxRelDiff(a: Float32Array, b: Float32Array): number {
  let scale = 0;
  let diff = 0;
  b.forEach((v, i) => {
    scale = Math.max(scale, Math.abs(v));
    diff = Math.max(diff, Number.isNaN(a[i]!) ? Infinity : Math.abs(a[i]! - v));
  });
  return diff / scale;
}

async function poolBytes(runner: LlamaRunner): Promise<Uint8Array[]> {
  return Promise.all(
    runner.kv.pools.map(async (p) => {
      const a = await runner.backend.read(p);
      return new Uint8Array(a.buffer, a.byteOffset, a.byteLength).slice();
    }),
  );
}

/** Zeroes every layer's pool (f32 pools: the runner runs with f32 activations). */
function zeroPools(runner: LlamaRunner): void {
  for (const p of runner.kv.pools) runner.backend.write(p, new Float32Array(p.shape.reduce((a, b) => a * b, 1)));
}

describe.skipIf(!gpu)(
  `steps padded with rows of no sequence (WebGPU, built-in model)${gpu ? '' : ` (skipped: ${gpuSkipReason()})`}`,
  () => {
    it('give the unpadded logits and write the same K/V, nothing for pad rows', async () => {
      const m = await openLlamaModel(builtinModelPath());
      const runner = await LlamaRunner.load(m, {
        backend: gpu!,
        actDtype: 'f32',
        maxTokens: 64,
        maxSeqs: 4,
        numPages: 16,
      });
      await m.weights.close();
      try {
        const ref = reference.references[2]!;
        const first: ForwardBatch = {
          seqs: [
            { tokens: ref.ids, start: 0, pages: [0] },
            {
              tokens: [9, 8, 7, 6, 5, 4, 3, 2, 1, 300, 301, 302, 303, 304, 305, 306, 307, 308],
              start: 0,
              pages: [4, 5],
            },
          ],
        };
        // both continue from the first step's context: a prefill chunk beside a decode token
        const second: ForwardBatch = {
          seqs: [
            { tokens: [400, 401, 402, 403, 404, 405, 406, 407, 408, 409, 410], start: ref.ids.length, pages: [0, 1] },
            { tokens: [42], start: 18, pages: [4, 5] },
          ],
        };
        // then a pure decode step of both (unpadded, the runner would replay its recorded decode stream)
        const third: ForwardBatch = {
          seqs: [
            { tokens: [411], start: ref.ids.length + 11, pages: [0, 1] },
            { tokens: [43], start: 19, pages: [4, 5] },
          ],
        };
        const steps = [first, second, third];
        const run = async (padTo: (number | undefined)[]) => {
          zeroPools(runner);
          const logits: Float32Array[] = [];
          for (const [i, step] of steps.entries())
            logits.push(await runner.forward(step, padTo[i] === undefined ? { record: false } : { padTo: padTo[i] }));
          return { logits, pools: await poolBytes(runner) };
        };
        const plain = await run([]);
        const a = plain.logits[0]!;
        const scale = Math.max(...ref.lastLogits.map(Math.abs));
        let err = 0;
        ref.lastLogits.forEach((v, i) => (err = Math.max(err, Math.abs(a[i]! - v) / scale)));
        console.log(`unpadded step against the float64 oracle: max error ${err.toExponential(2)} of max|logit|`);
        expect(err).toBeLessThan(ORACLE_TOL);
        for (const pad of [
          [32, 16, 8],
          [64, 13, 3],
        ]) {
          const padded = await run(pad);
          const where = `steps in ${pad.join(', ')} rows`;
          padded.logits.forEach((l, i) =>
            expect(maxRelDiff(l, plain.logits[i]!), `step ${i + 1}, ${where}`).toBeLessThan(ORACLE_TOL),
          );
          padded.pools.forEach((bytes, l) => {
            const got = new Float32Array(bytes.buffer);
            const want = new Float32Array(plain.pools[l]!.buffer);
            // a slot the unpadded steps left zero is a slot no real token owns: a pad row's write would show there
            const stray = want.findIndex((v, i) => v === 0 && got[i] !== 0);
            expect(stray, `layer ${l}: element ${stray} written by a pad row, ${where}`).toBe(-1);
            expect(maxRelDiff(got, want), `layer ${l} K/V, ${where}`).toBeLessThan(ORACLE_TOL);
          });
        }
      } finally {
        runner.destroy();
      }
    });

    it('rejects a row count below the step or above maxTokens', async () => {
      const m = await openLlamaModel(builtinModelPath());
      const runner = await LlamaRunner.load(m, { backend: gpu!, maxTokens: 32, maxSeqs: 2, numPages: 4 });
      await m.weights.close();
      try {
        const batch = { seqs: [{ tokens: [1, 2, 3], start: 0, pages: [0] }] };
        await expect(runner.forward(batch, { padTo: 2 })).rejects.toThrow(/runs in 3…32 rows/);
        await expect(runner.forward(batch, { padTo: 33 })).rejects.toThrow(/runs in 3…32 rows/);
      } finally {
        runner.destroy();
      }
    });
  },
);
