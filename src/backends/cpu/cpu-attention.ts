/**
 * Attention on the CPU: paged attention and KV append (the same ops and page-table inputs the
 * WebGPU backend runs for the serving engine), dense attention and the merge of partial states.
 * The split-KV schedule input is not needed here — each (token, head) row walks its request's
 * pages in one pass with an online softmax — so it is ignored.
 * Pool layouts: NHD [pages, 2, slot, head, d] and HND [pages, 2, head, slot, d].
 */
import type { Attrs, Tensor, TensorDesc } from '../backend.js';
import { bytesPerElement, numel } from '../../tensor/dtype.js';
import { type Llama3Scaling, ropeInvFreqs } from '../../ops/rope.js';
import { dtypeCode } from './cpu-tensor.js';
import type { OpContext } from './cpu-op-context.js';

export type PagedAttentionInputs = readonly [Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor];

/** Where a pool keeps its rows: page size, KV heads, head dim, and whether it is NHD (else HND). */
export interface PagedGeometry {
  pageSize: number;
  numKvHeads: number;
  headDim: number;
  nhd: boolean;
}

function geometry(pool: TensorDesc, layout: unknown): PagedGeometry {
  const [, , a, b, headDim] = pool.shape as [number, number, number, number, number];
  const nhd = layout === 'NHD';
  return { pageSize: nhd ? a : b, numKvHeads: nhd ? b : a, headDim, nhd };
}

interface Variant {
  causal?: boolean;
  windowLeft?: number;
  softCap?: number;
  alibi?: boolean;
  customMask?: boolean;
  rope?: { theta: number; scaling?: Llama3Scaling };
  extra?: readonly unknown[];
  [key: string]: unknown;
}

const KERNEL_VARIANT_KEYS = new Set(['causal', 'windowLeft', 'softCap', 'alibi', 'customMask', 'rope']);

/**
 * Whether the kernel covers this variant: every built-in part (causal, sliding window, soft cap,
 * ALiBi, custom mask, fused RoPE). User-written hooks (`extra`) are JavaScript functions with no
 * kernel form, so those variants run the op's reference.
 */
export function nativeAttentionVariant(attrs: Attrs, inputs: readonly TensorDesc[]): boolean {
  const v = (attrs.variant ?? {}) as Variant;
  const known = Object.keys(v).every(
    (k) => KERNEL_VARIANT_KEYS.has(k) || v[k] === undefined || v[k] === false || (k === 'extra' && !v.extra?.length),
  );
  return known && inputs.length >= (v.customMask ? 9 : 6);
}

/**
 * ALiBi slopes of n heads: the paper's geometric sequence, interleaved when n is not a power of
 * two. The attention module's own copy (src/attention/variants.ts) sits above this layer, so it
 * cannot be imported; the conformance suite's ALiBi rows compare the two through the oracle.
 */
function alibiSlopes(n: number): Float64Array {
  const p = 2 ** Math.floor(Math.log2(n));
  const m0 = 2 ** (-8 / p);
  const m1 = 2 ** (-4 / p);
  return Float64Array.from({ length: n }, (_, h) => (h < p ? m0 ** (h + 1) : m1 ** (2 * (h - p) + 1)));
}

/** The longest KV of the batch (positions a fused RoPE needs angles for). */
function maxKvLength(ctx: OpContext, kvIndptr: Tensor, lastPageLen: Tensor, pageSize: number): number {
  const batch = lastPageLen.shape[0]!;
  const kp = ctx.heap.i32(ctx.addr(kvIndptr), batch + 1);
  const last = ctx.heap.i32(ctx.addr(lastPageLen), batch);
  let most = 0;
  for (let b = 0; b < batch; b++) {
    const pages = kp[b + 1]! - kp[b]!;
    if (pages > 0) most = Math.max(most, (pages - 1) * pageSize + last[b]!);
  }
  return most;
}

/**
 * cos then sin of position · inverse frequency for positions [0, rows), [rows, D/2] each, in f32
 * scratch: angles in float64 (an f32 product would be off by ~0.01 rad at long positions), the
 * rotation itself in the kernel.
 */
function ropeTable(ctx: OpContext, rope: NonNullable<Variant['rope']>, D: number, rows: number): number {
  const half = D / 2;
  const inv = ropeInvFreqs(rope.theta, D, rope.scaling);
  const at = ctx.scratch(2 * rows * half);
  const table = ctx.heap.f32(at, 2 * rows * half);
  for (let p = 0; p < rows; p++)
    for (let i = 0; i < half; i++) {
      table[p * half + i] = Math.cos(p * inv[i]!);
      table[(rows + p) * half + i] = Math.sin(p * inv[i]!);
    }
  return at;
}

