/**
 * `qkv_append` (qkv-append.ts) into a quantized KV pool (kv-quant.ts): the oracle quantizing the
 * new K/V rows into the pool's words at the tokens' slots, the check that the stored rows
 * dequantize to within half a step of the exact K/V (plus their rounding to the K/V dtype before
 * quantization), and a case.
 */
import type { TensorDesc } from '../backends/backend.js';
import type { OpCase } from '../ops/op-spec.js';
import { storageEps } from '../ops/test-data.js';
import { toFloat64, toHost } from '../tensor/dtype.js';
import type { Rng } from '../util/rng.js';
import type { KvLayout } from './kv-layout.js';
import {
  type KvQuantDtype,
  type KvQuantSpec,
  dequantAt,
  quantPage,
  quantPoolShape,
  quantRow,
  quantizePool,
  quantizeRow,
  storeQuantRow,
  unpackParam,
} from './kv-quant.js';
import type { QkvAppendAttrs } from './qkv-append.js';

/** The pool words with each token's K and V rows (`kv` [tokens, heads · D] each) quantized at its slot. */
export function quantStoreAtSlots(
  layout: KvLayout,
  s: KvQuantSpec,
  pool: Float64Array,
  slots: ArrayLike<number>,
  kv: readonly [Float64Array, Float64Array],
  outs: readonly TensorDesc[],
): Float64Array {
  const words = Uint32Array.from(pool);
  const tokens = outs[1]!.shape[0]!;
  const rowLen = s.numKvHeads * s.headDim;
  // the kernel quantizes K/V as stored in their dtype
  const rounded = kv.map((x) => toFloat64(outs[1]!.dtype, roundTo(outs[1]!.dtype, x)));
  for (let t = 0; t < tokens; t++) {
    const slot = slots[t]!;
    if (slot < 0) continue;
    for (const which of [0, 1] as const)
      for (let h = 0; h < s.numKvHeads; h++) {
        const row = rounded[which]!.subarray(t * rowLen + h * s.headDim, t * rowLen + (h + 1) * s.headDim);
        storeQuantRow(
          words,
          s,
          Math.floor(slot / s.pageSize),
          quantRow(layout, s, which, slot % s.pageSize, h),
          quantizeRow(row, s.dtype),
        );
      }
  }
  return Float64Array.from(words);
}

/** K/V rounded to their dtype, as the kernel's scratch stores them before quantizing. */
const roundTo = (dtype: TensorDesc['dtype'], x: Float64Array) => toHost(dtype, x);

/** The stored rows against the exact K/V: within half a step plus the K/V dtype's rounding; other words unchanged. */
export function checkQuantAtSlots(
  layout: KvLayout,
  s: KvQuantSpec,
  before: Float64Array,
  got: Float64Array,
  slots: ArrayLike<number>,
  kv: readonly [Float64Array, Float64Array],
  outs: readonly TensorDesc[],
): string | null {
  const g = quantPage(s);
  const tokens = outs[1]!.shape[0]!;
  const rowLen = s.numKvHeads * s.headDim;
  const eps = storageEps(outs[1]!.dtype);
  const owned = new Set<number>();
  for (let t = 0; t < tokens; t++) {
    const slot = slots[t]!;
    if (slot < 0) continue;
    const page = Math.floor(slot / s.pageSize);
    for (const which of [0, 1] as const)
      for (let h = 0; h < s.numKvHeads; h++) {
        const row = quantRow(layout, s, which, slot % s.pageSize, h);
        for (let w = 0; w < g.rowWords; w++) owned.add(page * g.pageWords + row * g.rowWords + w);
        owned.add(page * g.pageWords + g.paramOffset + row);
        const { scale } = unpackParam(got[page * g.pageWords + g.paramOffset + row]!);
        for (let e = 0; e < s.headDim; e++) {
          const want = kv[which]![t * rowLen + h * s.headDim + e]!;
          const have = dequantAt(got, s, page, row, e);
          const bound = 0.5 * scale * (1 + 1e-4) + 2 * eps * Math.abs(want) + 1e-5;
          if (!(Math.abs(have - want) <= bound))
            return `token ${t} ${which ? 'V' : 'K'} head ${h} dim ${e}: stored ${have}, exact ${want} (scale ${scale})`;
        }
      }
  }
  for (let i = 0; i < got.length; i++)
    if (!owned.has(i) && got[i] !== before[i]) return `pool word ${i} outside the new rows changed`;
  return null;
}

/** A float qkv_append case (f16 K/V, head dim 32) with its pool quantized. */
export function quantQkvCase(c: OpCase<QkvAppendAttrs>, rng: Rng): OpCase<QkvAppendAttrs> {
  const dtype = rng.pick<KvQuantDtype>(['int8', 'int4']);
  const pool = c.inputs[c.inputs.length - 1]!;
  const [numPages, , a, b, headDim] = pool.desc.shape as [number, number, number, number, number];
  const [pageSize, numKvHeads] = c.attrs.layout === 'NHD' ? [a, b] : [b, a];
  const spec: KvQuantSpec = { dtype, numKvHeads, pageSize, headDim };
  const words = quantizePool(toFloat64(pool.desc.dtype, pool.data), spec, c.attrs.layout, numPages);
  const inputs = [...c.inputs];
  inputs[inputs.length - 1] = { desc: { dtype: 'u32', shape: quantPoolShape(spec, numPages) }, data: words };
  return { label: `${c.label} kv:${dtype}`, attrs: { ...c.attrs, kvQuant: spec }, inputs };
}
