import { describe, expect, it } from 'vitest';
import {
  dequantizeQ4_0,
  dequantizeQ4_K,
  dequantizeQ6_K,
  dequantizeQ8_0,
  dequantizeToF32,
  unpackScaleMinK4,
} from '../../src/io/gguf-dequantize.js';
import { encodeGgml, quantizeQ4_0 } from '../../src/io/gguf-quantize.js';
import type { GgmlTypeName } from '../../src/io/gguf-types.js';
import { bf16Bits, f16Bits } from '../../src/tensor/dtype.js';
import { Rng } from '../../src/util/rng.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';

// Expected values below are worked out by hand from ggml's block layouts, not by running our code.

describe('ggml block formats decode bit-exactly', () => {
  it('Q8_0: f16 scale then 32 int8', () => {
    const block = new Uint8Array(34);
    block.set([0x66, 0x2e], 0); // d = f16 0x2E66 = 0.0999755859375
    block[2] = 0xf9; // -7
    block[3] = 0x80; // -128
    block[33] = 0x7f; // 127
    const out = new Float32Array(32);
    dequantizeQ8_0(block, out);
    expect(out[0]).toBe(Math.fround(-7 * 0.0999755859375));
    expect(out[1]).toBe(Math.fround(-128 * 0.0999755859375));
    expect(out[31]).toBe(Math.fround(127 * 0.0999755859375));
    expect(out[2]).toBe(0);
  });

  it('Q4_0: f16 scale then 16 bytes, low nibbles are elements 0–15, high nibbles 16–31, offset −8', () => {
    const block = new Uint8Array(18);
    block.set([0x00, 0x40], 0); // d = 2
    block[2] = 0x0f; // element 0: 15 − 8 = 7; element 16: 0 − 8 = −8
    block[17] = 0x98; // element 15: 8 − 8 = 0; element 31: 9 − 8 = 1
    const out = new Float32Array(32);
    dequantizeQ4_0(block, out);
    expect(out[0]).toBe(14);
    expect(out[16]).toBe(-16);
    expect(out[15]).toBe(0);
    expect(out[31]).toBe(2);
    expect(out[1]).toBe(-16); // a zero byte is −8 in both nibbles
  });

  it('Q4_0 quantization maps the signed extreme to −8, as ggml does', () => {
    const x = new Float32Array(32);
    x[0] = 1;
    x[1] = -1;
    x[2] = 0.5;
    const out = new Float32Array(32);
    dequantizeQ4_0(quantizeQ4_0(x), out);
    expect(out[0]).toBe(1); // d = 1 / −8: 1.0 is q = 0
    expect(out[1]).toBe(-0.875); // −1.0 would be q = 16: clamped to 15
    expect(out[2]).toBe(0.5);
  });

  // sc = [1, 2, 3, 4, 63, 17, 33, 48], m = [5, 6, 7, 8, 9, 40, 0, 63], packed by hand.
  const scalesK4 = [193, 66, 131, 196, 5, 134, 7, 200, 159, 129, 1, 240];

  it('Q4_K: unpacks the 12 bytes of 6-bit scales and mins, including the split high bits of sub-blocks 4–7', () => {
    const bytes = Uint8Array.from(scalesK4);
    const got = Array.from({ length: 8 }, (_, j) => unpackScaleMinK4(bytes, 0, j));
    expect(got).toEqual([
      [1, 5],
      [2, 6],
      [3, 7],
      [4, 8],
      [63, 9],
      [17, 40],
      [33, 0],
      [48, 63],
    ]);
  });

  it('Q4_K: x = d·sc·q − dmin·m, even sub-blocks from low nibbles, odd from high nibbles of the same 32 bytes', () => {
    const block = new Uint8Array(144);
    block.set([0x00, 0x3c, 0x00, 0x38], 0); // d = 1, dmin = 0.5
    block.set(scalesK4, 4);
    block.fill(0xa3, 16); // low nibble 3, high nibble 10
    block[16 + 5] = 0x70; // element 5: low 0; element 37: high 7
    const out = new Float32Array(256);
    dequantizeQ4_K(block, out);
    const perSubBlock = [0.5, 17, 5.5, 36, 184.5, 150, 99, 448.5];
    for (let j = 0; j < 8; j++) {
      for (let l = 0; l < 32; l++) {
        const e = 32 * j + l;
        if (e === 5 || e === 37) continue;
        expect(out[e]).toBe(perSubBlock[j]);
      }
    }
    expect(out[5]).toBe(-2.5);
    expect(out[37]).toBe(11);
  });

  it('Q6_K: low 4 bits from ql, high 2 bits from qh, int8 scale per 16 values, f16 d last, offset −32', () => {
    const block = new Uint8Array(210);
    const sc = [1, 2, 3, 4, 5, -3, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];
    sc.forEach((s, i) => (block[192 + i] = s & 255));
    block.set([0x00, 0x34], 208); // d = 0.25
    block[0] = 0x21; // element 0 low nibble 1, element 64 low nibble 2
    block[32] = 0x5f; // element 32 low nibble 15, element 96 low nibble 5
    block[128] = 0xe4; // high bits: element 0 → 0, element 32 → 1, element 64 → 2, element 96 → 3
    block[64 + 16] = 0x0c; // element 128 + 16: low nibble 12, high 0 → q = 12 − 32 = −20
    const out = new Float32Array(256);
    dequantizeQ6_K(block, out);
    expect(out[0]).toBe(0.25 * 1 * (1 - 32));
    expect(out[32]).toBe(0.25 * 3 * (31 - 32));
    expect(out[64]).toBe(0.25 * 5 * (34 - 32));
    expect(out[96]).toBe(0.25 * 7 * (53 - 32));
    expect(out[16]).toBe(0.25 * 2 * -32); // second scale covers elements 16–31
    expect(out[80]).toBe(0.25 * -3 * -32); // element 80 is the 6th group of 16: negative scale
    expect(out[144]).toBe(0.25 * 10 * -20);
  });

  it('F16 and BF16 widen exactly', () => {
    const values = [0, -0, 1.5, -65504, 6.103515625e-5, 5.960464477539063e-8, Infinity];
    const f16 = new Uint8Array(Uint16Array.from(values, f16Bits).buffer);
    const out = new Float32Array(values.length);
    dequantizeToF32('F16', f16, out);
    expect(Array.from(out)).toEqual(values);
    const bf = new Uint8Array(Uint16Array.from([1.5, -3.140625, 1e30], bf16Bits).buffer);
    const outBf = new Float32Array(3);
    dequantizeToF32('BF16', bf, outBf);
    expect(outBf[0]).toBe(1.5);
    expect(outBf[1]).toBe(-3.140625);
    expect(Math.abs(outBf[2]! / 1e30 - 1)).toBeLessThan(1 / 128);
    const odd = new Uint8Array(f16.byteLength + 1);
    odd.set(f16, 1); // bytes at an odd offset cannot be viewed as 16-bit words
    const outOdd = new Float32Array(values.length);
    dequantizeToF32('F16', odd.subarray(1), outOdd);
    expect(Array.from(outOdd)).toEqual(values);
  });
});

