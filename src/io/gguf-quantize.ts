/**
 * Quantizers into ggml block formats, so GGUF test files and fixtures carry real quantized data.
 *
 * Q8_0 and Q4_0 follow ggml's reference quantizers (absmax scale; Q4_0 maps the signed extreme
 * to −8). The K-quant quantizers here are deliberately simple — per-sub-block min/max (Q4_K) or
 * absmax (Q6_K), then 6/8-bit scales relative to the super-block scale — and do not run ggml's
 * iterative error search: they produce valid blocks with slightly larger error than llama.cpp's.
 * Dequantization (gguf-dequantize.ts) is what must match ggml bit for bit.
 */
import { bf16Bits, f16Bits, f16ToNumber } from '../tensor/dtype.js';
import { ggmlBlockLayout, type GgmlTypeName } from './gguf-types.js';

const f = Math.fround;

function putF16(out: Uint8Array, at: number, x: number): number {
  const h = f16Bits(x);
  out[at] = h & 255;
  out[at + 1] = h >> 8;
  return f16ToNumber(h);
}

/** Round half away from zero, as C's roundf. */
const roundf = (x: number) => Math.sign(x) * Math.round(Math.abs(x));

export function quantizeQ8_0(x: ArrayLike<number>): Uint8Array {
  const blocks = x.length / 32;
  const out = new Uint8Array(blocks * 34);
  for (let b = 0; b < blocks; b++) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[b * 32 + j]!));
    const d = f(amax / 127);
    const id = d ? f(1 / d) : 0;
    putF16(out, b * 34, d);
    for (let j = 0; j < 32; j++) out[b * 34 + 2 + j] = roundf(f(x[b * 32 + j]! * id)) & 255;
  }
  return out;
}

export function quantizeQ4_0(x: ArrayLike<number>): Uint8Array {
  const blocks = x.length / 32;
  const out = new Uint8Array(blocks * 18);
  for (let b = 0; b < blocks; b++) {
    // The signed value of largest magnitude becomes −8, so the other side gets the full +7.
    let amax = 0;
    let max = 0;
    for (let j = 0; j < 32; j++) {
      const v = x[b * 32 + j]!;
      if (Math.abs(v) > amax) {
        amax = Math.abs(v);
        max = v;
      }
    }
    const d = f(max / -8);
    const id = d ? f(1 / d) : 0;
    putF16(out, b * 18, d);
    for (let j = 0; j < 16; j++) {
      const q0 = Math.min(15, Math.trunc(f(f(x[b * 32 + j]! * id) + 8.5)));
      const q1 = Math.min(15, Math.trunc(f(f(x[b * 32 + j + 16]! * id) + 8.5)));
      out[b * 18 + 2 + j] = q0 | (q1 << 4);
    }
  }
  return out;
}

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));

