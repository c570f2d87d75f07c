/**
 * `qkv_append` (qkv-append.ts) on the CPU backend: the Q/K/V `linear_group` through the backend's
 * f32 linear kernels (norm once, GEMV/GEMM, RoPE on Q and K), Q rounded to its output, K and V
 * rounded to the pool's dtype straight into the tokens' slots, as `append_kv` stores them.
 */
import type { Tensor } from '../backends/backend.js';
import type { CpuKernel } from '../backends/cpu/cpu-kernel-registry.js';
import { linearGroupInto } from '../backends/cpu/cpu-linear.js';
import { type OpImpl, f32Target, storeF32 } from '../backends/cpu/cpu-op-context.js';
import { dtypeCode } from '../backends/cpu/cpu-tensor.js';
import { bytesPerElement, numel } from '../tensor/dtype.js';
import { poolGeometry, poolOffset } from './kv-layout.js';
import { type QkvAppendAttrs, qkvAppendParts } from './qkv-append.js';

const run: OpImpl = (ctx, attrs, inputs, outputs) => {
  const a = attrs as QkvAppendAttrs;
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
  linearGroupInto(ctx, a, group, (i, member) => {
    if (i === 0) {
      const c = f32Target(ctx, q);
      member(c);
      storeF32(ctx, c, q, numel(q.shape));
      return;
    }
    const c = ctx.scratch(tokens * row);
    member(c);
    const which = (i - 1) as 0 | 1;
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

/** Float pools only: a quantized pool's append runs the op's float64 oracle on this backend. */
export const qkvAppendCpuKernel: CpuKernel = {
  op: 'qkv_append',
  supports: (attrs) => !(attrs as QkvAppendAttrs).kvQuant,
  run,
};
