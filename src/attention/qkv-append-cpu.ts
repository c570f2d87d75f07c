/**
 * `qkv_append` (qkv-append.ts) on the CPU backend: the Q/K/V `linear_group` through the backend's
 * f32 linear kernels (norm once, GEMV/GEMM, RoPE on Q and K), Q rounded to its output, K and V
 * rounded to the pool's dtype straight into the tokens' slots, as `append_kv` stores them. A
 * quantized pool (kv-quant.ts) gets K and V rounded to their output dtype first, as the WebGPU
 * kernel stores them before quantizing, then quantized into the slots by the append's kernel.
 */
import type { Tensor } from '../backends/backend.js';
import type { CpuKernel } from '../backends/cpu/cpu-kernel-registry.js';
import { linearGroupInto } from '../backends/cpu/cpu-linear.js';
import { type OpImpl, f32Target, storeF32 } from '../backends/cpu/cpu-op-context.js';
import { dtypeCode } from '../backends/cpu/cpu-tensor.js';
import { linearGroupOp } from '../ops/linear-group.js';
import { bytesPerElement, numel } from '../tensor/dtype.js';
import { poolGeometry, poolOffset } from './kv-layout.js';
import type { KvQuantSpec } from './kv-quant.js';
import { copyPool, quantRowTargets, storeQuantRows } from './kv-quant-cpu.js';
import { type QkvAppendAttrs, qkvAppendParts } from './qkv-append.js';

/**
 * The group's linear_group: Q (member 0) rounded into its output `q`; K and V (`which` 0 and 1) as
 * f32 rows [tokens, heads · D] in scratch of `kvElems` floats, each handed to `store`.
 */
function groupIntoQAndKv(
  ctx: Parameters<OpImpl>[0],
  a: QkvAppendAttrs,
  group: readonly Tensor[],
  q: Tensor,
  kvElems: number,
  store: (which: 0 | 1, rows: number) => void,
): void {
  linearGroupInto(ctx, a, group, (i, member) => {
    if (i === 0) {
      const c = f32Target(ctx, q);
      member(c);
      storeF32(ctx, c, q, numel(q.shape));
      return;
    }
    const c = ctx.scratch(kvElems);
    member(c);
    store((i - 1) as 0 | 1, c);
  });
}

const run: OpImpl = (ctx, attrs, inputs, outputs) => {
  const a = attrs as QkvAppendAttrs;
  if (a.kvQuant) {
    runQuant(ctx, a, a.kvQuant, inputs, outputs);
    return;
  }
  const { group, slots, pool } = qkvAppendParts(a, inputs);
  const [q, out] = outputs as [Tensor, Tensor];
  const g = poolGeometry(pool.shape, a.layout, 'qkv_append');
  const es = bytesPerElement(pool.dtype);
  const dst = ctx.addr(out);
  if (dst !== ctx.addr(pool))
    new Uint8Array(ctx.heap.bytes()).copyWithin(dst, ctx.addr(pool), ctx.addr(pool) + numel(pool.shape) * es);
  const tokens = group[0]!.shape[0]!;
  const row = g.numKvHeads * g.headDim;
  const slot = ctx.heap.i32(ctx.addr(slots), tokens);
  const code = dtypeCode(pool.dtype);
  groupIntoQAndKv(ctx, a, group, q, tokens * row, (which, c) => {
    for (let t = 0; t < tokens; t++) {
      const s = slot[t]!;
      if (s < 0) continue;
      const page = Math.floor(s / g.pageSize);
      for (let h = 0; h < g.numKvHeads; h++) {
        const at = dst + poolOffset(g, page, which, s % g.pageSize, h, 0) * es;
        // one head row: small, so it converts on this thread
        ctx.pool.run('convert', [c + (t * row + h * g.headDim) * 4, 0, at, code], g.headDim, 0);
      }
    }
  });
};

function runQuant(
  ctx: Parameters<OpImpl>[0],
  a: QkvAppendAttrs,
  s: KvQuantSpec,
  inputs: readonly Tensor[],
  outputs: readonly Tensor[],
): void {
  const { group, slots, pool } = qkvAppendParts(a, inputs);
  const [q, out] = outputs as [Tensor, Tensor];
  copyPool(ctx, pool, out);
  const tokens = group[0]!.shape[0]!;
  const row = s.numKvHeads * s.headDim;
  const slot = Array.from(ctx.heap.i32(ctx.addr(slots), tokens));
  const place = (t: number) =>
    slot[t]! < 0 ? null : { page: Math.floor(slot[t]! / s.pageSize), slot: slot[t]! % s.pageSize };
  const kvDtype = linearGroupOp.outputs(a, group)[1]!.dtype;
  groupIntoQAndKv(ctx, a, group, q, tokens * row, (which, c) => {
    let rows = c;
    if (kvDtype !== 'f32') {
      rows = ctx.scratch(tokens * row);
      ctx.pool.run('convert', [c, 0, rows, dtypeCode(kvDtype)], tokens * row, tokens * row);
    }
    const targets = quantRowTargets(ctx, s, a.layout, which, tokens, place);
    storeQuantRows(ctx, s, out, rows, kvDtype, targets, tokens);
  });
}

export const qkvAppendCpuKernel: CpuKernel = { op: 'qkv_append', run };