export function quantizeQ4_K(x: ArrayLike<number>): Uint8Array {
  const blocks = x.length / 256;
  const out = new Uint8Array(blocks * 144);
  const scale = new Float64Array(8);
  const min = new Float64Array(8);
  for (let b = 0; b < blocks; b++) {
    const base = b * 256;
    for (let j = 0; j < 8; j++) {
      let lo = 0;
      let hi = -Infinity;
      for (let l = 0; l < 32; l++) {
        const v = x[base + 32 * j + l]!;
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
      scale[j] = (hi - lo) / 15;
      min[j] = -lo; // x ≈ scale·q − min with q in 0..15
    }
    const at = b * 144;
    const d = putF16(out, at, Math.max(...scale) / 63);
    const dmin = putF16(out, at + 2, Math.max(...min) / 63);
    const sc = Array.from(scale, (s) => (d > 0 ? clamp(Math.round(s / d), 0, 63) : 0));
    const m = Array.from(min, (v) => (dmin > 0 ? clamp(Math.round(v / dmin), 0, 63) : 0));
    for (let j = 0; j < 4; j++) {
      out[at + 4 + j] = sc[j]! | ((sc[j + 4]! >> 4) << 6);
      out[at + 8 + j] = m[j]! | ((m[j + 4]! >> 4) << 6);
      out[at + 12 + j] = (sc[j + 4]! & 15) | ((m[j + 4]! & 15) << 4);
    }
    for (let j = 0; j < 8; j++) {
      const ds = d * sc[j]!;
      const dm = dmin * m[j]!;
      for (let l = 0; l < 32; l++) {
        const q = ds > 0 ? clamp(Math.round((x[base + 32 * j + l]! + dm) / ds), 0, 15) : 0;
        const byte = at + 16 + (j >> 1) * 32 + l;
        out[byte] = j & 1 ? out[byte]! | (q << 4) : q;
      }
    }
  }
  return out;
}

export function quantizeQ6_K(x: ArrayLike<number>): Uint8Array {
  const blocks = x.length / 256;
  const out = new Uint8Array(blocks * 210);
  const scale = new Float64Array(16);
  for (let b = 0; b < blocks; b++) {
    const base = b * 256;
    for (let i = 0; i < 16; i++) {
      let amax = 0;
      for (let l = 0; l < 16; l++) amax = Math.max(amax, Math.abs(x[base + 16 * i + l]!));
      scale[i] = amax / 31;
    }
    const at = b * 210;
    const d = putF16(out, at + 208, Math.max(...scale) / 127);
    const sc = Array.from(scale, (s) => (d > 0 ? clamp(Math.round(s / d), 0, 127) : 0));
    for (let i = 0; i < 16; i++) out[at + 192 + i] = sc[i]!;
    for (let e = 0; e < 256; e++) {
      const s = d * sc[e >> 4]!;
      const q = (s > 0 ? clamp(Math.round(x[base + e]! / s), -32, 31) : 0) + 32;
      // Element e sits in half n, quarter k, lane l; see dequantizeQ6_K for the inverse.
      const n = e >> 7,
        k = (e >> 5) & 3,
        l = e & 31;
      const ql = at + n * 64 + l + (k & 1) * 32;
      out[ql] = k < 2 ? (out[ql]! & 0xf0) | (q & 15) : (out[ql]! & 0x0f) | ((q & 15) << 4);
      out[at + 128 + n * 32 + l] |= (q >> 4) << (2 * k);
    }
  }
  return out;
}

/**
 * Encodes float values as the bytes of a ggml tensor of `type` (length must be a multiple of the
 * type's block size).
 *
 * @example
 * const bytes = encodeGgml('Q8_0', weights); // 34 bytes per 32 weights
 */
export function encodeGgml(type: GgmlTypeName, values: ArrayLike<number>): Uint8Array {
  const { blockElements } = ggmlBlockLayout(type);
  if (values.length % blockElements !== 0)
    throw new Error(`encodeGgml: ${values.length} values are not a whole number of ${type} blocks of ${blockElements}`);
  const n = values.length;
  switch (type) {
    case 'F32':
      return new Uint8Array(Float32Array.from(values).buffer);
    case 'F16':
      return new Uint8Array(Uint16Array.from({ length: n }, (_, i) => f16Bits(values[i]!)).buffer);
    case 'BF16':
      return new Uint8Array(Uint16Array.from({ length: n }, (_, i) => bf16Bits(values[i]!)).buffer);
    case 'I8':
      return new Uint8Array(Int8Array.from(values).buffer);
    case 'I32':
      return new Uint8Array(Int32Array.from(values).buffer);
    case 'Q8_0':
      return quantizeQ8_0(values);
    case 'Q4_0':
      return quantizeQ4_0(values);
    case 'Q4_K':
      return quantizeQ4_K(values);
    case 'Q6_K':
      return quantizeQ6_K(values);
    default:
      throw new Error(`encodeGgml: no quantizer for ${type}`);
  }
}
