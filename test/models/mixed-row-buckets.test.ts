/**
 * Steps of several sequences (mixed decode + prefill chunk, multi-sequence prefill) padded to row
 * buckets (step-padding.ts) and replayed from recorded buckets (prefill-buckets.ts): the bucket
 * arithmetic; on WebGPU with the built-in model, greedy generation through padded, recorded mixed
 * steps picks exactly the tokens of the same steps run unrecorded in their own rows; and once each
 * bucket has run, mixed steps of many distinct token counts compile no new pipeline, where the same
 * steps run unpadded compile some.
 */
import { describe, expect, it } from 'vitest';
import type { ForwardBatch } from '../../src/engine/model-runner.js';
import { openLlamaModel } from '../../src/models/llama/llama-family.js';
import { LlamaRunner } from '../../src/models/llama/llama-runner.js';
import {
  defaultMixedRowBuckets,
  mixedBucketRows,
  normalizeRowBuckets,
  parseMixedRowBuckets,
  mixedLogitRows,
} from '../../src/models/llama/step-padding.js';
import { builtinModelPath } from '../../src/models/load-model.js';
import { gpuBackend, gpuSkipReason } from '../gpu-setup.js';

const gpu = await gpuBackend();
/** 10× the f32 WebGPU error against the float64 oracle measured in builtin-model.test.ts (see padded-step.test.ts). */
const TOL = 2.9e-6;
const SEED = 23;
const VOCAB = 4096;

/** `n` token ids from a seeded linear congruential generator. */
function seededIds(n: number, seed: number): number[] {
  let s = seed;
  return Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return 3 + (s % (VOCAB - 3));
  });
}

function argmaxRows(logits: Float32Array, rows: number): number[] {
  return Array.from({ length: rows }, (_, r) => {
    let best = 0;
    for (let i = 1; i < VOCAB; i++) if (logits[r * VOCAB + i]! > logits[r * VOCAB + best]!) best = i;
    return best;
  });
}

function maxRelDiff(a: Float32Array, b: Float32Array): number {
  let scale = 0;
  let diff = 0;
  b.forEach((v, i) => {
    scale = Math.max(scale, Math.abs(v));
    diff = Math.max(diff, Number.isNaN(a[i]!) ? Infinity : Math.abs(a[i]! - v));
  });
  return diff / scale;
}

async function load(mixedRowBuckets?: readonly number[] | 'off'): Promise<LlamaRunner> {
  const m = await openLlamaModel(builtinModelPath());
  const runner = await LlamaRunner.load(m, {
    backend: gpu!,
    actDtype: 'f32',
    maxTokens: 128,
    maxSeqs: 4,
    numPages: 32,
    ...(mixedRowBuckets === undefined ? {} : { mixedRowBuckets }),
  });
  await m.weights.close();
  return runner;
}

describe('row buckets of unrecorded steps', () => {
  it('are powers of two to 64, then multiples of 64, ending at maxTokens', () => {
    expect(defaultMixedRowBuckets(512)).toEqual([8, 16, 32, 64, 128, 192, 256, 320, 384, 448, 512]);
    expect(defaultMixedRowBuckets(100)).toEqual([8, 16, 32, 64, 100]);
    expect(defaultMixedRowBuckets(24)).toEqual([8, 16, 24]);
    expect([8, 12, 16, 512].map((rows) => mixedLogitRows(rows, 12))).toEqual([8, 12, 12, 12]);
    const b = defaultMixedRowBuckets(512);
    expect([2, 8, 9, 64, 65, 129, 300, 512].map((n) => mixedBucketRows(n, b))).toEqual([
      8, 8, 16, 64, 128, 192, 320, 512,
    ]);
    // above 64 rows a step pads by less than 64 rows
    for (let n = 65; n <= 512; n++) expect(mixedBucketRows(n, b) - n).toBeLessThan(64);
  });

  it('are normalized against maxTokens and parsed from the command line', () => {
    expect(normalizeRowBuckets([256, 32, 1024, 32], 512)).toEqual([32, 256, 512]);
    expect(() => normalizeRowBuckets([0], 64)).toThrow(/positive integer/);
    expect(parseMixedRowBuckets('auto')).toBeUndefined();
    expect(parseMixedRowBuckets('off')).toBe('off');
    expect(parseMixedRowBuckets('64,128')).toEqual([64, 128]);
    expect(() => parseMixedRowBuckets('64,x')).toThrow(/--mixed-rows/);
  });
});

