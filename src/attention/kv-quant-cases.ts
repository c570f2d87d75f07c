/**
 * Op cases over quantized KV pools (kv-quant.ts): paged attention over int8/int4 pages, and
 * append_kv quantizing new rows into them, with the check that a stored row is within half a
 * quantization step of the row it came from.
 */
import type { OpCase } from '../ops/op-spec.js';
import { randomInput } from '../ops/test-data.js';
import { toFloat64 } from '../tensor/dtype.js';
import type { Rng } from '../util/rng.js';
import { randomAppendBatch } from './batch-gen.js';
import { type KvLayout, kvLength } from './kv-layout.js';
import {
  type KvQuantDtype,
  type KvQuantSpec,
  quantPage,
  quantPoolShape,
  quantRow,
  quantizePool,
  quantizeRow,
  storeQuantRow,
  unpackParam,
  dequantAt,
} from './kv-quant.js';
import type { AppendKvAttrs, AttentionCaseOptions, PagedAttentionAttrs } from './ops.js';
import { attentionCase } from './ops.js';

/** A float attention case (f16 K/V) with its pool quantized to `dtype`. */
export function quantAttentionCase(
  rng: Rng,
  o: Omit<AttentionCaseOptions, 'dtype'> & { dtype?: KvQuantDtype } = {},
): OpCase<PagedAttentionAttrs> {
  const dtype = o.dtype ?? rng.pick<KvQuantDtype>(['int8', 'int4']);
  const headDim = o.headDim ?? rng.pick([32, 64, 128]);
  const c = attentionCase(rng, { ...o, dtype: 'f16', headDim });
  const pool = c.inputs[1]!;
  const g =
    c.attrs.layout === 'NHD' ? [pool.desc.shape[2]!, pool.desc.shape[3]!] : [pool.desc.shape[3]!, pool.desc.shape[2]!];
  const spec: KvQuantSpec = { dtype, pageSize: g[0]!, numKvHeads: g[1]!, headDim };
  const numPages = pool.desc.shape[0]!;
  const words = quantizePool(toFloat64('f16', pool.data), spec, c.attrs.layout, numPages);
  const inputs = [...c.inputs];
  inputs[1] = { desc: { dtype: 'u32', shape: quantPoolShape(spec, numPages) }, data: words };
  return { label: `${c.label} kv:${dtype}`, attrs: { ...c.attrs, kvQuant: spec }, inputs };
}

/** append_kv into a quantized pool: new rows (some requests with none) after random history. */
export function quantAppendCase(rng: Rng): OpCase<AppendKvAttrs> {
  const layout: KvLayout = rng.pick(['NHD', 'HND']);
  const dtype = rng.pick<KvQuantDtype>(['int8', 'int4']);
  const kDtype = rng.pick(['f16', 'f32'] as const);
  const d = rng.pick([32, 64, 128]);
  const {
    batch: b,
    heads: hk,
    pageSize,
    news,
    kvLens,
    total,
  } = randomAppendBatch(rng, {
    layout,
    headDim: d,
    dtype: 'f16',
  });
  const spec: KvQuantSpec = { dtype, pageSize, numKvHeads: hk, headDim: d };
  const words = quantizePool(toFloat64('f16', b.pool.data), spec, layout, b.numPages);
  // rows of several magnitudes and offsets, as RoPE'd keys are
  const rows = (): ReturnType<typeof randomInput> => randomInput(rng, kDtype, [total, hk, d], rng.pick([0.1, 1, 8]));
  return {
    label: `${dtype} ${kDtype} ${layout} d${d} hk${hk} P${pageSize} new[${news}] kv[${kvLens}]`,
    attrs: { layout, kvQuant: spec },
    inputs: [
      { desc: { dtype: 'u32', shape: quantPoolShape(spec, b.numPages) }, data: words },
      rows(),
      rows(),
      b.qoIndptr,
      b.kvIndptr,
      b.kvIndices,
      b.lastPageLen,
    ],
  };
}

