/**
 * Host side of the GPU `sample` op: the packed parameter rows, the float64 reference's pieces
 * (weights, top-k / top-p / min-p thresholds, the index-order inverse CDF) and the tolerant check,
 * against values worked out by hand from the semantics in src/ops/sample.ts's header. CPU only.
 */
import { describe, expect, it } from 'vitest';
import {
  SAMPLE_PARAM_WORDS,
  checkSampled,
  drawToken,
  packSampleParams,
  rowThresholds,
  rowWeights,
  sampleEps,
  sampleOp,
  topKThreshold,
  topPCandidates,
  unpackSampleParams,
} from '../../src/ops/sample.js';
import { uniformAt } from '../../src/util/rng.js';

const f32 = (x: number) => Math.fround(x);

describe('parameter rows', () => {
  it('packs [temperature, top-k, top-p, min-p, seed, stream, step, 0] with defaults and integer clamps', () => {
    const w = packSampleParams([
      { temperature: 0.5, topK: 3.7, topP: 0.9, minP: 0.05, seed: 2 ** 32 + 5, stream: -1, step: 12 },
      { temperature: 0, topK: -2, seed: 1, step: 0 },
    ]);
    expect(SAMPLE_PARAM_WORDS).toBe(8);
    expect(w).toHaveLength(16);
    const f = new Float32Array(w.buffer);
    expect([f[0], w[1], f[2], f[3], w[4], w[5], w[6], w[7]]).toEqual([
      0.5,
      3,
      f32(0.9),
      f32(0.05),
      5,
      0xffffffff,
      12,
      0,
    ]);
    expect([f[8], w[9], f[10], f[11], w[12], w[13], w[14], w[15]]).toEqual([0, 0, 1, 0, 1, 0, 0, 0]);
  });
  it('unpacks what the reference sees (float64 copies of the words)', () => {
    const w = packSampleParams([
      { temperature: 1, seed: 9, step: 1 },
      { temperature: 0.25, topK: 4, topP: 0.5, minP: 0.125, seed: 7, stream: 3, step: 99 },
    ]);
    expect(unpackSampleParams(Float64Array.from(w), 1)).toEqual({
      temperature: 0.25,
      topK: 4,
      topP: 0.5,
      minP: 0.125,
      seed: 7,
      stream: 3,
      step: 99,
    });
    expect(unpackSampleParams(Float64Array.from(w), 0)).toEqual({
      temperature: 1,
      topK: 0,
      topP: 1,
      minP: 0,
      seed: 9,
      stream: 0,
      step: 1,
    });
  });
});