describe.skipIf(!gpu)(
  `padded mixed steps (WebGPU, built-in model)${gpu ? '' : ` (skipped: ${gpuSkipReason()})`}`,
  () => {
    it('pick exactly the greedy tokens of the same steps run in their own rows', async () => {
      console.log(`seed ${SEED}`);
      const runner = await load();
      try {
        // two sequences decode while a third prompt arrives in chunks of 21: mixed steps of 23 tokens (32 rows)
        const prompts = [seededIds(30, SEED), seededIds(45, SEED + 1), seededIds(63, SEED + 2)];
        const pages = [
          [0, 1, 2, 3, 4, 5],
          [8, 9, 10, 11, 12, 13],
          [16, 17, 18, 19, 20, 21],
        ];
        const generate = async (padded: boolean) => {
          const opts = padded ? {} : { record: false };
          const out: number[][] = [[], [], []];
          const rowsRun: number[] = [];
          const logitsOf: Float32Array[] = [];
          const step = async (batch: ForwardBatch, who: number[], sample: boolean[]) => {
            const logits = await runner.forward(batch, opts);
            rowsRun.push(runner.lastStepRows);
            logitsOf.push(logits);
            argmaxRows(logits, who.length).forEach((t, r) => sample[r] && out[who[r]!]!.push(t));
          };
          // a prefill of two sequences: 75 tokens
          await step(
            {
              seqs: [
                { tokens: prompts[0]!, start: 0, pages: pages[0]! },
                { tokens: prompts[1]!, start: 0, pages: pages[1]! },
              ],
            },
            [0, 1],
            [true, true],
          );
          for (let c = 0; c < 3; c++) {
            const pos = (i: number) => prompts[i]!.length + out[i]!.length - 1;
            await step(
              {
                seqs: [
                  { tokens: [out[0]!.at(-1)!], start: pos(0), pages: pages[0]! },
                  { tokens: [out[1]!.at(-1)!], start: pos(1), pages: pages[1]! },
                  { tokens: prompts[2]!.slice(21 * c, 21 * (c + 1)), start: 21 * c, pages: pages[2]! },
                ],
              },
              [0, 1, 2],
              [true, true, c === 2],
            );
          }
          return { out, rowsRun, logitsOf };
        };
        const plain = await generate(false);
        expect(runner.stats.mixedRecords + runner.stats.mixedReplays).toBe(0);
        const padded = await generate(true);
        // the two-prompt prefill and the first mixed step record their buckets (128 and 32 rows, logits rows
        // min(rows, maxSeqs) = 4), the others replay
        expect([runner.stats.mixedRecords, runner.stats.mixedReplays]).toEqual([2, 2]);
        expect(runner.mixedBucketInfo().map((b) => [b.rows, b.seqs])).toEqual([
          [128, 4],
          [32, 4],
        ]);
        console.log(`rows run unpadded ${plain.rowsRun.join(', ')}; padded ${padded.rowsRun.join(', ')}`);
        console.log(`greedy tokens: ${padded.out.map((o) => o.join(',')).join(' | ')}`);
        expect(plain.rowsRun).toEqual([75, 23, 23, 23]);
        expect(padded.rowsRun).toEqual([128, 32, 32, 32]);
        expect(padded.out).toEqual(plain.out);
        padded.logitsOf.forEach((l, i) => expect(maxRelDiff(l, plain.logitsOf[i]!), `step ${i + 1}`).toBeLessThan(TOL));
      } finally {
        runner.destroy();
      }
    });

    it('compile no pipeline over many distinct token counts once each bucket has run', async () => {
      console.log(`seed ${SEED}`);
      // one decode token beside a prefill chunk of n − 1 tokens, fresh sequences each step
      const mixed = (runner: LlamaRunner, n: number, seed: number) =>
        runner.forward({
          seqs: [
            { tokens: [5], start: 0, pages: [0] },
            { tokens: seededIds(n - 1, seed), start: 0, pages: [8, 9, 10, 11, 12, 13, 14, 15] },
          ],
        });
      let s = SEED;
      const counts: number[] = [];
      while (counts.length < 16) {
        s = (s * 1103515245 + 12345) % 2147483648;
        const n = 3 + (s % 126);
        if (!counts.includes(n)) counts.push(n);
      }
      console.log(`token counts: ${counts.join(', ')}`);
      const padded = await load();
      try {
        const buckets = padded.mixedRowBuckets!;
        expect(buckets).toEqual([8, 16, 32, 64, 128]);
        for (const rows of buckets) await mixed(padded, rows, SEED + rows);
        const before = gpu!.pipelines.compiled;
        const rowsRun = new Set<number>();
        for (const n of counts) {
          await mixed(padded, n, SEED + n);
          rowsRun.add(padded.lastStepRows);
        }
        const compiled = gpu!.pipelines.compiled - before;
        console.log(
          `padded: ${compiled} pipelines compiled over ${counts.length} token counts in rows ${[...rowsRun]}`,
        );
        expect([...rowsRun].every((r) => buckets.includes(r))).toBe(true);
        expect(compiled).toBe(0);
      } finally {
        padded.destroy();
      }
      // the first few of those steps in their own rows: shapes no bucket ran compile kernels of their own
      // (each costs seconds on lavapipe, hence only a few)
      const plain = await load('off');
      try {
        expect(plain.mixedRowBuckets).toBeNull();
        const before = gpu!.pipelines.compiled;
        for (const n of counts.slice(0, 4)) await mixed(plain, n, SEED + n);
        const compiled = gpu!.pipelines.compiled - before;
        console.log(`unpadded: ${compiled} pipelines compiled over token counts ${counts.slice(0, 4).join(', ')}`);
        expect(compiled).toBeGreaterThan(0);
      } finally {
        plain.destroy();
      }
    }, 240_000);
  },
);
