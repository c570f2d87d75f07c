import { describe, expect, it } from 'vitest';
import {
  ATOM_GROUP,
  QMAX4,
  QMAX8,
  dequantizeW4a4Weights,
  quantizeW4a4Weights,
  unpackW4a4Weights,
  w4a4WeightBytes,
} from '../../src/quant/w4a4-format.js';
import { atomMatmulOp } from '../../src/quant/w4a4-ops.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { Rng } from '../../src/util/rng.js';

const seed = testSeed();

describe(`atom w4a4 weight layout (${seedNote(seed)})`, () => {
  it('refuses K below one 4-bit group plus the outlier group, naming the rule', () => {
    const xq = { dtype: 'i8' as const, shape: [1, 128] };
    const xs = { dtype: 'f32' as const, shape: [1, 1] };
    const w = { dtype: 'u8' as const, shape: [16] };
    expect(() => atomMatmulOp.outputs({ n: 1, k: 128 }, [xq, xs, w])).toThrow(/at least 256/);
  });

  it('stores 4.25 bits per weight at K = 4096 (4-bit groups, 128 INT8 channels, f16 scales)', () => {
    expect((8 * w4a4WeightBytes(16, 4096)) / (16 * 4096)).toBeCloseTo(4.25, 2);
  });

  it('keeps each value within half a step of its group scale, 4-bit before the outlier group and 8-bit in it', () => {
    const rng = new Rng(seed);
    const n = 3;
    const k = 3 * ATOM_GROUP;
    const w = rng.normals(n * k, 0.5);
    const bytes = quantizeW4a4Weights(w, n, k);
    const { q, scale } = unpackW4a4Weights(bytes, n, k);
    const deq = dequantizeW4a4Weights(bytes, n, k);
    for (let e = 0; e < n * k; e++) {
      const g = Math.floor((e % k) / ATOM_GROUP);
      const s = scale[Math.floor(e / k) * 3 + g]!;
      const qmax = g === 2 ? QMAX8 : QMAX4;
      expect(Math.abs(q[e]!)).toBeLessThanOrEqual(qmax);
      // the f16-rounded scale may clip the group's largest value by up to 2⁻¹¹ of it
      expect(Math.abs(deq[e]! - w[e]!)).toBeLessThanOrEqual(0.5 * s + 2 ** -11 * qmax * s);
    }
  });

  it('packs values j and j + 4 of each 8 into one byte, low nibble first', () => {
    const k = 2 * ATOM_GROUP;
    const w = new Float64Array(k);
    for (let c = 0; c < 8; c++) w[c] = c - 4;
    w[8] = 7; // absmax 7: the scale is 1, so every code equals its value
    const bytes = quantizeW4a4Weights(w, 1, k);
    const { q, scale } = unpackW4a4Weights(bytes, 1, k);
    expect(scale[0]).toBe(1);
    for (let c = 0; c < 8; c++) expect(q[c]).toBe(w[c]);
    expect(bytes[0]! & 15).toBe(q[0]! & 15);
    expect(bytes[0]! >> 4).toBe(q[4]! & 15);
  });
});