/** Where each new token goes: (token index, page, slot), as append_kv places it. */
export function appendTargets(
  pageSize: number,
  appendIndptr: ArrayLike<number>,
  kvIndptr: ArrayLike<number>,
  kvIndices: ArrayLike<number>,
  lastPageLen: ArrayLike<number>,
): { t: number; page: number; slot: number }[] {
  const out: { t: number; page: number; slot: number }[] = [];
  for (let b = 0; b < appendIndptr.length - 1; b++) {
    const n = appendIndptr[b + 1]! - appendIndptr[b]!;
    const kvLen = kvLength(kvIndptr, lastPageLen, pageSize, b);
    for (let i = 0; i < n; i++) {
      const pos = kvLen - n + i;
      if (pos < 0) continue;
      out.push({
        t: appendIndptr[b]! + i,
        page: kvIndices[kvIndptr[b]! + Math.floor(pos / pageSize)]!,
        slot: pos % pageSize,
      });
    }
  }
  return out;
}

/** append_kv's oracle for a quantized pool: the new rows quantized on the host into a copy of the words. */
export function referenceAppendQuant(
  attrs: AppendKvAttrs & { kvQuant: KvQuantSpec },
  x: readonly Float64Array[],
): Float64Array {
  const s = attrs.kvQuant;
  const words = Uint32Array.from(x[0]!);
  const rowLen = s.numKvHeads * s.headDim;
  for (const { t, page, slot } of appendTargets(s.pageSize, x[3]!, x[4]!, x[5]!, x[6]!))
    for (const kv of [0, 1] as const)
      for (let h = 0; h < s.numKvHeads; h++) {
        const src = x[1 + kv]!.subarray(t * rowLen + h * s.headDim, t * rowLen + (h + 1) * s.headDim);
        storeQuantRow(words, s, page, quantRow(attrs.layout, s, kv, slot, h), quantizeRow(src, s.dtype));
      }
  return Float64Array.from(words);
}

/**
 * append_kv's check for a quantized pool: each new row dequantizes to within half a step (its own
 * scale, plus f32 rounding) of the input row, and every word the new rows do not own is unchanged.
 * Codes may differ from the host's where a value sits on a rounding tie.
 */
export function checkAppendQuant(
  attrs: AppendKvAttrs & { kvQuant: KvQuantSpec },
  x: readonly Float64Array[],
  got: Float64Array,
): string | null {
  const s = attrs.kvQuant;
  const g = quantPage(s);
  const rowLen = s.numKvHeads * s.headDim;
  const owned = new Set<number>();
  for (const { t, page, slot } of appendTargets(s.pageSize, x[3]!, x[4]!, x[5]!, x[6]!))
    for (const kv of [0, 1] as const)
      for (let h = 0; h < s.numKvHeads; h++) {
        const row = quantRow(attrs.layout, s, kv, slot, h);
        for (let w = 0; w < g.rowWords; w++) owned.add(page * g.pageWords + row * g.rowWords + w);
        owned.add(page * g.pageWords + g.paramOffset + row);
        const { scale } = unpackParam(got[page * g.pageWords + g.paramOffset + row]!);
        for (let e = 0; e < s.headDim; e++) {
          const want = x[1 + kv]![t * rowLen + h * s.headDim + e]!;
          const have = dequantAt(got, s, page, row, e);
          const bound = scale * 0.5 * (1 + 1e-4) + 1e-6 * Math.abs(want);
          if (!(Math.abs(have - want) <= bound))
            return `token ${t} ${kv ? 'V' : 'K'} head ${h} dim ${e}: dequantized ${have}, input ${want} (scale ${scale})`;
        }
      }
  for (let i = 0; i < got.length; i++)
    if (!owned.has(i) && got[i] !== x[0]![i])
      return `pool word ${i} outside the new rows changed: ${x[0]![i]} → ${got[i]}`;
  return null;
}
