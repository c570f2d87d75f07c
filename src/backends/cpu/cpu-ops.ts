/**
 * The CPU backend's own implementations of the ops, over tensors in the kernels' shared memory:
 * the arithmetic runs in the WebAssembly kernels (matrix products, norms, RoPE, softmax, paged
 * attention) or, for data movement and light elementwise work, in f32 JavaScript here. Every op
 * computes in f32 and rounds once to the output's storage type.
 */
import type { Attrs, TensorDesc } from '../backend.js';
import { type DType, bytesPerElement, numel } from '../../tensor/dtype.js';
import { EmbeddingIdError } from '../../ops/embedding.js';
import { elementwiseExpr } from '../../ops/elementwise.js';
import { broadcastStrides } from '../../ops/broadcast.js';
import { type CpuTensor, dtypeCode } from './cpu-tensor.js';
import { compileF32 } from './f32-expr.js';
import { type OpContext, type OpImpl, f32Target, storeF32 } from './cpu-op-context.js';
import { matmul } from './cpu-matmul.js';
import { rope } from './cpu-rope.js';
import {
  appendKv,
  denseAttention,
  mergeStates,
  nativeAttentionVariant,
  pagedAttentionNative,
} from './cpu-attention.js';
import { sample } from './cpu-sample.js';
import { sddmmCsr, spmm } from './cpu-sparse.js';
import { linearGroupNative, linearNative } from './cpu-linear.js';
import { registeredCpuKernel } from './cpu-kernel-registry.js';

const elementwise: OpImpl = (ctx, attrs, inputs, [out]) => {
  const fn = compileF32(elementwiseExpr(attrs.expr as string));
  const shape = out!.shape;
  const n = numel(shape);
  const c = f32Target(ctx, out!);
  const y = ctx.heap.f32(c, n);
  const strides = inputs.map((t) => broadcastStrides(t.shape, shape));
  const vals = inputs.map((t) => ctx.heap.f32(ctx.f32(t), numel(t.shape)));
  const args = new Float64Array(inputs.length);
  const idx = new Array<number>(shape.length).fill(0);
  const offs = new Array<number>(inputs.length).fill(0);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < vals.length; j++) args[j] = vals[j]![offs[j]!]!;
    y[i] = fn(args);
    // advance the multi-index and every input's offset along it
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d]! < shape[d]!) {
        for (let j = 0; j < offs.length; j++) offs[j]! += strides[j]![d]!;
        break;
      }
      for (let j = 0; j < offs.length; j++) offs[j]! -= strides[j]![d]! * (shape[d]! - 1);
      idx[d] = 0;
    }
  }
  storeF32(ctx, c, out!, n);
};

function rowsOf(t: TensorDesc): { rows: number; C: number } {
  const C = t.shape[t.shape.length - 1] ?? 1;
  return { rows: C === 0 ? 0 : numel(t.shape) / C, C };
}

const rmsnorm: OpImpl = (ctx, attrs, [x, w], [y]) => {
  const { rows, C } = rowsOf(x!);
  const args = [ctx.addr(x!), dtypeCode(x!.dtype), ctx.addr(w!), dtypeCode(w!.dtype)];
  ctx.pool.run('rmsnorm', [...args, ctx.addr(y!), dtypeCode(y!.dtype), C, attrs.eps as number], rows, rows * C * 4);
};

const layernorm: OpImpl = (ctx, attrs, [x, w, b], [y]) => {
  const { rows, C } = rowsOf(x!);
  const args = [
    ctx.addr(x!),
    dtypeCode(x!.dtype),
    ctx.addr(w!),
    dtypeCode(w!.dtype),
    ctx.addr(b!),
    dtypeCode(b!.dtype),
  ];
  ctx.pool.run('layernorm', [...args, ctx.addr(y!), dtypeCode(y!.dtype), C, attrs.eps as number], rows, rows * C * 6);
};

const softmax: OpImpl = (ctx, _attrs, [x], [y]) => {
  const { rows, C } = rowsOf(x!);
  ctx.pool.run(
    'softmax',
    [ctx.addr(x!), dtypeCode(x!.dtype), ctx.addr(y!), dtypeCode(y!.dtype), C],
    rows,
    rows * C * 16,
  );
};

