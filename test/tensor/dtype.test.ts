import { describe, expect, it } from 'vitest';
import { bf16Bits, bf16ToNumber, f16Bits, f16ToNumber, roundTo, toFloat64, toHost } from '../../src/tensor/dtype.js';
import { Rng } from '../../src/util/rng.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';

describe('half-precision conversion', () => {
  it('encodes known f16 values', () => {
    expect(f16Bits(1)).toBe(0x3c00);
    expect(f16Bits(-2)).toBe(0xc000);
    expect(f16Bits(65504)).toBe(0x7bff);
    expect(f16Bits(65520)).toBe(0x7c00); // rounds to infinity
    expect(f16Bits(2 ** -24)).toBe(0x0001); // smallest subnormal
    expect(f16Bits(NaN) & 0x7c00).toBe(0x7c00);
    expect(f16ToNumber(0x3555)).toBeCloseTo(0.33325, 5);
  });
  it('rounds f16 to nearest even', () => {
    expect(f16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie → even
    expect(f16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie → even (up)
  });
  it('encodes known bf16 values and rounds to nearest even', () => {
    expect(bf16Bits(1)).toBe(0x3f80);
    expect(bf16ToNumber(0x4049)).toBeCloseTo(3.140625, 6);
    expect(bf16Bits(1 + 2 ** -8)).toBe(0x3f80);
    expect(bf16Bits(1 + 3 * 2 ** -8)).toBe(0x3f82);
  });
  const seed = testSeed();
  it(`round-trips random values within half an ulp (${seedNote(seed)})`, () => {
    const rng = new Rng(seed);
    for (let i = 0; i < 2000; i++) {
      const x = rng.normal() * 10 ** rng.int(-3, 3);
      expect(Math.abs(roundTo('f16', x) - x)).toBeLessThanOrEqual(Math.max(Math.abs(x) * 2 ** -11, 2 ** -25) * 1.0001);
      expect(Math.abs(roundTo('bf16', x) - x)).toBeLessThanOrEqual(Math.abs(x) * 2 ** -8 * 1.0001);
    }
  });
  it('converts host arrays both ways', () => {
    const v = [0.5, -1.25, 3];
    for (const d of ['f32', 'f16', 'bf16'] as const) expect([...toFloat64(d, toHost(d, v))]).toEqual(v);
    expect([...toFloat64('i8', toHost('i8', [-128, 127]))]).toEqual([-128, 127]);
  });
});
