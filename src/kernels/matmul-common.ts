/**
 * What every matmul kernel shares: the uniform layout, the epilogue (an `expr.ts` expression on the
 * f32 accumulator plus broadcast extra inputs), the output store, the packed-output fallback and
 * the split of weights over the storage-binding limit.
 *
 * Uniform words: 0 M, 1 N, 2 K, 3 n0 (first output column this dispatch covers), 4 nCount,
 * 5 aBatchStride, 6 bBatchStride, 7 split-K (K per split in a GEMM pass, the number of splits in
 * the summing pass), then per extra input j: 8+2j rowStride, 9+2j colStride.
 */
import type { TensorDesc } from '../backends/backend.js';
import type { Capabilities } from '../backends/webgpu/capabilities.js';
import { type MatmulAttrs, type MatmulGeometry, epilogueStrides, matmulGeometry } from '../ops/matmul.js';
import { elementwiseExpr } from '../ops/elementwise.js';
import { type DType, bytesPerElement } from '../tensor/dtype.js';
import { EXPR_WGSL_PRELUDE, exprToWgsl } from '../ops/expr.js';
import type { BufferRange, GpuTensor, KernelContext } from '../backends/webgpu/kernel.js';
import { PACK_WGSL, elemsPerWord, loadF32, storageDecl, storeWord, uniformDecl } from './wgsl-dtype.js';

export const U_EXTRA = 8;

/** Everything an encode needs, computed once from attrs and input types. */
export interface MatmulPlan {
  readonly attrs: MatmulAttrs;
  readonly g: MatmulGeometry;
  readonly aDtype: DType;
  readonly bDtype: DType;
  readonly outDtype: DType;
  readonly extraDtypes: readonly DType[];
  readonly extraStrides: readonly { rowStride: number; colStride: number }[];
  /** Packed output with odd N: a stored word would straddle two rows, so kernels write f32 to scratch and a second pass packs. */
  readonly viaScratch: boolean;
  /** Uniform words after the extras' strides that a fused kernel (gemv-wgsl.ts) reads. */
  readonly tailWords?: number;
}

export function planMatmul(
  attrs: MatmulAttrs,
  inputs: readonly TensorDesc[],
  outDtype: DType | undefined,
  caps: Pick<Capabilities, 'f16'>,
): MatmulPlan {
  const [a, b] = inputs as [TensorDesc, TensorDesc];
  const g = matmulGeometry(attrs, a, b);
  const od = outDtype ?? attrs.outDtype ?? a.dtype;
  const extra = inputs.slice(2);
  return {
    attrs,
    g,
    aDtype: a.dtype,
    bDtype: b.dtype,
    outDtype: od,
    extraDtypes: extra.map((t) => t.dtype),
    extraStrides: extra.map((t) => epilogueStrides(t, g.outShape)),
    viaScratch: elemsPerWord(od, caps) > 1 && g.N % 2 === 1,
  };
}

/** The dtype the kernel itself stores (f32 when going through scratch). */
export function kernelOutDtype(p: MatmulPlan): DType {
  return p.viaScratch ? 'f32' : p.outDtype;
}

export function uniformWords(p: MatmulPlan): number {
  return U_EXTRA + 2 * p.extraDtypes.length + (p.tailWords ?? 0);
}

/** The first uniform word after the extras' strides. */
export function tailWord(p: MatmulPlan): number {
  return U_EXTRA + 2 * p.extraDtypes.length;
}

export function matmulUniforms(p: MatmulPlan, n0: number, nCount: number): Uint32Array {
  const u = new Uint32Array(uniformWords(p));
  u[0] = p.g.M;
  u[1] = p.g.N;
  u[2] = p.g.K;
  u[3] = n0;
  u[4] = nCount;
  u[5] = p.g.aBatchStride;
  u[6] = p.g.bBatchStride;
  p.extraStrides.forEach((s, j) => {
    u[U_EXTRA + 2 * j] = s.rowStride;
    u[U_EXTRA + 2 * j + 1] = s.colStride;
  });
  return u;
}

/**
 * WGSL declaring output `c` at `binding`, the extra inputs after it, the uniforms after those, and
 * `fn write_out(row, col, v0, v1, colEnd)`: applies the epilogue to the accumulators of columns
 * `col` (even) and `col + 1` of folded row `row` and stores them — one whole word for packed types,
 * so kernels always produce outputs in adjacent pairs. `colEnd` bounds this dispatch's columns.
 * `store_out` stores without the epilogue (for kernels that transform after it, e.g. RoPE).
 */
