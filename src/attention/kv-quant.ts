/**
 * The quantized KV cache: K and V pages in 8 or 4 bits with one asymmetric (scale, zero) pair per
 * (token, head) row, so a row dequantizes as x ≈ scale · q + zero, q ∈ [0, 2^bits − 1].
 *
 * Why per (token, head) and asymmetric: it is Atom's KV scheme (group = head dim). One pair per row
 * keeps the parameters at one u32 per row (4-bit rows of 128 dims stay 17 words against f16's 64,
 * 3.8× the tokens per byte); a token's row is written once, by the step that computed it, so its
 * range is known exactly then and needs no calibration; and asymmetric ranges matter for 4 bits:
 * RoPE'd keys are far from zero-centred per row, and a symmetric grid would waste half its 16 levels.
 *
 * Pool layout: a u32 tensor `[numPages, pageWords]`. Page p holds, in u32 words from p · pageWords:
 * - the codes, `2 · P · H` rows of `RW = headDim · bits / 32` words, K rows then V rows, rows in the
 *   float pool's order (NHD: slot · H + head, HND: head · P + slot); element e of a row is byte e
 *   (8-bit) or nibble e (4-bit, low nibble first) of the row's little-endian words;
 * - then the parameters, one word per row in the same order: `pack2x16float(scale, zero)`;
 * - padding to a multiple of 4 words, so every page and code row starts on a 16-byte boundary.
 * The scale is rounded up and the zero down when they are rounded to f16, so every value of the
 * row lies on the grid's span and the error is at most scale / 2.
 *
 * The perplexity ablation's KV fake quantization (src/quant/atom-fake-quant.ts `fakeQuantKv`, also
 * `tessera eval ppl --kv-cache`) is the textbook variant of the same scheme: an integer zero point
 * and a range stretched to include 0. Its step is never smaller than this format's (the same where
 * a row straddles zero, as RoPE'd keys mostly do), so its figures are conservative for this cache.
 */
import { f16Bits, f16ToNumber } from '../tensor/dtype.js';
import type { DType } from '../tensor/dtype.js';
import { type KvLayout, type PoolGeometry, poolGeometry, poolOffset } from './kv-layout.js';
import { roundHalfEven } from '../tensor/round-half-even.js';

export type KvQuantDtype = 'int8' | 'int4';
/** What a KV pool stores: a float dtype, or codes of one of the quantized formats. */
export type KvDtype = DType | KvQuantDtype;
/** The `--kv-cache` choices. */
export type KvCacheDtype = 'f16' | KvQuantDtype;
export const KV_CACHE_DTYPES: readonly KvCacheDtype[] = ['f16', 'int8', 'int4'];

export const isQuantKv = (d: KvDtype): d is KvQuantDtype => d === 'int8' || d === 'int4';
export const kvBits = (d: KvQuantDtype): 8 | 4 => (d === 'int8' ? 8 : 4);

/** The geometry of a quantized pool, which its `[numPages, pageWords]` shape cannot carry. */
export interface KvQuantSpec {
  readonly dtype: KvQuantDtype;
  readonly numKvHeads: number;
  readonly pageSize: number;
  readonly headDim: number;
}

/** Head dims a quantized pool takes: rows of whole 16-byte words. */
export function kvQuantProblem(dtype: KvQuantDtype, headDim: number): string | null {
  const need = dtype === 'int8' ? 16 : 32;
  return headDim % need === 0
    ? null
    : `a ${dtype} KV cache needs a head dim that is a multiple of ${need}, got ${headDim}`;
}

export interface QuantPageGeometry {
  /** u32 words of one code row. */
  readonly rowWords: number;
  /** u32 words from a page's start to its parameter words. */
  readonly paramOffset: number;
  readonly pageWords: number;
}

export function quantPage(s: KvQuantSpec): QuantPageGeometry {
  const rows = 2 * s.pageSize * s.numKvHeads;
  const rowWords = (s.headDim * kvBits(s.dtype)) / 32;
  const paramOffset = rows * rowWords;
  return { rowWords, paramOffset, pageWords: Math.ceil((paramOffset + rows) / 4) * 4 };
}

export function quantPoolShape(s: KvQuantSpec, numPages: number): number[] {
  return [numPages, quantPage(s).pageWords];
}

/** Bytes one token takes in every head of one layer's K and V, float or quantized (the page budget's unit). */
export function kvBytesPerToken(dtype: KvDtype, numKvHeads: number, headDim: number): number {
  if (!isQuantKv(dtype)) return 2 * numKvHeads * headDim * (dtype === 'f32' ? 4 : 2);
  return (2 * numKvHeads * (headDim * kvBits(dtype) + 32)) / 8;
}

/** Checks a quantized pool's shape against its spec; returns the page count. */
export function quantPoolPages(s: KvQuantSpec, shape: readonly number[], dtype: DType, op: string): number {
  const why = kvQuantProblem(s.dtype, s.headDim);
  if (why) throw new Error(`${op}: ${why}`);
  const { pageWords } = quantPage(s);
  if (dtype !== 'u32' || shape.length !== 2 || shape[1] !== pageWords)
    throw new Error(
      `${op}: a ${s.dtype} KV pool of ${s.numKvHeads} heads × ${s.headDim}, page ${s.pageSize}, is u32 [pages, ${pageWords}]; got ${dtype} [${shape.join(', ')}]`,
    );
  return shape[0]!;
}

/** Row index inside a page (the float pool's row order). */
export function quantRow(layout: KvLayout, s: KvQuantSpec, kv: 0 | 1, slot: number, head: number): number {
  const r = layout === 'NHD' ? slot * s.numKvHeads + head : head * s.pageSize + slot;
  return kv * s.pageSize * s.numKvHeads + r;
}

