/**
 * Atom's W4A4 layout (issue 22): the input channels of a projection are reordered offline so that
 * the 128 channels with the largest activations come last; those 128 are the "outlier group", kept
 * in INT8 for both the weights and the activations, and every other group of 128 channels is 4-bit.
 * Quantization is symmetric (x ≈ scale · q, no zero point), so a group's dot product is an integer
 * Σ qx·qw times scale_x · scale_w, which is what `dot4I8Packed` computes four lanes at a time.
 *
 * Weights W [N, K] (K a multiple of 128, at least 256), three planes in one byte string, each
 * starting on a 16-byte boundary so the kernels read them as vec4<u32>:
 * - 4-bit codes of the K − 128 normal channels, row-major; each u32 holds 8 consecutive values:
 *   byte j (0..3) = value j in the low nibble, value j + 4 in the high nibble (two's complement),
 *   so `w & 0x0f0f0f0f` and `(w >> 4) & 0x0f0f0f0f` are the two words of four int8 lanes after
 *   sign extension;
 * - INT8 codes of the 128 outlier channels, row-major, one byte each;
 * - one f16 scale per (row, group), row-major, the outlier group's scale last in each row.
 *
 * Activations x [M, K] (same channel order) become i8 codes [M, K] (4-bit values in int8 lanes:
 * the integer kernel multiplies int8 lanes, so the narrower storage would only be unpacked again)
 * and f32 scales [M, K / 128].
 */
import { f16Bits, f16ToNumber } from '../tensor/dtype.js';
import { roundHalfEven } from '../tensor/round-half-even.js';

export const ATOM_GROUP = 128;
/** Channels kept in INT8 after reordering: the last group. */
export const ATOM_OUTLIERS = 128;
/** Largest code of the symmetric 4-bit and 8-bit ranges (−7..7 and −127..127: symmetric around 0). */
export const QMAX4 = 7;
export const QMAX8 = 127;

/** Why W [N, K] (or activations with K channels) cannot use the W4A4 layout, or null. */
export function whyW4a4ShapeInvalid(n: number, k: number): string | null {
  if (!Number.isInteger(n) || n < 1) return `N = ${n} must be a positive integer`;
  if (!Number.isInteger(k) || k < 2 * ATOM_GROUP || k % ATOM_GROUP !== 0)
    return `K = ${k} must be a multiple of ${ATOM_GROUP} and at least ${2 * ATOM_GROUP} (one 4-bit group and the INT8 outlier group)`;
  return null;
}

export const groupsOf = (k: number): number => k / ATOM_GROUP;
export const qmaxOfGroup = (g: number, k: number): number => (g === groupsOf(k) - 1 ? QMAX8 : QMAX4);

/** Byte offsets of the three planes and the total size of W [N, K]. */
export function w4a4Planes(n: number, k: number): { codes8: number; scales: number; bytes: number } {
  const codes8 = (n * (k - ATOM_OUTLIERS)) / 2;
  const scales = codes8 + n * ATOM_OUTLIERS;
  const bytes = scales + Math.ceil((n * groupsOf(k) * 2) / 16) * 16;
  return { codes8, scales, bytes };
}

export const w4a4WeightBytes = (n: number, k: number): number => w4a4Planes(n, k).bytes;

/** Symmetric round-to-nearest of one group given its (already representable) scale. */
function code(x: number, scale: number, qmax: number): number {
  return scale > 0 ? Math.max(-qmax, Math.min(qmax, roundHalfEven(x / scale))) : 0;
}

/**
 * W [N, K] (channels already in the reordered order) → the W4A4 bytes. Each group's scale is
 * absmax / qmax rounded to f16 first, and the codes are taken against that rounded scale.
 */
