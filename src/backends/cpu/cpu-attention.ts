/**
 * Paged attention and KV append on the CPU: the same ops (and page-table inputs) the WebGPU
 * backend runs for the serving engine. The split-KV schedule input is not needed here — each
 * (token, head) row walks its request's pages in one pass with an online softmax — so it is ignored.
 * Pool layouts: NHD [pages, 2, slot, head, d] and HND [pages, 2, head, slot, d].
 */
import type { Attrs, Tensor, TensorDesc } from '../backend.js';
import { bytesPerElement, numel } from '../../tensor/dtype.js';
import { dtypeCode } from './cpu-tensor.js';
import type { OpContext } from './cpu-ops.js';

export type PagedAttentionInputs = readonly [Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor];

interface Geometry {
  pageSize: number;
  numKvHeads: number;
  headDim: number;
  nhd: boolean;
}

function geometry(pool: TensorDesc, layout: unknown): Geometry {
  const [, , a, b, headDim] = pool.shape as [number, number, number, number, number];
  const nhd = layout === 'NHD';
  return { pageSize: nhd ? a : b, numKvHeads: nhd ? b : a, headDim, nhd };
}

interface Variant {
  causal?: boolean;
  windowLeft?: number;
  softCap?: number;
  [key: string]: unknown;
}

/** Whether the kernel covers this variant: causal, a sliding window and a soft cap (ALiBi, masks and fused RoPE are not here). */
export function nativeAttentionVariant(attrs: Attrs, inputs: readonly TensorDesc[]): boolean {
  const v = (attrs.variant ?? {}) as Variant;
  const known = new Set(['causal', 'windowLeft', 'softCap']);
  return Object.keys(v).every((k) => known.has(k) || v[k] === undefined || v[k] === false) && inputs.length >= 6;
}

export function pagedAttentionNative(
  ctx: OpContext,
  attrs: Attrs,
  [q, pool, qoIndptr, kvIndptr, kvIndices, lastPageLen]: PagedAttentionInputs,
  [o, lse]: readonly Tensor[],
): void {
  const g = geometry(pool, attrs.layout);
  const [T, Hq, D] = q.shape as [number, number, number];
  const v = (attrs.variant ?? {}) as Variant;
  const scale = (attrs.scale as number | undefined) ?? 1 / Math.sqrt(D);
  const out = o!.dtype === 'f32' ? ctx.addr(o!) : ctx.scratch(T * Hq * D);
  const batch = qoIndptr.shape[0]! - 1;
  ctx.pool.run(
    'pagedAttention',
    [
      ctx.f32(q),
      ctx.addr(pool),
      dtypeCode(pool.dtype),
      g.nhd ? 0 : 1,
      out,
      ctx.addr(lse!),
      ctx.addr(qoIndptr),
      ctx.addr(kvIndptr),
      ctx.addr(kvIndices),
      ctx.addr(lastPageLen),
      batch,
      Hq,
      g.numKvHeads,
      D,
      g.pageSize,
      scale,
      v.causal ? 1 : 0,
      v.windowLeft ?? -1,
      v.softCap ?? 0,
    ],
    T * Hq,
    T * Hq * D * 64,
  );
  if (out !== ctx.addr(o!)) ctx.pool.run('convert', [out, 0, ctx.addr(o!), dtypeCode(o!.dtype)], T * Hq * D, 0);
}

/** append_kv: request b's new k/v rows written after its existing KV through the page table, in place. */
export function appendKv(ctx: OpContext, attrs: Attrs, inputs: readonly Tensor[], outputs: readonly Tensor[]): void {
  const [pool, k, v, appendIndptr, kvIndptr, kvIndices, lastPageLen] = inputs as [
    Tensor,
    Tensor,
    Tensor,
    Tensor,
    Tensor,
    Tensor,
    Tensor,
  ];
  const out = outputs[0]!;
  const g = geometry(pool, attrs.layout);
  const es = bytesPerElement(pool.dtype);
  const bytes = new Uint8Array(ctx.heap.bytes());
  const dst = ctx.addr(out);
  if (dst !== ctx.addr(pool)) bytes.copyWithin(dst, ctx.addr(pool), ctx.addr(pool) + numel(pool.shape) * es);
  const batch = appendIndptr.shape[0]! - 1;
  const ap = ctx.heap.i32(ctx.addr(appendIndptr), batch + 1);
  const kp = ctx.heap.i32(ctx.addr(kvIndptr), batch + 1);
  const idx = ctx.heap.i32(ctx.addr(kvIndices), kvIndices.shape[0]!);
  const last = ctx.heap.i32(ctx.addr(lastPageLen), batch);
  const { pageSize: P, numKvHeads: Hk, headDim: D } = g;
  const rowBytes = D * es;
  const page2 = P * Hk * D; // elements of one page's K (or V) half
  const ka = ctx.addr(k);
  const va = ctx.addr(v);
  for (let b = 0; b < batch; b++) {
    const n = ap[b + 1]! - ap[b]!;
    const pages = kp[b + 1]! - kp[b]!;
    const kvLen = pages === 0 ? 0 : (pages - 1) * P + last[b]!;
    for (let i = 0; i < n; i++) {
      const pos = kvLen - n + i;
      const page = idx[kp[b]! + Math.floor(pos / P)]!;
      const slot = pos % P;
      const t = ap[b]! + i;
      for (let h = 0; h < Hk; h++) {
        const row = g.nhd ? slot * Hk + h : h * P + slot;
        const kOff = dst + (page * 2 * page2 + row * D) * es;
        const src = (t * Hk + h) * rowBytes;
        bytes.copyWithin(kOff, ka + src, ka + src + rowBytes);
        bytes.copyWithin(kOff + page2 * es, va + src, va + src + rowBytes);
      }
    }
  }
}
