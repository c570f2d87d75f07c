/**
 * The tensor-core prefill template on devices without subgroup matrices: its matrix builtins
 * replaced by an exact per-invocation emulation (src/attention/sgmat-ops.ts), the rest of the
 * kernel — staging offsets, Q passes, pipelining, barriers, vec4 scores, interior tiles, softmax,
 * lazy rescaling, output and the merge of split items — runs as on the H100 and is compared with
 * the float64 oracle. 64- and 128-row items, rescaling at every max change and lazily, one
 * unsplit long item and a split ragged batch, and the schedules the knobs select (pairs, deferred
 * P·V, ping-pong). Each case compiles its own pipeline (tens of
 * seconds on lavapipe), so the set is small; the H100 runs more in bench/attention-check.ts.
 */
import { describe, expect, it } from 'vitest';
import { type AttentionCaseOptions, attentionCase } from '../../src/attention/ops.js';
import type { SgmatConfig } from '../../src/attention/sgmat-config.js';
import { useSgmatForTest, withTuning } from './sgmat-helpers.js';
import { getOp } from '../../src/ops/registry.js';
import { runCase } from '../../src/testing/conformance.js';
import { Rng } from '../../src/util/rng.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { gpuBackend } from '../gpu-setup.js';
import { HEAVY, heavyTitle } from '../heavy.js';

const seed = testSeed();
const be = await gpuBackend();