describe('reference pieces', () => {
  it('weights exp((x − max) / T), read at a row offset', () => {
    const x = [9, 0, Math.LN2, 2 * Math.LN2];
    const w = rowWeights(x, 1, 3, 1);
    [0.25, 0.5, 1].forEach((v, i) => expect(w[i]).toBeCloseTo(v, 15));
    const hot = rowWeights(x, 1, 3, 2);
    [0.5, Math.SQRT1_2, 1].forEach((v, i) => expect(hot[i]).toBeCloseTo(v, 15));
  });
  it('top-k threshold is the k-th largest value, ties included', () => {
    const x = [7, 3, 1, 2, 2];
    expect(topKThreshold(x, 1, 4, 1)).toBe(3);
    expect(topKThreshold(x, 1, 4, 2)).toBe(2);
    expect(topKThreshold(x, 1, 4, 3)).toBe(2);
    expect(topKThreshold(x, 1, 4, 4)).toBe(1);
  });
  it('top-p boundary: the first value whose cumulative mass (largest first) reaches p·Z', () => {
    const x = [0, 1, 2, 3];
    const w = Float64Array.from([1, 2, 3, 4]); // Z = 10, masses from the top: 4, 7, 9, 10
    expect(topPCandidates(x, 0, 4, w, -Infinity, 0.5, 0)).toEqual([2]);
    expect(topPCandidates(x, 0, 4, w, -Infinity, 0.4, 0)).toEqual([3]);
    expect(topPCandidates(x, 0, 4, w, -Infinity, 0.95, 0)).toEqual([0]);
    // only values ≥ the floor count: Z = 7, masses 4, 7
    expect(topPCandidates(x, 0, 4, w, 2, 0.5, 0)).toEqual([3]);
    expect(topPCandidates(x, 0, 4, w, 2, 0.6, 0)).toEqual([2]);
    // ties form one value: x = [1, 1, 0], mass of 1 is 2 of 3
    expect(topPCandidates([1, 1, 0], 0, 3, Float64Array.from([1, 1, 1]), -Infinity, 0.5, 0)).toEqual([1]);
    // with slack 0.05·Z = 0.5 around 4: both 3 (mass 0…4) and 2 (4…7) could be chosen, 1 (7…9) not
    expect(topPCandidates(x, 0, 4, w, -Infinity, 0.4, 0.05)).toEqual([3, 2]);
    expect(topPCandidates(x, 0, 4, w, -Infinity, 0.2, 0.05)).toEqual([3]);
  });
  it('draws in index order over the kept tokens', () => {
    const x = [0, 1, 2, 3];
    const w = Float64Array.from([1, 2, 3, 4]);
    // threshold 1 keeps tokens 1, 2, 3: running sums 2, 5, 9 of Z = 9
    const at = (u: number) => drawToken(x, 0, 4, w, 1, u).token;
    expect([at(0), at(2 / 9 - 1e-9), at(2 / 9 + 1e-9), at(5 / 9 + 1e-9), at(0.999999)]).toEqual([1, 1, 2, 3, 3]);
    const { cdf, Z } = drawToken(x, 0, 4, w, 1, 0.5);
    expect(Array.from(cdf)).toEqual([0, 2, 5, 9]);
    expect(Z).toBe(9);
    // u = 1 lands past the last interval: the last kept token
    expect(at(1)).toBe(3);
    expect(drawToken(x, 0, 4, w, 0, 1).token).toBe(3);
    expect(drawToken([5, 0, 1, 2, 3], 1, 4, w, 3, 0.2).token).toBe(3);
  });
  it('thresholds combine by max; disabled filters give −∞', () => {
    const x = [0, 1, 2, 3];
    const w = rowWeights(x, 0, 4, 1);
    const t = (p: { topK?: number; topP?: number; minP?: number }) =>
      rowThresholds(x, 0, 4, { temperature: 1, topK: 0, topP: 1, minP: 0, seed: 0, stream: 0, step: 0, ...p }, w, 0);
    expect(t({})).toEqual([-Infinity]);
    expect(t({ topK: 4 })).toEqual([-Infinity]);
    expect(t({ topK: 9 })).toEqual([-Infinity]);
    expect(t({ topK: 2 })).toEqual([2]);
    // probabilities of 3, 2, 1, 0: .644, .237, .087, .032
    expect(t({ topP: 0.5 })).toEqual([3]);
    expect(t({ topP: 0.7 })).toEqual([2]);
    // min-p: keep x ≥ max + T·ln(minP) = 3 − 1.5
    expect(t({ minP: Math.exp(-1.5) })[0]).toBeCloseTo(1.5, 14);
    expect(
      rowThresholds(
        x,
        0,
        4,
        { temperature: 2, topK: 0, topP: 1, minP: Math.exp(-0.5), seed: 0, stream: 0, step: 0 },
        rowWeights(x, 0, 4, 2),
        0,
      )[0],
    ).toBeCloseTo(2, 14);
    expect(t({ topK: 3, topP: 0.7 })).toEqual([2]);
    expect(t({ topK: 3, topP: 0.7, minP: Math.exp(-0.5) })).toEqual([2.5]);
    expect(t({ topK: 1, topP: 0.7 })).toEqual([3]);
  });
  it('slack for f32 sums grows with the vocabulary', () => {
    expect(sampleEps(0)).toBe(1e-5);
    expect(sampleEps(20000)).toBeCloseTo(2e-5, 15);
  });
});

/** The expected token from the header's semantics, written independently. */
function expected(
  x: number[],
  p: { temperature: number; topK?: number; topP?: number; minP?: number; seed: number; stream?: number; step: number },
): number {
  const V = x.length;
  const max = Math.max(...x);
  if (!(p.temperature > 0)) return x.indexOf(max);
  const w = x.map((v) => Math.exp((v - max) / p.temperature));
  const sorted = [...x].sort((a, b) => b - a);
  let thr = -Infinity;
  if (p.topK && p.topK > 0 && p.topK < V) thr = sorted[p.topK - 1]!;
  if (p.topP !== undefined && p.topP > 0 && p.topP < 1) {
    const kept = [...new Set(sorted.filter((v) => v >= thr))];
    const z = x.reduce((a, v, i) => a + (v >= thr ? w[i]! : 0), 0);
    let mass = 0;
    for (const v of kept) {
      mass += x.reduce((a, y, i) => a + (y === v ? w[i]! : 0), 0);
      if (mass >= p.topP * z) {
        thr = Math.max(thr, v);
        break;
      }
    }
  }
  if (p.minP && p.minP > 0) thr = Math.max(thr, max + p.temperature * Math.log(p.minP));
  const z = x.reduce((a, v, i) => a + (v >= thr ? w[i]! : 0), 0);
  const target = uniformAt(p.seed, p.stream ?? 0, p.step) * z;
  let acc = 0;
  for (let i = 0; i < V; i++) {
    if (x[i]! < thr) continue;
    acc += w[i]!;
    if (target < acc) return i;
  }
  return x
    .map((v, i) => (v >= thr ? i : -1))
    .filter((i) => i >= 0)
    .at(-1)!;
}

