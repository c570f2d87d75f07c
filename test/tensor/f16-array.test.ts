/**
 * The bulk f32 → f16 conversion gives the bits of the scalar `f16Bits` (the reference, tested in
 * dtype.test.ts) for every class of input: normal values with ties, subnormals, the overflow edge,
 * signed zeros, infinities, NaN, and random bit patterns over the whole f32 range.
 */
import { describe, expect, it } from 'vitest';
import { f16Bits } from '../../src/tensor/dtype.js';
import { f16FromF32 } from '../../src/tensor/f16-array.js';
import { Rng } from '../../src/util/rng.js';

const SEED = 1606;

describe('f16FromF32', () => {
  it('matches f16Bits on edge values and random bit patterns', () => {
    console.log(`[f16-array] seed ${SEED}`);
    const edges = [
      0,
      -0,
      1,
      -1,
      65504,
      65519.99,
      65520,
      -65520,
      6.1e-5,
      5.96e-8,
      2.98e-8,
      2.99e-8,
      1e-10,
      1 + 2 ** -11,
    ];
    edges.push(1 + 3 * 2 ** -11, Infinity, -Infinity, NaN, 2 ** -14 - 2 ** -25, 0.1, -3.3);
    const rng = new Rng(SEED);
    const bits = Uint32Array.from({ length: 20000 }, () => rng.int(0, 0xffffffff) >>> 0);
    const random = new Float32Array(bits.buffer);
    const src = new Float32Array([...edges, ...random]);
    const got = f16FromF32(src);
    const want = Array.from(src, (x) => f16Bits(x));
    for (let i = 0; i < src.length; i++) {
      // NaN payloads may differ; a NaN must stay a NaN
      if (Number.isNaN(src[i]!)) expect(got[i]! & 0x7c00, `NaN at ${i}`).toBe(0x7c00);
      else expect(got[i], `value ${src[i]} (index ${i})`).toBe(want[i]);
    }
  });

  it('refuses an output shorter than its input', () => {
    expect(() => f16FromF32(new Float32Array(3), new Uint16Array(2))).toThrow(/2 outputs for 3 inputs/);
  });
});
