import { describe, expect, it } from 'vitest';
import {
  multiplyByQuantizedMultiplier,
  quantizeMultiplier,
  roundingDivideByPowerOfTwo,
  saturatingRoundingDoublingHighMul,
} from '../../src/mcu/quant/requantize.js';
import { SeededRandom } from '../../src/mcu/graph/seeded-random.js';

/** gemmlowp's definition written with BigInt: the oracle for the split-double version. */
function srdhmBig(a: number, b: number): number {
  if (a === -2147483648 && b === -2147483648) return 2147483647;
  const ab = BigInt(a) * BigInt(b);
  const nudge = ab >= 0n ? 1n << 30n : 1n - (1n << 30n);
  return Number((ab + nudge) / (1n << 31n)); // BigInt division truncates toward zero, like C
}

function rdbpBig(x: number, e: number): number {
  // Round half away from zero of x / 2^e.
  const d = 2 ** e;
  const q = Math.trunc(x / d);
  const r = Math.abs(x - q * d);
  return (r * 2 >= d && r !== 0 ? q + Math.sign(x) : q) + 0; // + 0 folds −0 into 0
}

describe('requantization arithmetic', () => {
  const edges = [-2147483648, -2147483647, -65537, -65536, -1, 0, 1, 32767, 65535, 1073741824, 2147483647];

  it('matches the BigInt definition of SaturatingRoundingDoublingHighMul', () => {
    const rng = new SeededRandom(1);
    const vals = [...edges];
    for (let i = 0; i < 400; i++) vals.push(rng.int(-2147483648, 2147483647), rng.int(-70000, 70000));
    for (const a of vals)
      for (const b of edges.concat(vals.slice(0, 40))) {
        expect(saturatingRoundingDoublingHighMul(a, b)).toBe(srdhmBig(a, b));
      }
  });

  it('rounds right shifts half away from zero', () => {
    const rng = new SeededRandom(2);
    for (let i = 0; i < 2000; i++) {
      const x = i < 64 ? i - 32 : rng.int(-2147483647, 2147483647);
      const e = i % 32;
      expect(roundingDivideByPowerOfTwo(x, e)).toBe(rdbpBig(x, e));
    }
    expect(roundingDivideByPowerOfTwo(3, 1)).toBe(2);
    expect(roundingDivideByPowerOfTwo(-3, 1)).toBe(-2);
  });

  it('quantizes real multipliers to a Q31 mantissa in [2^30, 2^31) and a right shift', () => {
    for (const real of [0.999999, 0.75, 0.5, 0.25, 1e-3, 3.3e-7]) {
      const q = quantizeMultiplier(real);
      expect(q.multiplier).toBeGreaterThanOrEqual(2 ** 30);
      expect(q.multiplier).toBeLessThan(2 ** 31);
      expect(q.shift).toBeLessThanOrEqual(0);
      expect(Math.abs(q.multiplier * 2 ** (q.shift - 31) - real) / real).toBeLessThan(1e-9);
    }
    expect(() => quantizeMultiplier(1.5)).toThrow(/\(0, 1\)/);
  });

  it('scales accumulators like TFLite and refuses left shifts', () => {
    const half = quantizeMultiplier(0.5);
    expect(multiplyByQuantizedMultiplier(101, half.multiplier, half.shift)).toBe(51);
    // TFLite's nudge for negative products is 1 − 2^30, so an exact negative half rounds toward zero.
    expect(multiplyByQuantizedMultiplier(-101, half.multiplier, half.shift)).toBe(-50);
    expect(() => multiplyByQuantizedMultiplier(1, 1 << 30, 2)).toThrow(/shift/);
  });
});