export function pagedAttentionNative(
  ctx: OpContext,
  attrs: Attrs,
  inputs: readonly Tensor[],
  outputs: readonly Tensor[],
): void {
  const pool = inputs[1]!;
  const g = geometry(pool, attrs.layout);
  pagedAttentionWith(ctx, attrs, inputs, outputs, {
    kernel: 'pagedAttention',
    storage: dtypeCode(pool.dtype),
    ...g,
    extra: [],
  });
}

/**
 * How a paged-attention kernel reads its pool: the kernel, its storage argument (a float pool's
 * dtype code, a quantized pool's bits), the geometry, and arguments after the common ones (a
 * quantized pool's page words). A feature module with a pool layout of its own (src/attention's
 * quantized KV pages) runs its kernel through `pagedAttentionWith`, so every variant's setup
 * (ALiBi slopes, RoPE tables, the mask) is shared.
 */
export interface PagedPoolReader extends PagedGeometry {
  readonly kernel: 'pagedAttention' | 'pagedAttentionQuant';
  readonly storage: number;
  readonly extra: readonly number[];
}

export function pagedAttentionWith(
  ctx: OpContext,
  attrs: Attrs,
  inputs: readonly Tensor[],
  [o, lse]: readonly Tensor[],
  g: PagedPoolReader,
): void {
  const [q, pool, qoIndptr, kvIndptr, kvIndices, lastPageLen] = inputs as PagedAttentionInputs;
  const [T, Hq, D] = q.shape as [number, number, number];
  const v = (attrs.variant ?? {}) as Variant;
  const scale = (attrs.scale as number | undefined) ?? 1 / Math.sqrt(D);
  const out = o!.dtype === 'f32' ? ctx.addr(o!) : ctx.scratch(T * Hq * D);
  const batch = qoIndptr.shape[0]! - 1;
  let slopes = 0;
  if (v.alibi) {
    slopes = ctx.scratch(Hq);
    ctx.heap.f32(slopes, Hq).set(alibiSlopes(Hq));
  }
  const [mask, maskIndptr] = v.customMask ? [ctx.addr(inputs[7]!), ctx.addr(inputs[8]!)] : [0, 0];
  const ropeRows = v.rope ? maxKvLength(ctx, kvIndptr, lastPageLen, g.pageSize) : 0;
  const ropeCs = v.rope && ropeRows > 0 ? ropeTable(ctx, v.rope, D, ropeRows) : 0;
  const qrot = ropeCs ? ctx.scratch(T * Hq * D) : 0;
  ctx.pool.run(
    g.kernel,
    [
      ctx.f32(q),
      ctx.addr(pool),
      g.storage,
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
      slopes,
      mask,
      maskIndptr,
      ropeCs,
      ropeRows,
      qrot,
      ...g.extra,
    ],
    T * Hq,
    T * Hq * D * 64,
  );
  if (out !== ctx.addr(o!)) ctx.pool.run('convert', [out, 0, ctx.addr(o!), dtypeCode(o!.dtype)], T * Hq * D, 0);
}

/** Contiguous attention (the compiler's `attention` op): q [T, Hq, D], k and v [S, Hk, D]. */
export function denseAttention(
  ctx: OpContext,
  attrs: Attrs,
  [q, k, v]: readonly Tensor[],
  [o]: readonly Tensor[],
): void {
  const [T, Hq, D] = q!.shape as [number, number, number];
  const [S, Hk] = k!.shape as [number, number];
  const out = o!.dtype === 'f32' ? ctx.addr(o!) : ctx.scratch(T * Hq * D);
  const scale = (attrs.scale as number | undefined) ?? 1 / Math.sqrt(D);
  ctx.pool.run(
    'attentionDense',
    [ctx.f32(q!), ctx.f32(k!), ctx.f32(v!), out, T, S, Hq, Hk, D, scale, attrs.causal ? 1 : 0],
    T * Hq,
    T * Hq * S * D * 2,
  );
  if (out !== ctx.addr(o!)) ctx.pool.run('convert', [out, 0, ctx.addr(o!), dtypeCode(o!.dtype)], T * Hq * D, 0);
}

/** merge_states: two partial states (o, base-2 lse) of the same rows into one. */
export function mergeStates(
  ctx: OpContext,
  _attrs: Attrs,
  [va, sa, vb, sb]: readonly Tensor[],
  [v, s]: readonly Tensor[],
): void {
  const [T, H, D] = va!.shape as [number, number, number];
  const out = v!.dtype === 'f32' ? ctx.addr(v!) : ctx.scratch(T * H * D);
  ctx.pool.run(
    'mergeStates',
    [ctx.f32(va!), ctx.addr(sa!), ctx.f32(vb!), ctx.addr(sb!), out, ctx.addr(s!), D],
    T * H,
    T * H * D * 4,
  );
  if (out !== ctx.addr(v!)) ctx.pool.run('convert', [out, 0, ctx.addr(v!), dtypeCode(v!.dtype)], T * H * D, 0);
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
