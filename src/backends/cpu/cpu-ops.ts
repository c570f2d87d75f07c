/**
 * The CPU backend's own implementations of the ops, over tensors in the kernels' shared memory:
 * the arithmetic runs in the WebAssembly kernels (matrix products, norms, RoPE, softmax, paged
 * attention) or, for data movement and light elementwise work, in f32 JavaScript here. Every op
 * computes in f32 and rounds once to the output's storage type.
 */
import type { Attrs, Tensor, TensorDesc } from '../backend.js';
import { type DType, bytesPerElement, numel } from '../../tensor/dtype.js';
import { EmbeddingIdError } from '../../ops/embedding.js';
import { elementwiseExpr } from '../../ops/elementwise.js';
import { broadcastStrides } from '../../ops/broadcast.js';
import { type MatmulAttrs, epilogueStrides, matmulGeometry } from '../../ops/matmul.js';
import { ROPE_MAX_POSITION, type RopeAttrs, ropeDims, ropeInvFreqs } from '../../ops/rope.js';
import type { Expr } from '../../ops/expr.js';
import { type CpuTensor, dtypeCode } from './cpu-tensor.js';
import { compileF32 } from './f32-expr.js';
import type { Heap } from './heap.js';
import type { ThreadPool } from './thread-pool.js';
import {
  appendKv,
  denseAttention,
  mergeStates,
  nativeAttentionVariant,
  pagedAttentionNative,
} from './cpu-attention.js';
import { sample } from './cpu-sample.js';
import { sddmmCsr, spmm } from './cpu-sparse.js';

/** What an op implementation gets: the memory, the pool and scratch that lives for one op. */
export interface OpContext {
  readonly heap: Heap;
  readonly pool: ThreadPool;
  /** f32 scratch of n elements, released after the op. */
  scratch(n: number): number;
  /** The address of an f32 copy of t (t itself when it is f32). */
  f32(t: Tensor): number;
  /** Address of t's storage. */
  addr(t: Tensor): number;
}

export type OpImpl = (ctx: OpContext, attrs: Attrs, inputs: readonly Tensor[], outputs: readonly Tensor[]) => void;

const isIn = (e: Expr, i: number) => e.k === 'in' && e.i === i;

/** Writes n f32 values at `src` into `out` (converting to its dtype), or nothing when src is out. */
function storeF32(ctx: OpContext, src: number, out: Tensor, n: number): void {
  const dst = ctx.addr(out);
  if (src === dst) return;
  ctx.pool.run('convert', [src, 0, dst, dtypeCode(out.dtype)], n, n);
}

/** An f32 destination for out: its own storage when f32, else scratch to convert from. */
function f32Target(ctx: OpContext, out: Tensor): number {
  return out.dtype === 'f32' ? ctx.addr(out) : ctx.scratch(numel(out.shape));
}

/**
 * The packed GEMM (wasm/gemm-packed.ts) from four rows of activations up: its register tile is four
 * rows tall, and it widens each weight once for all rows. Below, gemmNT's dot products win.
 */
const PACKED_MIN_ROWS = 4;
/** One thread's packing slot: a panel of 8 weight rows × 256 columns of f32, then 32 bytes of staging. */
const PACK_SLOT_BYTES = 256 * 8 * 4 + 32;
const packAreas = new WeakMap<Heap, { pack: number; slots: number }>();

/** The runtime's packing slots (one per thread) and the counter word that hands them out, made once. */
function packArea(ctx: OpContext): { pack: number; slots: number } {
  let area = packAreas.get(ctx.heap);
  if (!area) {
    const pack = ctx.heap.alloc(ctx.pool.threads * PACK_SLOT_BYTES).offset;
    const slots = ctx.heap.alloc(4).offset;
    ctx.heap.i32(slots, 1)[0] = 0;
    area = { pack, slots };
    packAreas.set(ctx.heap, area);
  }
  return area;
}

