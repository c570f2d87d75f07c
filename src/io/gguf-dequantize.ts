/**
 * Dequantization of ggml block formats to f32, bit-exact with ggml's reference (`dequantize_row_*`
 * in ggml-quants.c): every product below is exact in f32 (an f16 scale times a small integer),
 * so computing in float64 and rounding once with `Math.fround` gives the same bits as C's float
 * arithmetic, FMA-contracted or not.
 *
 * Layouts (little-endian, one block after another):
 *   Q8_0 (32 values, 34 bytes):  f16 d, int8 q[32];                   x = d·q
 *   Q4_0 (32 values, 18 bytes):  f16 d, u8 qs[16];                    x[j] = d·((qs[j] & 15) − 8), x[j+16] = d·((qs[j] >> 4) − 8)
 *   Q4_K (256 values, 144 bytes): f16 d, f16 dmin, u8 scales[12], u8 qs[128];
 *        8 sub-blocks of 32 with 6-bit scale sc and 6-bit min m packed in `scales`;
 *        x = d·sc·q − dmin·m, with q the low nibbles of 32 bytes for even sub-blocks and the
 *        high nibbles of the same 32 bytes for odd ones
 *   Q6_K (256 values, 210 bytes): u8 ql[128], u8 qh[64], int8 scales[16], f16 d;
 *        x = d·scale·(q − 32) with q's low 4 bits from ql and high 2 bits from qh
 */
import { f16ToNumber } from '../tensor/dtype.js';
import type { GgmlTypeName } from './gguf-types.js';

let f16Table: Float32Array | undefined;

/** All 65536 f16 values as f32: a table lookup beats decoding bits per element. */
export function f16ToF32Table(): Float32Array {
  if (f16Table === undefined) {
    f16Table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = f16ToNumber(h);
  }
  return f16Table;
}

const u16 = (b: Uint8Array, at: number) => b[at]! | (b[at + 1]! << 8);

export function dequantizeQ8_0(src: Uint8Array, dst: Float32Array): void {
  const half = f16ToF32Table();
  const blocks = dst.length / 32;
  for (let b = 0; b < blocks; b++) {
    const at = b * 34;
    const d = half[u16(src, at)]!;
    for (let j = 0; j < 32; j++) dst[b * 32 + j] = d * ((src[at + 2 + j]! << 24) >> 24);
  }
}

export function dequantizeQ4_0(src: Uint8Array, dst: Float32Array): void {
  const half = f16ToF32Table();
  const blocks = dst.length / 32;
  for (let b = 0; b < blocks; b++) {
    const at = b * 18;
    const d = half[u16(src, at)]!;
    const y = b * 32;
    for (let j = 0; j < 16; j++) {
      const q = src[at + 2 + j]!;
      dst[y + j] = d * ((q & 15) - 8);
      dst[y + j + 16] = d * ((q >> 4) - 8);
    }
  }
}

/**
 * The 6-bit scale and min of sub-block j (0..7) from Q4_K/Q5_K's 12 packed bytes: sub-blocks
 * 0–3 keep theirs in the low 6 bits of bytes j and j+4; sub-blocks 4–7 take 4 low bits from
 * byte j+4 (scale: low nibble, min: high nibble) and their top 2 bits from the spare top bits
 * of bytes j−4 (scale) and j (min).
 */
export function unpackScaleMinK4(scales: Uint8Array, at: number, j: number): [scale: number, min: number] {
  if (j < 4) return [scales[at + j]! & 63, scales[at + j + 4]! & 63];
  return [
    (scales[at + j + 4]! & 15) | ((scales[at + j - 4]! >> 6) << 4),
    (scales[at + j + 4]! >> 4) | ((scales[at + j]! >> 6) << 4),
  ];
}