export function outputWgsl(p: MatmulPlan, caps: Pick<Capabilities, 'f16'>, binding: number, paired = false): string {
  const od = kernelOutDtype(p);
  const per = elemsPerWord(od, caps);
  const extras = p.extraDtypes.map((d, j) => storageDecl(binding + 1 + j, `x${j + 1}`, d, caps, 'read')).join('\n');
  const e = p.attrs.epilogue ? elementwiseExpr(p.attrs.epilogue) : null;
  // with a paired weight, x1 is its accumulator and the extra inputs come after it
  const first = paired ? 2 : 1;
  const input = (i: number) => {
    if (i === 0) return 'acc';
    if (i < first) return 'acc2';
    const j = i - first;
    return loadF32(
      p.extraDtypes[j]!,
      caps,
      `x${j + 1}`,
      `row * uw(${U_EXTRA + 2 * j}u) + col * uw(${U_EXTRA + 2 * j + 1}u)`,
    );
  };
  const epi = e ? exprToWgsl(e, input) : 'acc';
  const store =
    per === 1
      ? `${storeWord(od, caps, 'c', 'i', ['v0'])}
  if (col + 1u < colEnd) { ${storeWord(od, caps, 'c', 'i + 1u', ['v1'])} }`
      : `${storeWord(od, caps, 'c', 'i >> 1u', ['v0', 'v1'])}`;
  const write = paired
    ? `fn write_out2(row: u32, col: u32, v0: f32, v1: f32, u0: f32, u1: f32, colEnd: u32) {
  store_out(row, col, epi(row, col, v0, u0), epi(row, col + 1u, v1, u1), colEnd);
}`
    : `fn write_out(row: u32, col: u32, v0: f32, v1: f32, colEnd: u32) {
  store_out(row, col, epi(row, col, v0), epi(row, col + 1u, v1), colEnd);
}`;
  return `${storageDecl(binding, 'c', od, caps, 'read_write')}
${extras}
${uniformDecl(binding + 1 + p.extraDtypes.length, uniformWords(p))}
${e ? EXPR_WGSL_PRELUDE : ''}
${PACK_WGSL}
fn epi(row: u32, col: u32, acc: f32${paired ? ', acc2: f32' : ''}) -> f32 { return ${epi}; }
fn store_out(row: u32, col: u32, v0: f32, v1: f32, colEnd: u32) {
  let i = row * uw(1u) + col;
  ${store}
}
${write}`;
}

export function outputAccess(p: MatmulPlan): ('read' | 'rw' | 'uniform')[] {
  return ['rw', ...p.extraDtypes.map(() => 'read' as const), 'uniform'];
}

/** A contiguous run of weight rows bound on its own: output columns [n0, n0 + nCount). */
export interface WeightRange {
  readonly range: BufferRange;
  readonly n0: number;
  readonly nCount: number;
}

/**
 * Splits b into bindable ranges. Only [N, K] weights (transB) split: a row range of them is a
 * column range of c, so each dispatch stays independent. Ranges start at multiples of 256 bytes
 * (WebGPU's storage offset alignment) and hold an even number of rows, so packed outputs stay
 * word-aligned; `rowAlign` lets vectorised kernels ask for more.
 */
export function weightRanges(
  b: GpuTensor,
  p: MatmulPlan,
  caps: Pick<Capabilities, 'maxStorageBufferBindingSize'>,
  rowAlign = 2,
): WeightRange[] | string {
  const limit = caps.maxStorageBufferBindingSize;
  if (b.byteSize <= limit) return [{ range: { buffer: b.buffer, offset: 0, size: b.byteSize }, n0: 0, nCount: p.g.N }];
  if (!p.attrs.transB || p.g.batch > 1)
    return `b (${b.byteSize} bytes) exceeds maxStorageBufferBindingSize (${limit}) and only 2-D [N, K] weights (transB) are split`;
  const rowBytes = p.g.K * bytesPerElement(b.dtype);
  const gcd = (x: number, y: number): number => (y === 0 ? x : gcd(y, x % y));
  const align = 256 / gcd(rowBytes % 256 || 256, 256);
  const step = (align * rowAlign) / gcd(align, rowAlign);
  const rows = Math.floor(limit / rowBytes / step) * step;
  if (rows === 0)
    return `one group of ${step} weight rows (${step * rowBytes} bytes) exceeds maxStorageBufferBindingSize (${limit})`;
  const out: WeightRange[] = [];
  for (let n0 = 0; n0 < p.g.N; n0 += rows) {
    const nCount = Math.min(rows, p.g.N - n0);
    const offset = n0 * rowBytes;
    const size = Math.min(Math.ceil((nCount * rowBytes) / 16) * 16, b.byteSize - offset);
    out.push({ range: { buffer: b.buffer, offset, size }, n0, nCount });
  }
  return out;
}

