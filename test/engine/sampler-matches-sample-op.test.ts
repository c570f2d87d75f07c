/**
 * One sampling semantics: the engine's host sampler against the `sample` op's float64 reference
 * (the contract of src/ops/sample.ts), row by row on random logits, parameters and (seed, stream,
 * step), requiring the identical token. Rows include tie groups at the top-k / top-p boundaries,
 * −∞ entries (masked tokens), wide logit ranges (a tail of weights too small to matter), top-k
 * past the tokens that carry weight, min-p 1, and tiny and large temperatures.
 */
import { describe, expect, it } from 'vitest';
import { resolveSamplingParams } from '../../src/engine/sampling-params.js';
import { sampleToken } from '../../src/engine/sampler.js';
import { SAMPLE_PARAM_WORDS, type SampleRowParams, packSampleParams, sampleOp } from '../../src/ops/sample.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { Rng, uniformAt } from '../../src/util/rng.js';

const seed = testSeed();

/** The op reference's token for each row. */
function referenceTokens(x: Float32Array, V: number, rows: readonly SampleRowParams[]): number[] {
  const R = rows.length;
  const [out] = sampleOp.reference(
    {},
    [Float64Array.from(x), Float64Array.from(packSampleParams(rows))],
    [
      { dtype: 'f32', shape: [R, V] },
      { dtype: 'u32', shape: [R, SAMPLE_PARAM_WORDS] },
    ],
    [],
  );
  return [...out!];
}

function hostToken(x: Float32Array, r: SampleRowParams): number {
  const params = resolveSamplingParams({
    temperature: r.temperature,
    topK: r.topK ?? 0,
    topP: r.topP ?? 1,
    minP: r.minP ?? 0,
  });
  const ctx = { seen: new Set<number>(), outputCounts: new Map(), mask: null };
  return sampleToken(x, params, { ...ctx, seed: r.seed, stream: r.stream ?? 0, step: r.step }).token;
}

/** An f32 logit between T·ln(minP) with T and minP rounded to f32 (as the op sees them) and unrounded. */
function minPStraddle(T: number, minP: number): number {
  const a = Math.fround(T) * Math.log(Math.fround(minP));
  const b = T * Math.log(minP);
  const mid = Math.fround((a + b) / 2);
  if (!(mid > Math.min(a, b) && mid < Math.max(a, b))) throw new Error(`no f32 between ${a} and ${b}`);
  return mid;
}

type Kind = 'normal' | 'ties' | 'wide' | 'masked';

function randomRow(rng: Rng, V: number, kind: Kind): Float32Array {
  const x = Float32Array.from(rng.normals(V, kind === 'wide' ? 40 : 2));
  if (kind === 'ties') for (let i = 0; i < V; i++) x[i] = Math.round(x[i]! * 2) / 2;
  if (kind === 'masked') for (let i = 0; i < V; i++) if (rng.next() < 0.5) x[i] = -Infinity;
  if (kind === 'masked') x[rng.int(0, V - 1)] = 1;
  return x;
}

function randomParams(rng: Rng, V: number): SampleRowParams {
  return {
    temperature: rng.pick([0, 0.05, 0.3, 0.7, 1, 1.3, 5, rng.uniform(0.2, 2)]),
    topK: rng.pick([0, 0, 1, 2, 3, 20, V - 1, V, V + 5]),
    topP: rng.pick([1, 1, 0.999, 0.95, 0.9, 0.7, 0.5, 0.3, 0.05, rng.next()]),
    minP: rng.pick([0, 0, 0, 0.01, 0.05, 0.2, 0.5, 1]),
    seed: rng.int(0, 0xffffffff),
    stream: rng.pick([0, 1, rng.int(0, 0xffffffff)]),
    step: rng.int(0, 100000),
  };
}