const embedding: OpImpl = (ctx, _attrs, [table, ids], [out]) => {
  const [V, D] = table!.shape as [number, number];
  const T = ids!.shape[0]!;
  const id = ctx.heap.i32(ctx.addr(ids!), T);
  const src = ctx.addr(table!);
  const dst = ctx.addr(out!);
  const sdt = dtypeCode(table!.dtype);
  const ddt = dtypeCode(out!.dtype);
  const se = bytesPerElement(table!.dtype);
  const de = bytesPerElement(out!.dtype);
  for (let t = 0; t < T; t++) {
    const r = id[t]!;
    if (!(r >= 0 && r < V)) throw new EmbeddingIdError(t, r, V);
    // one row: small, so it runs here rather than through the pool
    if (sdt === ddt)
      new Uint8Array(ctx.heap.bytes()).copyWithin(dst + t * D * de, src + r * D * se, src + (r + 1) * D * se);
    else ctx.pool.run('convert', [src + r * D * se, sdt, dst + t * D * de, ddt], D, 0);
  }
};

const argmax: OpImpl = (ctx, _attrs, [x], [y]) => {
  const { rows, C } = rowsOf(x!);
  const v = ctx.heap.f32(ctx.f32(x!), rows * C);
  const out = ctx.heap.i32(ctx.addr(y!), rows);
  for (let r = 0; r < rows; r++) {
    let best = -1;
    let bv = -Infinity;
    const o = r * C;
    for (let c = 0; c < C; c++) {
      const e = v[o + c]!;
      if (!Number.isNaN(e) && (best < 0 || e > bv)) {
        best = c;
        bv = e;
      }
    }
    out[r] = Math.max(best, 0);
  }
};

const reduce: OpImpl = (ctx, attrs, [x], [y]) => {
  const { rows, C } = rowsOf(x!);
  const v = ctx.heap.f32(ctx.f32(x!), rows * C);
  const c = f32Target(ctx, y!);
  const out = ctx.heap.f32(c, rows);
  const isMax = attrs.op === 'max';
  for (let r = 0; r < rows; r++) {
    let s = isMax ? -Infinity : 0;
    const o = r * C;
    if (isMax) for (let k = 0; k < C; k++) s = Number.isNaN(v[o + k]!) || v[o + k]! > s ? v[o + k]! : s;
    else for (let k = 0; k < C; k++) s = Math.fround(s + v[o + k]!);
    out[r] = s;
  }
  storeF32(ctx, c, y!, rows);
};

const NATIVE: Record<string, OpImpl> = {
  matmul,
  elementwise,
  rmsnorm,
  layernorm,
  softmax,
  rope,
  embedding,
  argmax,
  reduce,
  sample,
  attention: denseAttention,
  paged_attention: pagedAttentionNative,
  append_kv: appendKv,
  merge_states: mergeStates,
  spmm_coo: spmm('spmm_coo'),
  spmm_csr: spmm('spmm_csr'),
  spmm_ell: spmm('spmm_ell'),
  spmm_bsr: spmm('spmm_bsr'),
  spmm_hyb: spmm('spmm_hyb'),
  sddmm_csr: sddmmCsr,
  linear: linearNative,
  linear_group: linearGroupNative,
};

/**
 * The CPU implementation of `op` for these attributes (the backend's own, else one a feature module
 * registered, cpu-kernel-registry.ts), or null where the op is left to its reference.
 */
export function nativeOp(op: string, attrs: Attrs, inputs: readonly TensorDesc[]): OpImpl | null {
  const impl = NATIVE[op];
  if (!impl) return registeredCpuKernel(op, attrs, inputs);
  if (op === 'paged_attention' && !nativeAttentionVariant(attrs, inputs)) return null;
  // a quantized KV pool's layout belongs to src/attention, which registers the kernels that read and write it
  if ((op === 'paged_attention' || op === 'append_kv') && attrs.kvQuant) return registeredCpuKernel(op, attrs, inputs);
  if (op === 'reduce' && attrs.op !== 'sum' && attrs.op !== 'max') return null;
  return impl;
}

export type { CpuTensor, DType, OpContext, OpImpl };
