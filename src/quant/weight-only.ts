/**
 * Our weight-only formats (layout in formats.ts): per group of 128 values of a row, the scale and
 * zero point are chosen from the group's min and max (asymmetric round-to-nearest):
 * scale = (max − min) / (2^bits − 1), zero = round(−min / scale), both stored as f16, codes
 * q = clamp(round(x / scale + zero), 0, 2^bits − 1). The zero point is an integer, so it is exact
 * in f16 and x = scale · (q − zero) reproduces 0 exactly (padding and ReLU zeros stay zero).
 */
import { f16Bits, f16ToNumber } from '../tensor/dtype.js';
import { WEIGHT_ONLY_GROUP, scalePlaneOffset, weightBytes, whyShapeInvalid } from './formats.js';
import { roundHalfEven } from '../tensor/round-half-even.js';

const bitsOf = (format: 'w8' | 'w4') => (format === 'w8' ? 8 : 4);

export function quantizeWeightOnly(format: 'w8' | 'w4', x: ArrayLike<number>, n: number, k: number): Uint8Array {
  const why = whyShapeInvalid(format, n, k);
  if (why) throw new Error(`quantize ${format}: ${why}`);
  if (x.length !== n * k) throw new Error(`quantize ${format}: ${x.length} values for [${n}, ${k}]`);
  const bits = bitsOf(format);
  const qmax = 2 ** bits - 1;
  const out = new Uint8Array(weightBytes(format, n, k));
  const plane = new DataView(out.buffer, scalePlaneOffset(format, n, k));
  const groups = k / WEIGHT_ONLY_GROUP;
  for (let r = 0; r < n; r++) {
    for (let g = 0; g < groups; g++) {
      const base = r * k + g * WEIGHT_ONLY_GROUP;
      let lo = 0;
      let hi = 0;
      for (let i = 0; i < WEIGHT_ONLY_GROUP; i++) {
        lo = Math.min(lo, x[base + i]!);
        hi = Math.max(hi, x[base + i]!);
      }
      // The range always holds 0 (lo ≤ 0 ≤ hi), so the zero point lies in 0..qmax.
      const scale = f16ToNumber(f16Bits((hi - lo) / qmax));
      const zero = scale > 0 ? Math.min(qmax, Math.max(0, roundHalfEven(-lo / scale))) : 0;
      plane.setUint16(4 * (r * groups + g), f16Bits(scale), true);
      plane.setUint16(4 * (r * groups + g) + 2, f16Bits(zero), true);
      for (let i = 0; i < WEIGHT_ONLY_GROUP; i++) {
        const q = scale > 0 ? Math.min(qmax, Math.max(0, roundHalfEven(x[base + i]! / scale + zero))) : zero;
        const e = base + i;
        if (bits === 8) out[e] = q;
        else out[e >> 1] |= (e & 1 ? q << 4 : q) & 255;
      }
    }
  }
  return out;
}

/** The float64 values the stored codes stand for: scale · (q − zero), computed exactly. */
export function dequantizeWeightOnly(format: 'w8' | 'w4', bytes: Uint8Array, n: number, k: number): Float64Array {
  const why = whyShapeInvalid(format, n, k);
  if (why) throw new Error(`dequantize ${format}: ${why}`);
  if (bytes.length < weightBytes(format, n, k))
    throw new Error(`dequantize ${format}: ${bytes.length} bytes, [${n}, ${k}] needs ${weightBytes(format, n, k)}`);
  const plane = new DataView(bytes.buffer, bytes.byteOffset + scalePlaneOffset(format, n, k));
  const groups = k / WEIGHT_ONLY_GROUP;
  const out = new Float64Array(n * k);
  for (let e = 0; e < n * k; e++) {
    const r = Math.floor(e / k);
    const s = 4 * (r * groups + Math.floor((e % k) / WEIGHT_ONLY_GROUP));
    const scale = f16ToNumber(plane.getUint16(s, true));
    const zero = f16ToNumber(plane.getUint16(s + 2, true));
    const q = format === 'w8' ? bytes[e]! : (bytes[e >> 1]! >> (4 * (e & 1))) & 15;
    out[e] = scale * (q - zero);
  }
  return out;
}
