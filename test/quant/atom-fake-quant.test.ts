import { describe, expect, it } from 'vitest';
import { fakeQuantKv, fakeQuantSymmetric } from '../../src/quant/atom-fake-quant.js';
import { outlierPermutation, permuteColumns } from '../../src/quant/atom-reorder.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { Rng } from '../../src/util/rng.js';

const seed = testSeed();

describe(`atom fake quantization and reordering (${seedNote(seed)})`, () => {
  it('KV: each head vector within half a step of its own range, 8 bits closer than 4', () => {
    const rng = new Rng(seed);
    const [t, h, d] = [5, 3, 32];
    const x = rng.normals(t * h * d, 2);
    const err = (bits: 4 | 8) => {
      const q = fakeQuantKv(x, t, h, d, bits);
      let worst = 0;
      for (let v = 0; v < t * h; v++) {
        const seg = Array.from(x.subarray(v * d, (v + 1) * d));
        const step = (Math.max(0, ...seg) - Math.min(0, ...seg)) / (2 ** bits - 1);
        for (let i = 0; i < d; i++) {
          const e = Math.abs(q[v * d + i]! - x[v * d + i]!) / step;
          worst = Math.max(worst, e);
        }
      }
      return worst;
    };
    // half a step, plus the f16 rounding of the scale over up to 2^bits steps
    expect(err(4)).toBeLessThanOrEqual(0.5 + 16 * 2 ** -11);
    expect(err(8)).toBeLessThanOrEqual(0.5 + 256 * 2 ** -11);
    const mean = (bits: 4 | 8) => {
      const q = fakeQuantKv(x, t, h, d, bits);
      return q.reduce((s, v, i) => s + Math.abs(v - x[i]!), 0) / q.length;
    };
    expect(mean(8)).toBeLessThan(mean(4) / 8);
  });

  it('symmetric groups: codes within ±qmax and zeros stay zero', () => {
    const rng = new Rng(seed + 1);
    const x = rng.normals(2 * 256, 1);
    x[3] = 0;
    const q = fakeQuantSymmetric(x, 2, 256, 128, 7, false);
    expect(q[3]).toBe(0);
    for (let r = 0; r < 2; r++)
      for (let g = 0; g < 2; g++) {
        const seg = x.subarray(r * 256 + g * 128, r * 256 + (g + 1) * 128);
        const s = Math.max(...Array.from(seg, Math.abs)) / 7;
        for (let i = 0; i < 128; i++) {
          const e = r * 256 + g * 128 + i;
          expect(Math.abs(q[e]! / s - Math.round(q[e]! / s))).toBeLessThan(1e-9);
          expect(Math.abs(q[e]! - x[e]!)).toBeLessThanOrEqual(0.5 * s + 1e-12);
        }
      }
  });

  it('the outlier permutation keeps the cold channels in order and the product unchanged', () => {
    const rng = new Rng(seed + 2);
    const k = 384;
    const mean = rng.normals(k, 1).map(Math.abs);
    const perm = outlierPermutation(mean);
    expect([...perm].sort((a, b) => a - b)).toEqual(Array.from({ length: k }, (_, i) => i));
    const cold = [...perm.subarray(0, k - 128)];
    expect(cold).toEqual([...cold].sort((a, b) => a - b));
    const [m, n] = [3, 5];
    const x = rng.normals(m * k, 1);
    const w = rng.normals(n * k, 1);
    const xp = permuteColumns(x, m, k, perm);
    const wp = permuteColumns(w, n, k, perm);
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        let a = 0;
        let b = 0;
        for (let c = 0; c < k; c++) {
          a += x[i * k + c]! * w[j * k + c]!;
          b += xp[i * k + c]! * wp[j * k + c]!;
        }
        expect(Math.abs(a - b)).toBeLessThan(1e-10);
      }
  });
});
