/**
 * Constructors for op calls, so model code reads like the math:
 * `op.add(op.matmul(x, w), b)`. Each returns an unbound call; `FunctionBuilder.emit` binds it.
 */
import type { Attrs } from '../backends/backend.js';
import type { DType } from '../tensor/dtype.js';
import { type Call, type Expr, type ShapeExpr, callOf } from './graph.js';
import { type DimLike, dim } from './types.js';

const call = (name: string, args: readonly Expr[], attrs: Attrs = {}): Call => callOf('op', name, args, attrs);
const un =
  (name: string) =>
  (x: Expr): Call =>
    call(name, [x]);
const bi =
  (name: string) =>
  (a: Expr, b: Expr): Call =>
    call(name, [a, b]);

export function shape(...dims: DimLike[]): ShapeExpr {
  return { k: 'shape', dims: dims.map(dim) };
}

export const op = {
  neg: un('neg'),
  exp: un('exp'),
  log: un('log'),
  sqrt: un('sqrt'),
  rsqrt: un('rsqrt'),
  tanh: un('tanh'),
  sigmoid: un('sigmoid'),
  silu: un('silu'),
  gelu: un('gelu'),
  relu: un('relu'),
  abs: un('abs'),
  recip: un('recip'),
  add: bi('add'),
  subtract: bi('subtract'),
  multiply: bi('multiply'),
  divide: bi('divide'),
  maximum: bi('maximum'),
  minimum: bi('minimum'),
  power: bi('power'),
  scale: (x: Expr, factor: number) => call('scale', [x], { factor }),
  cast: (x: Expr, dtype: DType) => call('cast', [x], { dtype }),
  matmul: (a: Expr, b: Expr, attrs: { transB?: boolean; outDtype?: DType } = {}) => call('matmul', [a, b], attrs),
  reshape: (x: Expr, dims: readonly DimLike[]) => call('reshape', [x, shape(...dims)]),
  permuteDims: (x: Expr, axes: readonly number[]) => call('permute_dims', [x], { axes: [...axes] }),
  concat: (xs: readonly Expr[], axis = 0) => call('concat', xs, { axis }),
  slice: (x: Expr, axis: number, begin: DimLike, end: DimLike) =>
    call('slice', [x, shape(begin), shape(end)], { axis }),
  sum: (x: Expr, axes?: readonly number[], keepdims = false) =>
    call('sum', [x], axes ? { axes: [...axes], keepdims } : { keepdims }),
  mean: (x: Expr, axes?: readonly number[], keepdims = false) =>
    call('mean', [x], axes ? { axes: [...axes], keepdims } : { keepdims }),
  max: (x: Expr, axes?: readonly number[], keepdims = false) =>
    call('max', [x], axes ? { axes: [...axes], keepdims } : { keepdims }),
  softmax: un('softmax'),
  rmsNorm: (x: Expr, w: Expr, eps = 1e-6) => call('rms_norm', [x, w], { eps }),
  layerNorm: (x: Expr, w: Expr, b: Expr, eps = 1e-5) => call('layer_norm', [x, w, b], { eps }),
  rope: (x: Expr, positions: Expr, theta = 10000) => call('rope', [x, positions], { theta }),
  /** RoPE with every option of the library op (partial rotary, Llama-3 frequency scaling). */
  ropeWith: (
    x: Expr,
    positions: Expr,
    attrs: {
      theta: number;
      rotaryDim?: number;
      scaling?: { factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositions: number };
    },
  ) => call('rope', [x, positions], attrs),
  attention: (q: Expr, k: Expr, v: Expr, attrs: { causal: boolean; scale?: number }) =>
    call('attention', [q, k, v], attrs),
  embedding: (table: Expr, ids: Expr, attrs: { outDtype?: DType } = {}) => call('embedding', [table, ids], attrs),
  argmax: un('argmax'),
  arange: (n: DimLike) => call('arange', [shape(n)]),
  /** NHWC convolution with a [O, C, KH, KW] weight; a bias [O] is added along the channels (it fuses as the epilogue). */
  conv2d: (x: Expr, w: Expr, attrs: { stride?: number; padding?: number; groups?: number; bias?: Expr } = {}): Call => {
    const conv = call('conv2d', [x, w], {
      stride: attrs.stride ?? 1,
      padding: attrs.padding ?? 0,
      ...(attrs.groups && attrs.groups !== 1 ? { groups: attrs.groups } : {}),
    });
    return attrs.bias ? call('add', [conv, attrs.bias]) : conv;
  },
  /** Nearest-neighbour resize of an NHWC tensor to (height, width): ×2 upsampling when they are twice the input's. */
  resizeNearest: (x: Expr, height: DimLike, width: DimLike) => call('resize_nearest', [x, shape(height, width)]),
};

/** Destination-passing calls; bind them with `FunctionBuilder.emitCall(call, type)`. */
export const callTensorProgram = (program: string, args: readonly Expr[]): Call => callOf('tir', program, args);
export const callKernel = (kernel: string, args: readonly Expr[], attrs: Attrs = {}): Call =>
  callOf('kernel', kernel, args, attrs);
export const callHost = (fn: string, args: readonly Expr[], attrs: Attrs = {}): Call => callOf('host', fn, args, attrs);