describe('quantize → dequantize round trips on random data', () => {
  const seed = testSeed();
  const cases: [GgmlTypeName, number][] = [
    ['Q8_0', 0.01],
    ['Q6_K', 0.03],
    ['Q4_0', 0.12],
    ['Q4_K', 0.12],
  ];
  for (const [type, maxRelRms] of cases) {
    it(`${type} keeps relative RMS error under ${maxRelRms} (${seedNote(seed)})`, () => {
      const rng = new Rng(seed);
      const n = 256 * 7;
      const x = new Float32Array(n);
      for (let i = 0; i < n; i++) x[i] = rng.normal() * (i % 256 < 32 ? 5 : 0.3) + (type === 'Q4_K' ? 0.2 : 0); // outlier sub-blocks, an offset
      const out = new Float32Array(n);
      dequantizeToF32(type, encodeGgml(type, x), out);
      let err = 0;
      let ref = 0;
      for (let i = 0; i < n; i++) {
        expect(Number.isFinite(out[i]!)).toBe(true);
        err += (out[i]! - x[i]!) ** 2;
        ref += x[i]! ** 2;
      }
      expect(Math.sqrt(err / ref)).toBeLessThan(maxRelRms);
    });
  }

  it('all-zero blocks stay exactly zero (no 0/0)', () => {
    for (const type of ['Q8_0', 'Q4_0', 'Q4_K', 'Q6_K'] as const) {
      const out = new Float32Array(256).fill(NaN);
      dequantizeToF32(type, encodeGgml(type, new Float32Array(256)), out);
      expect(out.every((v) => v === 0)).toBe(true);
    }
  });

  it('refuses a value count that is not whole blocks', () => {
    expect(() => encodeGgml('Q4_K', new Float32Array(100))).toThrow(/not a whole number of Q4_K blocks of 256/);
  });
});