const matmul: OpImpl = (ctx, attrs, inputs, [out]) => {
  const a = attrs as MatmulAttrs;
  const [x, w] = inputs as [Tensor, Tensor];
  const g = matmulGeometry(a, x, w);
  const { M, N, K } = g;
  const n = numel(out!.shape);
  const c = f32Target(ctx, out!);
  const ax = ctx.f32(x);
  const bdt = dtypeCode(w.dtype);
  const wb = ctx.addr(w);
  const esz = bytesPerElement(w.dtype);
  // decode's GEMV over bf16 weights has its own kernel, reading the activations in even-odd order
  const gemv = a.transB && M === 1 && w.dtype === 'bf16';
  const xp = gemv ? ctx.scratch(K) : 0;
  for (let z = 0; z < g.batch; z++) {
    const az = ax + z * g.aBatchStride * 4;
    const bz = wb + z * g.bBatchStride * esz;
    const cz = c + z * M * N * 4;
    if (gemv) {
      ctx.pool.run('evenOddX', [az, xp, K], Math.ceil(K / 8), 0);
      ctx.pool.run('gemvBf16', [xp, bz, cz, K], N, N * K, 8);
    } else if (a.transB && M >= PACKED_MIN_ROWS) {
      const { pack, slots } = packArea(ctx);
      ctx.pool.run('gemmPackedNT', [az, bz, bdt, cz, M, N, K, pack, slots, PACK_SLOT_BYTES], N, M * N * K, 8);
    } else if (a.transB) ctx.pool.run('gemmNT', [az, bz, bdt, cz, M, N, K], N, M * N * K, 4);
    else ctx.pool.run('gemmNN', [az, bz, bdt, cz, N, K], M, M * N * K);
  }
  if (a.epilogue) epilogue(ctx, a.epilogue, c, inputs.slice(2), out!.shape, N);
  storeF32(ctx, c, out!, n);
};

/** Applies `src` to the f32 accumulators at c in place; the two common forms run in the kernels. */
function epilogue(
  ctx: OpContext,
  src: string,
  c: number,
  extra: readonly Tensor[],
  outShape: readonly number[],
  N: number,
): void {
  const e = elementwiseExpr(src);
  const n = numel(outShape);
  const x1 = extra[0];
  const dense = x1 && extra.length === 1 && x1.dtype === 'f32' && numel(x1.shape) === n;
  if (dense && e.k === 'bin' && e.op === 'add' && ((isIn(e.a, 0) && isIn(e.b, 1)) || (isIn(e.a, 1) && isIn(e.b, 0)))) {
    ctx.pool.run('addInPlace', [c, ctx.addr(x1)], n, n, 4);
    return;
  }
  if (
    dense &&
    e.k === 'bin' &&
    e.op === 'mul' &&
    e.a.k === 'un' &&
    e.a.op === 'silu' &&
    isIn(e.a.a, 0) &&
    isIn(e.b, 1)
  ) {
    ctx.pool.run('siluMul', [c, ctx.addr(x1)], n, n * 8);
    return;
  }
  const fn = compileF32(e);
  const acc = ctx.heap.f32(c, n);
  const strides = extra.map((t) => epilogueStrides(t, outShape));
  const vals = extra.map((t) => ctx.heap.f32(ctx.f32(t), numel(t.shape)));
  const args = new Float64Array(extra.length + 1);
  for (let i = 0; i < n; i++) {
    const row = Math.floor(i / N);
    const col = i - row * N;
    args[0] = acc[i]!;
    for (let j = 0; j < vals.length; j++)
      args[j + 1] = vals[j]![row * strides[j]!.rowStride + col * strides[j]!.colStride]!;
    acc[i] = fn(args);
  }
}

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

const rope: OpImpl = (ctx, attrs, [x, positions], [y]) => {
  const { T, H, D, rd } = ropeDims(attrs as RopeAttrs, [x!, positions!]);
  const a = attrs as RopeAttrs;
  const half = rd / 2;
  const inv = ropeInvFreqs(a.theta, rd, a.scaling);
  const pos = ctx.heap.i32(ctx.addr(positions!), T);
  const cs = ctx.scratch(2 * T * half);
  const table = ctx.heap.f32(cs, 2 * T * half);
  // angles in float64: an f32 product p·inv would be off by up to ~0.01 rad at 128K positions
  for (let t = 0; t < T; t++) {
    const p = pos[t]!;
    if (!Number.isInteger(p) || p < 0 || p >= ROPE_MAX_POSITION)
      throw new RangeError(`rope: position ${p} at token ${t} is outside [0, 2^24)`);
    for (let i = 0; i < half; i++) {
      table[t * half + i] = Math.cos(p * inv[i]!);
      table[(T + t) * half + i] = Math.sin(p * inv[i]!);
    }
  }
  ctx.pool.run(
    'rope',
    [ctx.addr(x!), dtypeCode(x!.dtype), ctx.addr(y!), dtypeCode(y!.dtype), cs, T, H, D, half],
    T * H,
    T * H * D * 4,
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
};

/** The CPU implementation of `op` for these attributes, or null where the op is left to its reference. */
export function nativeOp(op: string, attrs: Attrs, inputs: readonly TensorDesc[]): OpImpl | null {
  const impl = NATIVE[op];
  if (!impl) return null;
  if (op === 'paged_attention' && !nativeAttentionVariant(attrs, inputs)) return null;
  if (op === 'reduce' && attrs.op !== 'sum' && attrs.op !== 'max') return null;
  return impl;
}

export type { CpuTensor, DType };