const f16Up = (x: number): number => {
  let b = f16Bits(x);
  if (f16ToNumber(b) < x) b = x < 0 ? b - 1 : b + 1;
  return b;
};
const f16Down = (x: number): number => {
  let b = f16Bits(x);
  if (f16ToNumber(b) > x) b = x <= 0 ? b + 1 : b - 1;
  return b;
};

/**
 * One row's codes and parameter word, as the append kernels compute them (the host half of the
 * format: test pools and the CPU oracle). `x` is the row in f32 precision.
 */
export function quantizeRow(x: ArrayLike<number>, dtype: KvQuantDtype): { codes: Uint8Array; param: number } {
  const levels = (1 << kvBits(dtype)) - 1;
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < x.length; i++) {
    lo = Math.min(lo, x[i]!);
    hi = Math.max(hi, x[i]!);
  }
  const zb = f16Down(Math.fround(lo));
  const zero = f16ToNumber(zb);
  const sb = f16Up(Math.fround((hi - zero) / levels));
  const scale = f16ToNumber(sb);
  const codes = new Uint8Array(x.length);
  if (scale > 0)
    for (let i = 0; i < x.length; i++)
      codes[i] = Math.min(levels, Math.max(0, roundHalfEven(Math.fround((x[i]! - zero) / scale))));
  return { codes, param: ((zb << 16) | sb) >>> 0 };
}

/** scale and zero of a parameter word. */
export function unpackParam(word: number): { scale: number; zero: number } {
  return { scale: f16ToNumber(word & 0xffff), zero: f16ToNumber(word >>> 16) };
}

/** Writes row `row` of page `page` (codes and parameter) into the pool words. */
export function storeQuantRow(
  words: Uint32Array,
  s: KvQuantSpec,
  page: number,
  row: number,
  q: { codes: Uint8Array; param: number },
): void {
  const g = quantPage(s);
  const bits = kvBits(s.dtype);
  const per = 32 / bits;
  const base = page * g.pageWords + row * g.rowWords;
  for (let w = 0; w < g.rowWords; w++) {
    let v = 0;
    for (let i = 0; i < per; i++) v |= q.codes[w * per + i]! << (i * bits);
    words[base + w] = v >>> 0;
  }
  words[page * g.pageWords + g.paramOffset + row] = q.param;
}

/** Element e of row `row` of page `page`, dequantized. */
export function dequantAt(words: ArrayLike<number>, s: KvQuantSpec, page: number, row: number, e: number): number {
  const g = quantPage(s);
  const bits = kvBits(s.dtype);
  const per = 32 / bits;
  const w = words[page * g.pageWords + row * g.rowWords + Math.floor(e / per)]!;
  const code = (w >>> ((e % per) * bits)) & ((1 << bits) - 1);
  const { scale, zero } = unpackParam(words[page * g.pageWords + g.paramOffset + row]!);
  return scale * code + zero;
}

/** The float pool (rank-5, `layout`) a quantized pool stands for: what the attention oracle reads. */
export function dequantizePool(
  words: ArrayLike<number>,
  s: KvQuantSpec,
  layout: KvLayout,
): {
  pool: Float64Array;
  g: PoolGeometry;
} {
  const numPages = words.length / quantPage(s).pageWords;
  const g: PoolGeometry = { numPages, pageSize: s.pageSize, numKvHeads: s.numKvHeads, headDim: s.headDim, layout };
  const pool = new Float64Array(numPages * 2 * s.pageSize * s.numKvHeads * s.headDim);
  for (let p = 0; p < numPages; p++)
    for (const kv of [0, 1] as const)
      for (let slot = 0; slot < s.pageSize; slot++)
        for (let h = 0; h < s.numKvHeads; h++) {
          const row = quantRow(layout, s, kv, slot, h);
          for (let e = 0; e < s.headDim; e++) pool[poolOffset(g, p, kv, slot, h, e)] = dequantAt(words, s, p, row, e);
        }
  return { pool, g };
}

/** Quantizes every row of a float pool (rank-5, `layout`) into a quantized pool's words. */
export function quantizePool(pool: ArrayLike<number>, s: KvQuantSpec, layout: KvLayout, numPages: number): Uint32Array {
  const g: PoolGeometry = { numPages, pageSize: s.pageSize, numKvHeads: s.numKvHeads, headDim: s.headDim, layout };
  const words = new Uint32Array(numPages * quantPage(s).pageWords);
  const row = new Float64Array(s.headDim);
  for (let p = 0; p < numPages; p++)
    for (const kv of [0, 1] as const)
      for (let slot = 0; slot < s.pageSize; slot++)
        for (let h = 0; h < s.numKvHeads; h++) {
          for (let e = 0; e < s.headDim; e++) row[e] = pool[poolOffset(g, p, kv, slot, h, e)]!;
          storeQuantRow(words, s, p, quantRow(layout, s, kv, slot, h), quantizeRow(row, s.dtype));
        }
  return words;
}

/** The pool geometry of a float pool (from its rank-5 shape) or a quantized one (from its spec). */
export function kvPoolGeometry(
  pool: { readonly dtype: DType; readonly shape: readonly number[] },
  layout: KvLayout,
  kvQuant: KvQuantSpec | undefined,
  op = 'attention',
): PoolGeometry {
  if (!kvQuant) return poolGeometry(pool.shape, layout, op);
  const numPages = quantPoolPages(kvQuant, pool.shape, pool.dtype, op);
  return { numPages, pageSize: kvQuant.pageSize, numKvHeads: kvQuant.numKvHeads, headDim: kvQuant.headDim, layout };
}
