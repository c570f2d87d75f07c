/**
 * The quantized KV cache (kv-quant.ts) on the CPU backend: `paged_attention` reading int8/int4
 * pages and `append_kv` quantizing new rows into them. Both hot loops are WebAssembly SIMD kernels
 * beside the float ones (src/backends/cpu/wasm/attention-quant.ts): attention dequantizes each key
 * and value row in registers as it meets it, and the append quantizes one (token, head) row per
 * kernel row, in f32 with the format's rounding. What stays here is the page arithmetic: where
 * each new row's code and parameter words go (`quantRowTargets`), shared with `qkv_append`.
 */
import type { Attrs, Tensor } from '../backends/backend.js';
import { pagedAttentionWith } from '../backends/cpu/cpu-attention.js';
import type { CpuKernel } from '../backends/cpu/cpu-kernel-registry.js';
import type { OpContext, OpImpl } from '../backends/cpu/cpu-op-context.js';
import { dtypeCode } from '../backends/cpu/cpu-tensor.js';
import { numel } from '../tensor/dtype.js';
import type { KvLayout } from './kv-layout.js';
import { type KvQuantSpec, kvBits, quantPage, quantRow } from './kv-quant.js';
import { appendTargets } from './kv-quant-cases.js';

const specOf = (attrs: Attrs): KvQuantSpec => attrs.kvQuant as KvQuantSpec;

const attend: OpImpl = (ctx, attrs, inputs, outputs) => {
  const s = specOf(attrs);
  const g = quantPage(s);
  pagedAttentionWith(ctx, attrs, inputs, outputs, {
    kernel: 'pagedAttentionQuant',
    storage: kvBits(s.dtype),
    pageSize: s.pageSize,
    numKvHeads: s.numKvHeads,
    headDim: s.headDim,
    nhd: attrs.layout === 'NHD',
    extra: [g.pageWords, g.paramOffset],
  });
};

/**
 * i32 scratch of [rows, 2] for `kvQuantRows`: for source row t · heads + h, the pool word of its
 * codes and of its parameter in (page, slot) of `place(t)`, or −1 where token t is not stored.
 */
export function quantRowTargets(
  ctx: OpContext,
  s: KvQuantSpec,
  layout: KvLayout,
  kv: 0 | 1,
  tokens: number,
  place: (t: number) => { page: number; slot: number } | null,
): number {
  const g = quantPage(s);
  const rows = tokens * s.numKvHeads;
  const at = ctx.scratch(2 * rows);
  const targets = ctx.heap.i32(at, 2 * rows).fill(-1);
  for (let t = 0; t < tokens; t++) {
    const p = place(t);
    if (!p) continue;
    for (let h = 0; h < s.numKvHeads; h++) {
      const row = quantRow(layout, s, kv, p.slot, h);
      const r = t * s.numKvHeads + h;
      targets[2 * r] = p.page * g.pageWords + row * g.rowWords;
      targets[2 * r + 1] = p.page * g.pageWords + g.paramOffset + row;
    }
  }
  return at;
}

/** Quantizes `tokens` K (kv 0) or V (1) rows, [tokens, heads, D] at `src` in dtype `dtype`, into the pool. */
export function storeQuantRows(
  ctx: OpContext,
  s: KvQuantSpec,
  pool: Tensor,
  src: number,
  dtype: Tensor['dtype'],
  targets: number,
  tokens: number,
): void {
  const rows = tokens * s.numKvHeads;
  ctx.pool.run(
    'kvQuantRows',
    [src, dtypeCode(dtype), ctx.addr(pool), targets, kvBits(s.dtype), s.headDim],
    rows,
    rows * s.headDim * 8,
  );
}

/** Copies the input pool into the output when they are different tensors (the ops update in place otherwise). */
export function copyPool(ctx: OpContext, from: Tensor, to: Tensor): void {
  if (ctx.addr(from) === ctx.addr(to)) return;
  const bytes = numel(from.shape) * 4;
  new Uint8Array(ctx.heap.bytes()).copyWithin(ctx.addr(to), ctx.addr(from), ctx.addr(from) + bytes);
}

const append: OpImpl = (ctx, attrs, inputs, [out]) => {
  const [pool, k, v, appendIndptr, kvIndptr, kvIndices, lastPageLen] = inputs as Tensor[];
  const s = specOf(attrs);
  copyPool(ctx, pool!, out!);
  const batch = appendIndptr!.shape[0]! - 1;
  const i32 = (t: Tensor, n: number) => Array.from(ctx.heap.i32(ctx.addr(t), n));
  const places = new Map<number, { page: number; slot: number }>();
  const ap = i32(appendIndptr!, batch + 1);
  const kp = i32(kvIndptr!, batch + 1);
  const targets = appendTargets(s.pageSize, ap, kp, i32(kvIndices!, kvIndices!.shape[0]!), i32(lastPageLen!, batch));
  for (const { t, page, slot } of targets) places.set(t, { page, slot });
  const tokens = k!.shape[0]!;
  for (const [kv, x] of [
    [0, k!],
    [1, v!],
  ] as const) {
    const at = quantRowTargets(ctx, s, attrs.layout as KvLayout, kv, tokens, (t) => places.get(t) ?? null);
    storeQuantRows(ctx, s, out!, ctx.addr(x), x.dtype, at, tokens);
  }
};

const quantized = (attrs: Attrs): boolean => attrs.kvQuant !== undefined;

export const KV_QUANT_CPU_KERNELS: readonly CpuKernel[] = [
  { op: 'paged_attention', supports: quantized, run: attend },
  { op: 'append_kv', supports: quantized, run: append },
];
