import { describe, expect, it } from 'vitest';
import { decodeWeights, encodeWeights } from '../../src/quant/codec.js';
import { QUANT_FORMATS, WEIGHT_ONLY_GROUP, bitsPerWeight, weightBytes } from '../../src/quant/formats.js';
import { quantMatmulOp } from '../../src/quant/ops.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { Rng } from '../../src/util/rng.js';

const seed = testSeed();

describe(`quantized weight formats (${seedNote(seed)})`, () => {
  it('refuses K that is not whole blocks, naming the block', () => {
    const x = { dtype: 'f32' as const, shape: [1, 100] };
    const w = { dtype: 'u8' as const, shape: [1] };
    expect(() => quantMatmulOp.outputs({ format: 'q4_k', n: 4, k: 100 }, [x, w])).toThrow(
      /K = 100 is not a multiple of Q4_K's block of 256/,
    );
    expect(() => encodeWeights('w4', new Float64Array(4 * 100), 4, 100)).toThrow(/block of 128/);
  });

  it('refuses weight bytes of the wrong length', () => {
    const x = { dtype: 'f32' as const, shape: [2, 32] };
    const w = { dtype: 'u8' as const, shape: [33] };
    expect(() => quantMatmulOp.outputs({ format: 'q8_0', n: 1, k: 32 }, [x, w])).toThrow(/u8 \[34\]/);
  });

  it('stores the documented bits per weight', () => {
    expect(bitsPerWeight('q8_0')).toBe(8.5);
    expect(bitsPerWeight('q4_0')).toBe(4.5);
    expect(bitsPerWeight('q4_k')).toBe(4.5);
    expect(bitsPerWeight('q6_k')).toBe(6.5625);
    expect(bitsPerWeight('w8')).toBe(8.25);
    expect(bitsPerWeight('w4')).toBe(4.25);
  });

  for (const format of QUANT_FORMATS) {
    it(`${format}: decoding the encoded weights stays within the format's step`, () => {
      const rng = new Rng(seed);
      const n = 3;
      const k = 512;
      const x = rng.normals(n * k, 1);
      const bytes = encodeWeights(format, x, n, k);
      expect(bytes.length).toBe(weightBytes(format, n, k));
      const y = decodeWeights(format, bytes, n, k);
      // each group's error is at most about a step: range / levels (generous for the K-quants' 6-bit scales)
      const levels = { q8_0: 127, q4_0: 7, q4_k: 15, q6_k: 31, w8: 255, w4: 15 }[format];
      let worst = 0;
      for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i]! - y[i]!));
      expect(worst).toBeLessThan((2 * 4) / levels);
      expect(worst).toBeGreaterThan(0);
    });
  }

  it('weight-only formats keep an exact zero and the group boundaries', () => {
    const n = 2;
    const k = 2 * WEIGHT_ONLY_GROUP;
    const x = new Float64Array(n * k);
    for (let i = 0; i < x.length; i++) x[i] = i % 7 === 0 ? 0 : (i % WEIGHT_ONLY_GROUP) / 64 - 1 + Math.floor(i / k);
    for (const format of ['w8', 'w4'] as const) {
      const y = decodeWeights(format, encodeWeights(format, x, n, k), n, k);
      for (let i = 0; i < x.length; i += 7) expect(y[i]).toBe(0);
    }
  });
});
