/**
 * Recorded single-sequence prefill (prefill-buckets.ts), on WebGPU with the built-in model: a
 * fresh prompt runs in its bucket of rows (n rounded up to a power of two, at least 16) and
 * replays the bucket's stream once it is recorded. Each replayed step must equal, bit for bit, the
 * unrecorded step run in the same rows (same kernels, so the same sums), agree with the unpadded
 * step and the float64 oracle (reference.json) within the measured f32 error, and pick the same
 * first token. Only `prefillBuckets` buckets stay recorded, least recently used evicted.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { openLlamaModel } from '../../src/models/llama/llama-family.js';
import { LlamaRunner } from '../../src/models/llama/llama-runner.js';
import { builtinModelPath } from '../../src/models/load-model.js';
import { gpuBackend, gpuSkipReason } from '../gpu-setup.js';

const gpu = await gpuBackend();
const reference = JSON.parse(readFileSync(`${builtinModelPath()}/reference.json`, 'utf8')) as {
  references: { ids: number[]; lastLogits: number[]; greedy: number[] }[];
};
/** 10× the f32 WebGPU error against the float64 oracle measured in builtin-model.test.ts. */
const TOL = 2.9e-6;
const SEED = 17;

function maxRelDiff(a: Float32Array, b: ArrayLike<number>): number {
  let scale = 0;
  let diff = 0;
  for (let i = 0; i < b.length; i++) {
    scale = Math.max(scale, Math.abs(b[i]!));
    diff = Math.max(diff, Number.isNaN(a[i]!) ? Infinity : Math.abs(a[i]! - b[i]!));
  }
  return diff / scale;
}

const argmax = (x: Float32Array): number => x.reduce((best, v, i) => (v > x[best]! ? i : best), 0);

/** `n` token ids from a seeded linear congruential generator (the vocabulary is 4096). */
function seededIds(n: number, seed: number): number[] {
  let s = seed;
  return Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s % 4096;
  });
}

async function load(prefillBuckets?: number): Promise<LlamaRunner> {
  const m = await openLlamaModel(builtinModelPath());
  const runner = await LlamaRunner.load(m, {
    backend: gpu!,
    actDtype: 'f32',
    maxTokens: 64,
    maxSeqs: 4,
    numPages: 16,
    ...(prefillBuckets === undefined ? {} : { prefillBuckets }),
  });
  await m.weights.close();
  return runner;
}

describe.skipIf(!gpu)(
  `recorded prefill buckets (WebGPU, built-in model)${gpu ? '' : ` (skipped: ${gpuSkipReason()})`}`,
  () => {
    it('replay a fresh prompt in its bucket with the unrecorded logits and first token', async () => {
      console.log(`seed ${SEED}`);
      const runner = await load();
      try {
        const prompts = [...reference.references.map((r) => r.ids), seededIds(13, SEED), seededIds(27, SEED + 1)];
        for (const [i, ids] of prompts.entries()) {
          const pages = [0, 1];
          const batch = { seqs: [{ tokens: ids, start: 0, pages }] };
          const before = { ...runner.stats };
          const recorded = await runner.forward(batch);
          const rows = ids.length <= 16 ? 16 : 32;
          const replayed = runner.stats.prefillReplays - before.prefillReplays;
          const recordedNow = runner.stats.prefillRecords - before.prefillRecords;
          // the first prompt of each bucket records it, the others replay
          const firstOfBucket = i === 0 || i === 4;
          expect([replayed, recordedNow], `prompt ${i} (${ids.length} tokens)`).toEqual(
            firstOfBucket ? [0, 1] : [1, 0],
          );
          const sameRows = await runner.forward(batch, { padTo: rows });
          const unpadded = await runner.forward(batch, { record: false });
          expect(recorded, `prompt ${i}: replay against the unrecorded step in ${rows} rows`).toEqual(sameRows);
          expect(maxRelDiff(recorded, unpadded), `prompt ${i}: against the unpadded step`).toBeLessThan(TOL);
          expect(argmax(recorded)).toBe(argmax(unpadded));
          const ref = reference.references[i];
          if (ref) {
            expect(maxRelDiff(recorded, ref.lastLogits), `prompt ${i}: against the float64 oracle`).toBeLessThan(TOL);
            expect(argmax(recorded)).toBe(ref.greedy[0]);
          }
        }
        expect(runner.stats.prefillRecords).toBe(2);
        expect(runner.stats.prefillReplays).toBe(3);
        const info = runner.prefillBucketInfo();
        console.log(
          `recorded buckets: ${info.map((b) => `${b.rows} rows ${(b.bytes / 1024).toFixed(0)} KiB`).join(', ')}`,
        );
        expect(info.map((b) => b.rows)).toEqual([16, 32]);
        for (const b of info) expect(b.bytes).toBeGreaterThan(0);
      } finally {
        runner.destroy();
      }
    });

    it('keep at most prefillBuckets buckets, evicting the least recently used', async () => {
      const runner = await load(2);
      try {
        const step = (n: number) =>
          runner.forward({ seqs: [{ tokens: seededIds(n, SEED + n), start: 0, pages: [0, 1, 2, 3] }] });
        const first16 = await step(9);
        await step(20);
        await step(11); // 16 used again: 32 is now the least recently used
        expect(runner.prefillBucketInfo().map((b) => b.rows)).toEqual([32, 16]);
        await step(40);
        expect(runner.prefillBucketInfo().map((b) => b.rows)).toEqual([16, 64]);
        await step(30); // 32 was evicted: recorded again, evicting 16
        expect(runner.prefillBucketInfo().map((b) => b.rows)).toEqual([64, 32]);
        expect(runner.stats.prefillRecords).toBe(4);
        expect(runner.stats.prefillReplays).toBe(1);
        // a bucket recorded again after its eviction gives the same logits
        expect(await step(9)).toEqual(first16);
        // evicted buckets give their memory back: cycling through three buckets with room for two
        // (each round ends with buckets 64 and 16 recorded) stays flat
        const round = async () => {
          for (const n of [20, 40, 9]) await step(n);
          await gpu!.flush();
          return gpu!.memory().totalBytes;
        };
        const settled = await round();
        for (let r = 0; r < 2; r++) expect(await round()).toBeLessThanOrEqual(settled);
        expect(runner.prefillBucketInfo().map((b) => b.rows)).toEqual([64, 16]);
        expect(runner.stats.prefillRecords).toBe(5 + 2 + 3 + 3);
      } finally {
        runner.destroy();
      }
    });

    it('leaves prefill unrecorded with prefillBuckets 0', async () => {
      const runner = await load(0);
      try {
        const ids = reference.references[0]!.ids;
        const logits = await runner.forward({ seqs: [{ tokens: ids, start: 0, pages: [0] }] });
        expect(runner.stats.prefillRecords + runner.stats.prefillReplays).toBe(0);
        expect(maxRelDiff(logits, reference.references[0]!.lastLogits)).toBeLessThan(TOL);
      } finally {
        runner.destroy();
      }
    });
  },
);
