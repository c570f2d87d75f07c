/**
 * `matmul` over the WebAssembly GEMV/GEMM kernels, and the pieces other ops compose from it: the
 * transposed product into an f32 accumulator (`productNT`) and the epilogue over that accumulator.
 */
import type { Tensor } from '../backend.js';
import { type DType, bytesPerElement, numel } from '../../tensor/dtype.js';
import { elementwiseExpr } from '../../ops/elementwise.js';
import { type MatmulAttrs, epilogueStrides, matmulGeometry } from '../../ops/matmul.js';
import type { Expr } from '../../ops/expr.js';
import { type OpContext, type OpImpl, f32Target, storeF32 } from './cpu-op-context.js';
import { dtypeCode } from './cpu-tensor.js';
import { compileF32 } from './f32-expr.js';
import type { Heap } from './heap.js';

const isIn = (e: Expr, i: number) => e.k === 'in' && e.i === i;

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

/**
 * c[M, N] = a · wᵀ in f32: a is f32 [M, K] at `a`, w [N, K] of `wdt` at `w`. The kernel follows the
 * shape: decode's bf16 GEMV, the packed GEMM from four rows, dot products below.
 */
export function productNT(
  ctx: OpContext,
  a: number,
  w: number,
  wdt: DType,
  c: number,
  M: number,
  N: number,
  K: number,
): void {
  if (M === 1 && wdt === 'bf16') {
    // decode's GEMV over bf16 weights has its own kernel, reading the activations in even-odd order
    const xp = ctx.scratch(K);
    ctx.pool.run('evenOddX', [a, xp, K], Math.ceil(K / 8), 0);
    ctx.pool.run('gemvBf16', [xp, w, c, K], N, N * K, 8);
  } else if (M >= PACKED_MIN_ROWS) {
    const { pack, slots } = packArea(ctx);
    ctx.pool.run('gemmPackedNT', [a, w, dtypeCode(wdt), c, M, N, K, pack, slots, PACK_SLOT_BYTES], N, M * N * K, 8);
  } else ctx.pool.run('gemmNT', [a, w, dtypeCode(wdt), c, M, N, K], N, M * N * K, 4);
}

export const matmul: OpImpl = (ctx, attrs, inputs, [out]) => {
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
  for (let z = 0; z < g.batch; z++) {
    const az = ax + z * g.aBatchStride * 4;
    const bz = wb + z * g.bBatchStride * esz;
    const cz = c + z * M * N * 4;
    if (a.transB) productNT(ctx, az, bz, w.dtype, cz, M, N, K);
    else ctx.pool.run('gemmNN', [az, bz, bdt, cz, N, K], M, M * N * K);
  }
  if (a.epilogue)
    epilogue(
      ctx,
      a.epilogue,
      c,
      inputs.slice(2).map((t) => f32Operand(ctx, t)),
      out!.shape,
      N,
    );
  storeF32(ctx, c, out!, n);
};

/** An epilogue input as f32 values in the heap: its address and shape. */
export interface F32Operand {
  readonly at: number;
  readonly shape: readonly number[];
}

export const f32Operand = (ctx: OpContext, t: Tensor): F32Operand => ({ at: ctx.f32(t), shape: t.shape });

/** Applies `src` to the f32 accumulators at c in place; the two common forms run in the kernels. */
export function epilogue(
  ctx: OpContext,
  src: string,
  c: number,
  extra: readonly F32Operand[],
  outShape: readonly number[],
  N: number,
): void {
  const e = elementwiseExpr(src);
  const n = numel(outShape);
  const x1 = extra[0];
  const dense = x1 && extra.length === 1 && numel(x1.shape) === n;
  if (dense && e.k === 'bin' && e.op === 'add' && ((isIn(e.a, 0) && isIn(e.b, 1)) || (isIn(e.a, 1) && isIn(e.b, 0)))) {
    ctx.pool.run('addInPlace', [c, x1.at], n, n, 4);
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
    ctx.pool.run('siluMul', [c, x1.at], n, n * 8);
    return;
  }
  const fn = compileF32(e);
  const acc = ctx.heap.f32(c, n);
  const strides = extra.map((t) => epilogueStrides({ dtype: 'f32', shape: t.shape }, outShape));
  const vals = extra.map((t) => ctx.heap.f32(t.at, numel(t.shape)));
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