/** Why a and c cannot be bound whole (they are not split; only weights are large). */
export function bindingProblem(
  inputs: readonly TensorDesc[],
  p: MatmulPlan,
  caps: Pick<Capabilities, 'maxStorageBufferBindingSize'>,
): string | null {
  const a = inputs[0]!;
  const aBytes = Math.ceil((a.shape.reduce((x, y) => x * y, 1) * bytesPerElement(a.dtype)) / 4) * 4;
  const cBytes = p.g.batch * p.g.M * p.g.N * bytesPerElement(p.viaScratch ? 'f32' : p.outDtype);
  if (aBytes > caps.maxStorageBufferBindingSize) return `a (${aBytes} bytes) exceeds maxStorageBufferBindingSize`;
  if (cBytes > caps.maxStorageBufferBindingSize) return `c (${cBytes} bytes) exceeds maxStorageBufferBindingSize`;
  if (
    !p.attrs.transB &&
    inputs[1]!.shape.reduce((x, y) => x * y, 1) * bytesPerElement(inputs[1]!.dtype) > caps.maxStorageBufferBindingSize
  )
    return 'b exceeds maxStorageBufferBindingSize and is not transposed (only [N, K] weights are split)';
  return null;
}

/** The output binding for the kernel: c itself, or f32 scratch when packing must wait for a second pass. */
export function outputTarget(ctx: KernelContext, p: MatmulPlan, c: GpuTensor): GpuTensor | BufferRange {
  return p.viaScratch ? ctx.scratch(p.g.batch * p.g.M * p.g.N * 4, 'matmul.f32-out') : c;
}

/** Packs the f32 scratch into c (odd N with f16/bf16 words): one word, two elements, per invocation. */
export function packScratch(ctx: KernelContext, p: MatmulPlan, scratch: GpuTensor | BufferRange, c: GpuTensor): void {
  if (!p.viaScratch) return;
  const total = p.g.batch * p.g.M * p.g.N;
  const words = Math.ceil(total / 2);
  const wgsl = () => `@group(0) @binding(0) var<storage, read> s: array<f32>;
${storageDecl(1, 'c', p.outDtype, ctx.caps, 'read_write')}
${uniformDecl(2, 2)}
${PACK_WGSL}
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let w = gid.x + gid.y * nwg.x * 256u;
  if (w >= uw(1u)) { return; }
  let hi = select(0.0, s[min(2u * w + 1u, uw(0u) - 1u)], 2u * w + 1u < uw(0u));
  ${storeWord(p.outDtype, ctx.caps, 'c', 'w', ['s[2u * w]', 'hi'])}
}`;
  const groups = Math.ceil(words / 256);
  const maxd = ctx.caps.maxComputeWorkgroupsPerDimension;
  const y = Math.ceil(groups / maxd);
  ctx.dispatch(
    { label: `matmul.pack.${p.outDtype}`, key: `matmul.pack.${p.outDtype}`, wgsl, access: ['read', 'rw', 'uniform'] },
    [scratch, c],
    new Uint32Array([total, words]),
    [Math.ceil(groups / y), y],
  );
}

/** Shared `whyUnsupported` checks: dtypes, epilogue inputs, bindings. */
export function commonProblem(caps: Capabilities, attrs: MatmulAttrs, inputs: readonly TensorDesc[]): string | null {
  let p: MatmulPlan;
  try {
    p = planMatmul(attrs, inputs, undefined, caps);
  } catch (e) {
    return (e as Error).message;
  }
  if (inputs.length + 2 > caps.maxStorageBuffersPerShaderStage)
    return `more inputs than storage bindings (${caps.maxStorageBuffersPerShaderStage})`;
  return bindingProblem(inputs, p, caps);
}

/** Splits a workgroup count over x and y within the per-dimension limit. */
export function grid(groups: number, maxPerDim: number): [number, number] {
  if (groups <= maxPerDim) return [Math.max(1, groups), 1];
  const y = Math.ceil(groups / maxPerDim);
  return [Math.ceil(groups / y), y];
}