describe.skipIf(!be)(`tensor-core attention template, emulated matrices (${seedNote(seed)})`, () => {
  const rng = new Rng(seed);
  // tuning: knobs changed from the shipped defaults (ping-pong halves in restart mode with the FMA softmax; subgroup pairs
  // share 32 rows in Q·Kᵀ where the shape allows)
  const step = { pingPong: false };
  const single = { ...step, qkRows: 16 as const, pvRows: 16 as const, lateV: false };
  // shapes run under two schedules each: long items with 70 query rows (both halves of a 64-row item live whatever the
  // GQA ratio); 128 rows with RoPE applied as K is staged, split; long items with the softmax scale of 8 (below)
  const longItems: AttentionCaseOptions = {
    tileRows: 64,
    dtype: 'f16',
    headDim: 32,
    variant: { causal: true },
    lengths: { qo: [70, 2], kv: [211, 40] },
    kvChunk: 'none',
  };
  const ropeSplit: AttentionCaseOptions = {
    tileRows: 128,
    dtype: 'f16',
    headDim: 16,
    variant: { causal: true, rope: { theta: 10000 } },
    lengths: { qo: [37, 5], kv: [120, 70] },
    kvChunk: 50,
  };
  const wideScores: AttentionCaseOptions = {
    tileRows: 64,
    dtype: 'f16',
    headDim: 32,
    variant: { causal: true },
    lengths: { qo: [70, 9], kv: [211, 150] },
    kvChunk: 'none',
  };
  const cases: { opts: AttentionCaseOptions; rescale: number; tuning?: Partial<SgmatConfig>; scale?: number }[] = [
    // many tiles in one unsplit item, every row max change rescaled; 16 rows a subgroup, V fetched right after the stage
    {
      opts: {
        tileRows: 64,
        dtype: 'f16',
        headDim: 32,
        variant: { causal: true },
        lengths: { qo: [40], kv: [230] },
        kvChunk: 'none',
      },
      rescale: 0,
      tuning: single,
    },
    // 128-row items (two Q passes; head dim 16 so they fit lavapipe's 32 KiB), a split ragged batch merged, soft-cap logits
    {
      opts: {
        tileRows: 128,
        dtype: 'f16',
        headDim: 16,
        variant: { causal: true, softCap: 3 },
        lengths: { qo: [3, 33], kv: [100, 160] },
        kvChunk: 70,
      },
      rescale: 8,
    },
    // a random case (variant, page size, layout, GQA ratio) on each row count
    { opts: { tileRows: 128, dtype: 'f16', headDim: 16 }, rescale: 0 },
    { opts: { tileRows: 64, dtype: 'f16', headDim: rng.pick([32, 48]) }, rescale: 8 },
    // both halves in step, subgroup pairs sharing 32 rows in Q·Kᵀ (each taking half the keys), V fetched late, the Q tile a
    // pass at a time: a long item rescaled at every max change
    {
      opts: {
        tileRows: 64,
        dtype: 'f16',
        headDim: 64,
        variant: { causal: true },
        lengths: { qo: [21, 1], kv: [150, 77] },
        kvChunk: 'none',
      },
      rescale: 0,
      tuning: { ...step, qAhead: false },
    },
    // pairs in P·V only (each taking half the head dim), with the fetches before P·V, a random case; head dim 64 so each
    // subgroup of a pair holds two dim blocks (the output rounds' mapping differs from 16 rows)
    {
      opts: { tileRows: 64, dtype: 'f16', headDim: 64 },
      rescale: 8,
      tuning: { ...step, qkRows: 16, pvRows: 32, fetchBeforePv: true },
    },
    // P·V one tile late, in the next tile's Q·Kᵀ phase: a long item (16 rows a subgroup, half its exp2 as polynomials), a random case
    {
      opts: {
        tileRows: 64,
        dtype: 'f16',
        headDim: 32,
        variant: { causal: true },
        lengths: { qo: [17, 2], kv: [201, 33] },
        kvChunk: 'none',
      },
      rescale: 0,
      tuning: { ...single, deferPv: true, polyExp: 8 },
    },
    { opts: { tileRows: 64, dtype: 'f16', headDim: 32 }, rescale: 8, tuning: { ...step, deferPv: true } },
    // ping-pong with the lazy rescale in the loop (check mode, kept for variants with a logits hook): long items with every
    // max change rescaled, 70 query rows so both halves of the first item hold live rows whatever the GQA ratio (each
    // half's rescale must leave the other's scores alone), and the last tile's epilogue; 128 rows (four subgroups a half)
    // with RoPE applied as K is staged
    {
      opts: longItems,
      rescale: 0,
      tuning: { rescaleMode: 'check', fastSoftmax: false },
    },
    {
      opts: ropeSplit,
      rescale: 0,
      tuning: { rescaleMode: 'check' },
    },
    // the shipped restart mode (the cases above without tuning run it too, where the variant has no logits hook; tiles
    // in loop order, the diagonal ones first): thresholds of 0 and 2 without headroom make most items run twice (each
    // row's true max as the reference; the second run must keep nothing of the first), the defaults one run on this data
    {
      opts: longItems,
      rescale: 0,
      tuning: { restartLog2: 0, restartHeadroom: 0 },
    },
    {
      opts: ropeSplit,
      rescale: 0,
      tuning: { restartLog2: 2, restartHeadroom: 0, qAhead: false, fastSoftmax: false },
    },
    {
      opts: {
        tileRows: 64,
        dtype: 'f16',
        headDim: 48,
        variant: { causal: true },
        lengths: { qo: [1, 90, 0, 33], kv: [97, 180, 5, 33] },
      },
      rescale: 8,
    },
    // a softmax scale of 8 spreads the scores so far that later keys climb past 2^21 of the first visible tile's max:
    // without the second run P overflows f16 (restart mode), and the lazy rescale takes large jumps (check mode)
    {
      opts: wideScores,
      rescale: 8,
      scale: 8,
    },
    {
      opts: wideScores,
      rescale: 8,
      tuning: { rescaleMode: 'check' },
      scale: 8,
    },
  ];
  // lavapipe compiles each emulated-matrix pipeline in about a minute on a loaded 2-core machine
  // (the smallest case included), so every case is part of the heavy sweep; CI still compiles every
  // template variant through Dawn's front end in sgmat-wgsl.test.ts
  for (const [i, { opts, rescale, tuning, scale }] of cases.entries()) {
    const title = `case ${i}: ${opts.tileRows} rows, rescale > ${rescale}${tuning ? ` ${JSON.stringify(tuning)}` : ''}${scale ? `, scale ${scale}` : ''}`;
    it.skipIf(!HEAVY)(heavyTitle(title), async () => {
      const c0 = attentionCase(new Rng(seed + i), opts);
      const c1 = withTuning(c0, { sgmat: { emulate: true, rescaleLog2: rescale, ...tuning } });
      const c = scale ? { ...c1, attrs: { ...c1.attrs, scale } } : c1;
      expect(useSgmatForTest(be!, c), `${c.label} takes the tensor-core template`).toBe(true);
      const r = await runCase(be!, getOp('paged_attention'), c);
      expect(r.skipped ?? '', c.label).toBe('');
      expect(r.message ?? 'ok', c.label).toBe('ok');
    });
  }
});
