/**
 * SmoothQuant's factors (src/quant/smoothquant.ts): the formula on a case worked out by hand, the
 * product X·Wᵀ unchanged by the migration, and the point of it: with one activation channel far
 * larger than the rest, INT8 per-token × per-channel quantization of the product errs less after
 * smoothing than before. Calibration statistics keep the per-channel maximum it needs.
 */
import { describe, expect, it } from 'vitest';
import { fakeQuantSymmetric } from '../../src/quant/atom-fake-quant.js';
import { ChannelStats } from '../../src/quant/atom-reorder.js';
import { divideColumns, scaleColumns, smoothingFactors } from '../../src/quant/smoothquant.js';
import { Rng } from '../../src/util/rng.js';

const SEED = 20261207;

/** y [m, n] = x [m, k] · W [n, k]ᵀ in float64. */
function matmulNT(x: ArrayLike<number>, w: ArrayLike<number>, m: number, n: number, k: number): Float64Array {
  const y = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let c = 0; c < k; c++) s += x[i * k + c]! * w[j * k + c]!;
      y[i * n + j] = s;
    }
  return y;
}

const rms = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i]! - b[i]!) ** 2;
  return Math.sqrt(s / a.length);
};

describe(`SmoothQuant factors (seed ${SEED})`, () => {
  it('s_j = max|X_j|^α / max|W_j|^(1−α) over every weight reading X; 1 where a channel is zero', () => {
    // max|W_j| over both weights: [2, 2, 0.5]
    const w1 = [1, 2, 0.25];
    const w2 = [-2, 1, -0.5];
    const s = smoothingFactors([4, 0, 1], [w1, w2], 0.5);
    expect(s[0]).toBeCloseTo(2 / Math.SQRT2, 14);
    expect(s[1]).toBe(1);
    expect(s[2]).toBeCloseTo(1 / Math.sqrt(0.5), 14);
    // α = 1 moves everything to the weights: s = max|X|
    expect([...smoothingFactors([4, 0, 1], [w1, w2], 1)]).toEqual([4, 1, 1]);
    expect(() => smoothingFactors([1, 1], [[1, 2, 3]])).toThrow(/not \[n, 2\]/);
    expect(() => smoothingFactors([1], [[1]], 1.5)).toThrow(/alpha/);
  });

  it('leaves X·Wᵀ unchanged before quantization', () => {
    const rng = new Rng(SEED);
    const [m, n, k] = [5, 7, 24];
    const x = rng.normals(m * k);
    const w = rng.normals(n * k);
    const s = Float64Array.from({ length: k }, () => rng.uniform(0.1, 10));
    const want = matmulNT(x, w, m, n, k);
    const got = matmulNT(divideColumns(x, m, k, s), scaleColumns(w, n, k, s), m, n, k);
    for (let i = 0; i < want.length; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThan(1e-12);
  });

  it('with an outlier channel, W8A8 of the smoothed pair errs less than of the plain one', () => {
    const rng = new Rng(SEED + 1);
    const [m, n, k] = [32, 16, 128];
    const x = Float64Array.from(rng.normals(m * k));
    for (let i = 0; i < m; i++) x[i * k + 37]! *= 200; // one channel two orders above the rest
    const w = rng.normals(n * k, 0.05);
    const stats = new ChannelStats(k);
    stats.add(x, m);
    expect(stats.max[37]).toBe(Math.max(...Array.from({ length: m }, (_, i) => Math.abs(x[i * k + 37]!))));
    const want = matmulNT(x, w, m, n, k);
    const w8a8 = (xs: Float64Array, ws: Float64Array) =>
      matmulNT(fakeQuantSymmetric(xs, m, k, k, 127, false), fakeQuantSymmetric(ws, n, k, k, 127, true), m, n, k);
    const plain = rms(w8a8(x, Float64Array.from(w)), want);
    const s = smoothingFactors(stats.max, [w]);
    const smoothed = rms(w8a8(divideColumns(x, m, k, s), scaleColumns(w, n, k, s)), want);
    console.log(
      `W8A8 RMS error of X·Wᵀ with an outlier channel: plain ${plain.toExponential(2)}, smoothed ${smoothed.toExponential(2)}`,
    );
    expect(smoothed).toBeLessThan(plain / 3);
  });
});