describe(`host sampler = sample op reference, token for token (${seedNote(seed)})`, () => {
  const rng = new Rng(seed);
  const cases: [Kind, number, number][] = [
    ['normal', 7, 400],
    ['ties', 7, 400],
    ['normal', 300, 300],
    ['ties', 300, 300],
    ['wide', 300, 200],
    ['masked', 50, 200],
    ['normal', 5000, 40],
    ['ties', 5000, 40],
  ];
  for (const [kind, V, rows] of cases) {
    it(`${rows} ${kind} rows of ${V} logits`, () => {
      for (let r = 0; r < rows; r++) {
        const x = randomRow(rng, V, kind);
        const p = randomParams(rng, V);
        expect(hostToken(x, p), `row ${r}: ${JSON.stringify(p)}`).toBe(referenceTokens(x, V, [p])[0]);
      }
    });
  }

  it('boundaries: ties straddling top-k, top-p exactly at a tie group, min-p 1, one token', () => {
    const rows: [number[], Partial<SampleRowParams>][] = [
      [[1, 2, 2, 2, 0], { topK: 2 }], // the k-th value is tied: all three 2s kept
      [[0, 0, 0, 0], { topP: 0.5 }], // every token tied: the whole group is the boundary
      [[3, 1, 3, 1, 2], { topP: 0.6, topK: 1 }],
      [[1, 1, 0.5, -1], { minP: 1 }], // only the tied maxima
      [[Math.log(3), 0, 0, 0], { topP: 0.5 }], // mass 3/6 reaches p·Z = 3 exactly at the first value
      [[5], { topK: 1, topP: 0.1, minP: 0.9 }],
      [[-Infinity, 2, -Infinity, 2], {}],
      [[-41, 0], { temperature: 1 }], // a sliver of weight before the best token, in index order
      // two distinct logits of weight exactly 1: the first value's mass reaches p·Z = 1 exactly
      [[0, -1e-30], { topP: 0.5 }],
      // a logit between the min-p threshold of the f32-rounded params and that of the float64 ones
      [[0, minPStraddle(0.7, 0.9999999)], { temperature: 0.7, minP: 0.9999999 }],
    ];
    for (const [logits, extra] of rows) {
      const x = Float32Array.from(logits);
      for (let step = 0; step < 200; step++) {
        const p = { temperature: 1, seed: 11, step, ...extra };
        expect(hostToken(x, p), `${JSON.stringify(logits)} ${JSON.stringify(p)}`).toBe(
          referenceTokens(x, x.length, [p])[0],
        );
      }
    }
  });

  it('a tail of weights just too small to count: top-p and the draw still see every token', () => {
    // 2 tokens of weight 1, then 4998 of weight 2^-21: p = 0.9999 makes the tail's mass decide
    // whether top-p keeps it, and only draws with u near 1/2 or above 0.998 can tell
    const V = 5000;
    const x = new Float32Array(V).fill(Math.fround(-21 * Math.LN2));
    x[0] = x[1] = 0;
    const steps: number[] = [];
    for (let step = 0; steps.length < 12 && step < 1e6; step++) {
      const u = uniformAt(7, 0, step);
      if ((u > 0.4993 && u < 0.5) || u > 0.9985) steps.push(step);
    }
    for (const step of steps) {
      const p = { temperature: 1, topP: 0.9999, seed: 7, step };
      expect(hostToken(x, p), `step ${step}`).toBe(referenceTokens(x, V, [p])[0]);
    }
  });

  it('can fail: a draw in probability order (the other common convention) disagrees on most rows', () => {
    const x = Float32Array.from(new Rng(seed ^ 3).normals(64, 2));
    const order = [...x.keys()].sort((a, b) => x[b]! - x[a]! || a - b);
    const w = order.map((i) => Math.exp(x[i]! - x[order[0]!]!));
    const Z = w.reduce((a, b) => a + b);
    let differ = 0;
    for (let step = 0; step < 100; step++) {
      const p = { temperature: 1, seed: 5, step };
      const target = uniformAt(5, 0, step) * Z;
      let acc = 0;
      let j = 0;
      while (j < order.length - 1 && target >= (acc += w[j]!)) j++;
      if (order[j] !== referenceTokens(x, 64, [p])[0]) differ++;
    }
    expect(differ).toBeGreaterThan(50);
  });
});
