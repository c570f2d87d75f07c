/**
 * One entry point per direction for every format: float values → stored bytes (encodeWeights) and
 * stored bytes → the float64 values they stand for (decodeWeights, the oracle's dequantizer). The
 * ggml formats go through src/io's quantizers and its dequantizer, which matches ggml bit for bit.
 */
import { dequantizeToF32 } from '../io/gguf-dequantize.js';
import { encodeGgml } from '../io/gguf-quantize.js';
import type { GgmlTypeName } from '../io/gguf-types.js';
import { type QuantFormat, isWeightOnly, quantLayout, weightBytes, whyShapeInvalid } from './formats.js';
import { dequantizeWeightOnly, quantizeWeightOnly } from './weight-only.js';

/** The GGUF type name of a ggml format (the formats a GGUF tensor can carry as stored). */
export function ggmlTypeOf(format: QuantFormat): GgmlTypeName | null {
  return isWeightOnly(format) ? null : (quantLayout(format).label as GgmlTypeName);
}

/** The format a GGUF tensor of `type` is kept in, or null when its type is not kept quantized. */
export function formatOfGgmlType(type: GgmlTypeName): QuantFormat | null {
  const m: Partial<Record<GgmlTypeName, QuantFormat>> = { Q8_0: 'q8_0', Q4_0: 'q4_0', Q4_K: 'q4_k', Q6_K: 'q6_k' };
  return m[type] ?? null;
}

/** W [N, K] (row-major values) → the bytes of `format`. */
export function encodeWeights(format: QuantFormat, values: ArrayLike<number>, n: number, k: number): Uint8Array {
  const why = whyShapeInvalid(format, n, k);
  if (why) throw new Error(`encodeWeights ${format}: ${why}`);
  if (isWeightOnly(format)) return quantizeWeightOnly(format, values, n, k);
  return encodeGgml(ggmlTypeOf(format)!, values);
}

/** The stored bytes of W [N, K] → its values in float64 (exactly what the quantized math multiplies). */
export function decodeWeights(format: QuantFormat, bytes: Uint8Array, n: number, k: number): Float64Array {
  const why = whyShapeInvalid(format, n, k);
  if (why) throw new Error(`decodeWeights ${format}: ${why}`);
  const need = weightBytes(format, n, k);
  if (bytes.length < need)
    throw new Error(`decodeWeights ${format}: ${bytes.length} bytes, [${n}, ${k}] needs ${need}`);
  if (isWeightOnly(format)) return dequantizeWeightOnly(format, bytes, n, k);
  // ggml's dequantization is exact in f32 (see gguf-dequantize.ts), so widening loses nothing.
  const f32 = new Float32Array(n * k);
  dequantizeToF32(ggmlTypeOf(format)!, bytes.subarray(0, need), f32);
  return Float64Array.from(f32);
}
