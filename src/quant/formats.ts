/**
 * Quantized weight formats as stored: the byte layout of a weight matrix W [N, K] (HF `Linear`
 * layout, y = x · Wᵀ) that the kernels read without converting it first.
 *
 * - ggml blocks (`q8_0`, `q4_0`, `q4_k`, `q6_k`): each row is K / block consecutive blocks, rows one
 *   after another — exactly the bytes of the GGUF tensor (ne0 = K, ne1 = N), so a GGUF file's tensor
 *   uploads unchanged. The block layouts are documented in src/io/gguf-dequantize.ts.
 * - weight-only `w8` / `w4` (group 128 along K, asymmetric): two planes in one byte string so that
 *   the codes start on 16-byte boundaries: first the codes, row-major (w8: one byte each; w4: two per
 *   byte, the element with the lower index in the low nibble), then one u32 per (row, group) holding
 *   two f16: scale (low half) and zero point (high half), with x = scale · (q − zero).
 */

export const QUANT_FORMATS = ['q8_0', 'q4_0', 'q4_k', 'q6_k', 'w8', 'w4'] as const;
export type QuantFormat = (typeof QUANT_FORMATS)[number];

/** Elements per group along K and bytes of codes per group (w8/w4: codes only; scales are a plane of their own). */
export interface QuantLayout {
  readonly block: number;
  readonly blockBytes: number;
  /** The name users know the format by (GGUF's type name or ours). */
  readonly label: string;
}

/** The weight-only group size: scales and zeros are per 128 consecutive values of a row. */
export const WEIGHT_ONLY_GROUP = 128;

const LAYOUTS: Record<QuantFormat, QuantLayout> = {
  q8_0: { block: 32, blockBytes: 34, label: 'Q8_0' },
  q4_0: { block: 32, blockBytes: 18, label: 'Q4_0' },
  q4_k: { block: 256, blockBytes: 144, label: 'Q4_K' },
  q6_k: { block: 256, blockBytes: 210, label: 'Q6_K' },
  w8: { block: WEIGHT_ONLY_GROUP, blockBytes: WEIGHT_ONLY_GROUP, label: 'W8 (group 128)' },
  w4: { block: WEIGHT_ONLY_GROUP, blockBytes: WEIGHT_ONLY_GROUP / 2, label: 'W4 (group 128)' },
};

export function quantLayout(format: QuantFormat): QuantLayout {
  const l = LAYOUTS[format];
  if (!l) throw new Error(`unknown quantized format '${format}'; known: ${QUANT_FORMATS.join(', ')}`);
  return l;
}

export function isQuantFormat(s: unknown): s is QuantFormat {
  return typeof s === 'string' && (QUANT_FORMATS as readonly string[]).includes(s);
}

export const isWeightOnly = (f: QuantFormat): f is 'w8' | 'w4' => f === 'w8' || f === 'w4';

/** Why W [N, K] cannot be stored in `format`, or null. */
export function whyShapeInvalid(format: QuantFormat, n: number, k: number): string | null {
  const { block, label } = quantLayout(format);
  if (!Number.isInteger(n) || n < 1) return `N = ${n} must be a positive integer`;
  if (!Number.isInteger(k) || k < 1) return `K = ${k} must be a positive integer`;
  if (k % block !== 0)
    return `K = ${k} is not a multiple of ${label}'s block of ${block}: a block never spans two rows, so K must be whole blocks`;
  return null;
}

/** Bytes of one row's codes (for ggml formats, the whole row). */
export function rowBytes(format: QuantFormat, k: number): number {
  const { block, blockBytes } = quantLayout(format);
  return (k / block) * blockBytes;
}

/** Byte offset of the scale plane (weight-only formats), also the size of the code plane. */
export function scalePlaneOffset(format: QuantFormat, n: number, k: number): number {
  return n * rowBytes(format, k);
}

/** Total stored bytes of W [N, K]. */
export function weightBytes(format: QuantFormat, n: number, k: number): number {
  const codes = n * rowBytes(format, k);
  return isWeightOnly(format) ? codes + n * (k / WEIGHT_ONLY_GROUP) * 4 : codes;
}

/** Average stored bits per weight (what the memory and bandwidth scale with). */
export function bitsPerWeight(format: QuantFormat, k = 4096): number {
  return (8 * weightBytes(format, 1, k)) / k;
}