describe('sample op reference and check', () => {
  const x = [0.3, -1, 2.2, 1.9, 0, 2.2, -0.5, 1];
  const V = x.length;
  const rows = [
    { temperature: 0, seed: 1, step: 0 },
    { temperature: -1, seed: 1, step: 0 },
    { temperature: 1, seed: 11, step: 3 },
    { temperature: 0.7, topK: 3, seed: 12, step: 4 },
    { temperature: 1.2, topP: 0.6, seed: 13, stream: 2, step: 5 },
    { temperature: 1, minP: 0.3, seed: 14, step: 6 },
    { temperature: 0.9, topK: 5, topP: 0.8, minP: 0.1, seed: 15, step: 7 },
  ];
  const R = rows.length;
  const logits = Float64Array.from(rows.flatMap(() => x));
  const params = Float64Array.from(packSampleParams(rows));
  const descs = [
    { dtype: 'f32' as const, shape: [R, V] },
    { dtype: 'u32' as const, shape: [R, SAMPLE_PARAM_WORDS] },
  ];

  it('each row draws the token the semantics give, over many steps', () => {
    for (let step = 0; step < 200; step++) {
      const stepped = rows.map((r) => ({ ...r, step: r.step + step }));
      const got = sampleOp.reference({}, [logits, Float64Array.from(packSampleParams(stepped))], descs, [])[0]!;
      stepped.forEach((r, i) => expect(got[i], `row ${i} step ${r.step}`).toBe(expected(x, r)));
    }
  });

  it('the check accepts the reference draws and rejects wrong ones with the row named', () => {
    const want = sampleOp.reference({}, [logits, params], descs, [])[0]!;
    expect(checkSampled({}, [logits, params], [want])).toBeNull();
    const greedyWrong = Float64Array.from(want);
    greedyWrong[0] = 0;
    expect(checkSampled({}, [logits, params], [greedyWrong])).toBe('row 0 (greedy): token 0, want 2');
    const outOfRange = Float64Array.from(want);
    outOfRange[2] = V;
    expect(checkSampled({}, [logits, params], [outOfRange])).toBe(`row 2: token ${V} is not in [0, ${V})`);
    // top-k 3 keeps tokens 2, 5 and 3 only: token 1 can never be drawn
    const filtered = Float64Array.from(want);
    filtered[3] = 1;
    expect(checkSampled({}, [logits, params], [filtered])).toMatch(/^row 3: token 1 is outside its CDF interval/);
  });

  it('checks shapes, naming the problem', () => {
    expect(sampleOp.outputs({}, descs)).toEqual([{ dtype: 'i32', shape: [R] }]);
    expect(() => sampleOp.outputs({}, [descs[0]!])).toThrow('sample: takes 2 inputs (logits, params), 1 given');
    expect(() => sampleOp.outputs({}, [{ dtype: 'f32', shape: [V] }, descs[1]!])).toThrow(
      `sample: logits must be a float [R, V] tensor, got f32 [${V}]`,
    );
    expect(() => sampleOp.outputs({}, [{ dtype: 'i32', shape: [R, V] }, descs[1]!])).toThrow(/logits must be a float/);
    expect(() =>
      sampleOp.outputs({}, [
        { dtype: 'f32', shape: [1, 0] },
        { dtype: 'u32', shape: [1, 8] },
      ]),
    ).toThrow('sample: empty vocabulary');
    expect(() => sampleOp.outputs({}, [descs[0]!, { dtype: 'i32', shape: [R, 8] }])).toThrow(
      `sample: params must be u32 [${R}, 8] (see packSampleParams), got i32 [${R}, 8]`,
    );
    expect(() => sampleOp.outputs({}, [descs[0]!, { dtype: 'u32', shape: [R + 1, 8] }])).toThrow(/params must be u32/);
    expect(() => sampleOp.outputs({}, [descs[0]!, { dtype: 'u32', shape: [R, 7] }])).toThrow(/params must be u32/);
    expect(() => sampleOp.outputs({}, [descs[0]!, { dtype: 'u32', shape: [R * 8] }])).toThrow(/params must be u32/);
  });
});
