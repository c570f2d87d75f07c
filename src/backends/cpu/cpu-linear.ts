/**
 * `linear` and `linear_group` (src/ops/linear.ts, linear-group.ts) from the kernels the plain ops
 * use: the RMSNorm prologue into f32 scratch (kept in f32, never rounded to a's dtype, so it is at
 * least as accurate as the GPU kernels that round at prefill sizes), the GEMV/GEMM of `productNT`
 * into an f32 accumulator, the matmul epilogue (SiLU·mul of a paired weight in the kernel), then
 * RoPE in place on the accumulator, and one rounding to the output's dtype.
 */
import type { Tensor, TensorDesc } from '../backend.js';
import { numel } from '../../tensor/dtype.js';
import { type LinearAttrs, linearParts } from '../../ops/linear-parts.js';
import { type LinearGroupAttrs, groupMember } from '../../ops/linear-group.js';
import { ropeDims } from '../../ops/rope.js';
import { type OpContext, type OpImpl, f32Target, storeF32 } from './cpu-op-context.js';
import { type F32Operand, epilogue, f32Operand, productNT } from './cpu-matmul.js';
import { ropeRows } from './cpu-rope.js';
import { dtypeCode } from './cpu-tensor.js';

/** The f32 rows a linear call multiplies: RMS-normalised into scratch, or a itself as f32. */
export function linearRows(ctx: OpContext, attrs: LinearAttrs, a: Tensor, norm: Tensor | undefined): number {
  if (attrs.normEps === undefined) return ctx.f32(a);
  const K = a.shape[a.shape.length - 1]!;
  const M = K === 0 ? 0 : numel(a.shape) / K;
  const x = ctx.scratch(M * K);
  const args = [ctx.addr(a), dtypeCode(a.dtype), ctx.addr(norm!), dtypeCode(norm!.dtype), x, 0, K, attrs.normEps];
  ctx.pool.run('rmsnorm', args, M, M * K * 4);
  return x;
}

/**
 * One linear call's f32 result (after the epilogue and RoPE) at c, [M, N], from rows already
 * prepared by `linearRows` at `x`: what `linear` writes before rounding.
 */
export function linearInto(ctx: OpContext, attrs: LinearAttrs, inputs: readonly Tensor[], x: number, c: number): void {
  const p = linearParts(attrs, inputs);
  const K = p.a.shape[p.a.shape.length - 1]!;
  const M = K === 0 ? 0 : numel(p.a.shape) / K;
  const N = p.w.shape[0]!;
  const outShape = [...p.a.shape.slice(0, -1), N];
  productNT(ctx, x, ctx.addr(p.w), p.w.dtype, c, M, N, K);
  const extras: F32Operand[] = [];
  if (p.w2) {
    const c2 = ctx.scratch(M * N);
    productNT(ctx, x, ctx.addr(p.w2), p.w2.dtype, c2, M, N, K);
    extras.push({ at: c2, shape: outShape });
  }
  for (const t of p.extras) extras.push(f32Operand(ctx, t));
  if (attrs.epilogue) epilogue(ctx, attrs.epilogue, c, extras, outShape, N);
  if (attrs.rope) {
    const hd = attrs.rope.headDim;
    const xd: TensorDesc = { dtype: 'f32', shape: [M, N / hd, hd] };
    ropeRows(ctx, attrs.rope, c, 0, c, 0, p.pos!, ropeDims(attrs.rope, [xd, p.pos!]));
  }
}

export const linearNative: OpImpl = (ctx, attrs, inputs, [out]) => {
  const a = attrs as LinearAttrs;
  const p = linearParts(a, inputs);
  const c = f32Target(ctx, out!);
  linearInto(ctx, a, inputs, linearRows(ctx, a, p.a, p.norm), c);
  storeF32(ctx, c, out!, numel(out!.shape));
};

/** Every member of a `linear_group` as a linear call over rows normalised once. */
export function linearGroupInto(
  ctx: OpContext,
  attrs: LinearGroupAttrs,
  inputs: readonly Tensor[],
  member: (i: number, run: (c: number) => void) => void,
): void {
  const first = groupMember(attrs, inputs, 0);
  const norm = attrs.normEps !== undefined ? inputs[1 + attrs.count] : undefined;
  const x = linearRows(ctx, first.attrs, inputs[0]!, norm);
  for (let i = 0; i < attrs.count; i++) {
    const m = groupMember(attrs, inputs, i);
    member(i, (c) => linearInto(ctx, m.attrs, m.inputs, x, c));
  }
}

export const linearGroupNative: OpImpl = (ctx, attrs, inputs, outputs) => {
  linearGroupInto(ctx, attrs as LinearGroupAttrs, inputs, (i, run) => {
    const out = outputs[i]!;
    const c = f32Target(ctx, out);
    run(c);
    storeF32(ctx, c, out, numel(out.shape));
  });
};