export function dequantizeQ4_K(src: Uint8Array, dst: Float32Array): void {
  const half = f16ToF32Table();
  const blocks = dst.length / 256;
  for (let b = 0; b < blocks; b++) {
    const at = b * 144;
    const d = half[u16(src, at)]!;
    const dmin = half[u16(src, at + 2)]!;
    const qs = at + 16;
    for (let chunk = 0; chunk < 4; chunk++) {
      const [sc1, m1] = unpackScaleMinK4(src, at + 4, 2 * chunk);
      const [sc2, m2] = unpackScaleMinK4(src, at + 4, 2 * chunk + 1);
      const d1 = Math.fround(d * sc1),
        min1 = Math.fround(dmin * m1);
      const d2 = Math.fround(d * sc2),
        min2 = Math.fround(dmin * m2);
      const y = b * 256 + chunk * 64;
      const q = qs + chunk * 32;
      for (let l = 0; l < 32; l++) {
        const byte = src[q + l]!;
        dst[y + l] = d1 * (byte & 15) - min1;
        dst[y + 32 + l] = d2 * (byte >> 4) - min2;
      }
    }
  }
}

export function dequantizeQ6_K(src: Uint8Array, dst: Float32Array): void {
  const half = f16ToF32Table();
  const blocks = dst.length / 256;
  for (let b = 0; b < blocks; b++) {
    const at = b * 210;
    const d = half[u16(src, at + 208)]!;
    for (let n = 0; n < 2; n++) {
      const ql = at + n * 64;
      const qh = at + 128 + n * 32;
      const sc = at + 192 + n * 8;
      const y = b * 256 + n * 128;
      for (let l = 0; l < 32; l++) {
        const is = sc + (l >> 4);
        const h = src[qh + l]!;
        const q1 = ((src[ql + l]! & 15) | ((h & 3) << 4)) - 32;
        const q2 = ((src[ql + l + 32]! & 15) | (((h >> 2) & 3) << 4)) - 32;
        const q3 = ((src[ql + l]! >> 4) | (((h >> 4) & 3) << 4)) - 32;
        const q4 = ((src[ql + l + 32]! >> 4) | (((h >> 6) & 3) << 4)) - 32;
        // d·scale is exact in f32 (11 × 8 bits); times q it rounds once, as in C.
        dst[y + l] = d * ((src[is]! << 24) >> 24) * q1;
        dst[y + l + 32] = d * ((src[is + 2]! << 24) >> 24) * q2;
        dst[y + l + 64] = d * ((src[is + 4]! << 24) >> 24) * q3;
        dst[y + l + 96] = d * ((src[is + 6]! << 24) >> 24) * q4;
      }
    }
  }
}

/** f16 through the table; bf16 by shifting into the top half of an f32 (u32 view of dst). */
function widenHalf(src: Uint8Array, dst: Float32Array, kind: 'F16' | 'BF16'): void {
  const n = dst.length;
  // Reading through a Uint16Array needs 2-byte alignment; an odd offset copies first.
  const bits =
    src.byteOffset % 2 === 0
      ? new Uint16Array(src.buffer, src.byteOffset, n)
      : new Uint16Array(src.slice(0, 2 * n).buffer);
  if (kind === 'F16') {
    const t = f16ToF32Table();
    for (let i = 0; i < n; i++) dst[i] = t[bits[i]!]!;
  } else {
    const out = new Uint32Array(dst.buffer, dst.byteOffset, n);
    for (let i = 0; i < n; i++) out[i] = bits[i]! << 16;
  }
}

/**
 * Decodes `dst.length` values of a float ggml type from `src` into f32.
 *
 * @example
 * const out = new Float32Array(256); dequantizeToF32('Q4_K', blockBytes, out);
 */
export function dequantizeToF32(type: GgmlTypeName, src: Uint8Array, dst: Float32Array): void {
  switch (type) {
    case 'F32':
      new Uint8Array(dst.buffer, dst.byteOffset, dst.byteLength).set(src.subarray(0, dst.byteLength));
      return;
    case 'F16':
      widenHalf(src, dst, 'F16');
      return;
    case 'BF16':
      widenHalf(src, dst, 'BF16');
      return;
    case 'Q8_0':
      dequantizeQ8_0(src, dst);
      return;
    case 'Q4_0':
      dequantizeQ4_0(src, dst);
      return;
    case 'Q4_K':
      dequantizeQ4_K(src, dst);
      return;
    case 'Q6_K':
      dequantizeQ6_K(src, dst);
      return;
    default:
      throw new Error(`dequantizeToF32: ggml type ${type} is not implemented`);
  }
}