export function quantizeW4a4Weights(w: ArrayLike<number>, n: number, k: number): Uint8Array {
  const why = whyW4a4ShapeInvalid(n, k);
  if (why) throw new Error(`quantize w4a4: ${why}`);
  if (w.length !== n * k) throw new Error(`quantize w4a4: ${w.length} values for [${n}, ${k}]`);
  const { codes8, scales, bytes } = w4a4Planes(n, k);
  const out = new Uint8Array(bytes);
  const sv = new DataView(out.buffer, scales);
  const G = groupsOf(k);
  const k4 = k - ATOM_OUTLIERS;
  for (let r = 0; r < n; r++)
    for (let g = 0; g < G; g++) {
      const qmax = qmaxOfGroup(g, k);
      let amax = 0;
      for (let i = 0; i < ATOM_GROUP; i++) amax = Math.max(amax, Math.abs(w[r * k + g * ATOM_GROUP + i]!));
      const scale = f16ToNumber(f16Bits(amax / qmax));
      sv.setUint16(2 * (r * G + g), f16Bits(scale), true);
      for (let i = 0; i < ATOM_GROUP; i++) {
        const c = g * ATOM_GROUP + i;
        const q = code(w[r * k + c]!, scale, qmax);
        if (g === G - 1) out[codes8 + r * ATOM_OUTLIERS + i] = q & 255;
        else {
          const word = (r * k4 + c) >> 3;
          const lane = c & 7;
          out[4 * word + (lane & 3)] |= (q & 15) << (lane >= 4 ? 4 : 0);
        }
      }
    }
  return out;
}

/** The integer codes [N, K] and f16 scales [N, G] (as numbers) stored in W4A4 bytes. */
export function unpackW4a4Weights(bytes: Uint8Array, n: number, k: number): { q: Int32Array; scale: Float64Array } {
  const why = whyW4a4ShapeInvalid(n, k);
  if (why) throw new Error(`unpack w4a4: ${why}`);
  const { codes8, scales, bytes: need } = w4a4Planes(n, k);
  if (bytes.length < need) throw new Error(`unpack w4a4: ${bytes.length} bytes, [${n}, ${k}] needs ${need}`);
  const G = groupsOf(k);
  const k4 = k - ATOM_OUTLIERS;
  const q = new Int32Array(n * k);
  const scale = new Float64Array(n * G);
  const sv = new DataView(bytes.buffer, bytes.byteOffset + scales);
  for (let r = 0; r < n; r++) {
    for (let g = 0; g < G; g++) scale[r * G + g] = f16ToNumber(sv.getUint16(2 * (r * G + g), true));
    for (let c = 0; c < k4; c++) {
      const word = (r * k4 + c) >> 3;
      const lane = c & 7;
      const nib = (bytes[4 * word + (lane & 3)]! >> (lane >= 4 ? 4 : 0)) & 15;
      q[r * k + c] = nib >= 8 ? nib - 16 : nib;
    }
    for (let i = 0; i < ATOM_OUTLIERS; i++) q[r * k + k4 + i] = (bytes[codes8 + r * ATOM_OUTLIERS + i]! << 24) >> 24;
  }
  return { q, scale };
}

/** The float64 values W4A4 bytes stand for: scale · q, exactly. */
export function dequantizeW4a4Weights(bytes: Uint8Array, n: number, k: number): Float64Array {
  const { q, scale } = unpackW4a4Weights(bytes, n, k);
  const G = groupsOf(k);
  const out = new Float64Array(n * k);
  for (let e = 0; e < n * k; e++) out[e] = q[e]! * scale[Math.floor(e / k) * G + Math.floor((e % k) / ATOM_GROUP)]!;
  return out;
}

/**
 * Per-token activation quantization in float64 (the oracle's and the calibration's): per row and
 * group, scale = absmax / qmax, q = round(x / scale) clamped to ±qmax. Codes [M, K], scales [M, G].
 */
export function quantizeActivations(
  x: ArrayLike<number>,
  m: number,
  k: number,
): { q: Int32Array; scale: Float64Array } {
  const G = groupsOf(k);
  const q = new Int32Array(m * k);
  const scale = new Float64Array(m * G);
  for (let r = 0; r < m; r++)
    for (let g = 0; g < G; g++) {
      const qmax = qmaxOfGroup(g, k);
      let amax = 0;
      for (let i = 0; i < ATOM_GROUP; i++) amax = Math.max(amax, Math.abs(x[r * k + g * ATOM_GROUP + i]!));
      const s = amax / qmax;
      scale[r * G + g] = s;
      for (let i = 0; i < ATOM_GROUP; i++)
        q[r * k + g * ATOM_GROUP + i] = code(x[r * k + g * ATOM_GROUP + i]!, s, qmax);
    }
  return { q, scale };
}
