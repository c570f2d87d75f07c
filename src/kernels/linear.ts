/**
 * The `linear` op (src/ops/linear.ts) on WebGPU. Decode-sized rows (M ≤ FUSED_GEMV_MAX_M) run as one
 * GEMV with the RMSNorm prologue, the paired weight and the RoPE epilogue inside it (gemv-wgsl.ts):
 * one dispatch where the unfused graph needed up to three. Larger M runs the same steps as
 * separate kernels — the norm into scratch in a's dtype (as the unfused graph rounds it), the
 * paired product into f32 scratch, the best matmul kernel, RoPE from f32 scratch — since there a
 * norm per GEMM workgroup would cost more than the extra pass.
 */
import type { Attrs, TensorDesc } from '../backends/backend.js';
import type { Capabilities } from '../backends/webgpu/capabilities.js';
import {
  type BufferRange,
  type GpuKernel,
  type GpuTensor,
  type KernelContext,
  shaderKey,
} from '../backends/webgpu/kernel.js';
import { type LinearAttrs, type LinearParts, linearMatmulAttrs, linearOp, linearParts } from '../ops/linear.js';
import { ropeInvFreqs } from '../ops/rope.js';
import type { DType } from '../tensor/dtype.js';
import { FUSED_GEMV_MAX_M, gemvParams, gemvWgsl } from './gemv.js';
import { type GemvFusion, gemvTailWords, gemvVectorised, lanesThatFit, slots } from './gemv-wgsl.js';
import { MATMUL_KERNELS } from './matmul.js';
import {
  commonProblem,
  grid,
  matmulUniforms,
  outputAccess,
  outputTarget,
  packScratch,
  planMatmul,
  tailWord,
  weightRanges,
} from './matmul-common.js';
import { rmsnormKernel } from './rmsnorm.js';
import { ropeFreqWords, ropeKernel } from './rope.js';

const rowsOf = (a: TensorDesc) => a.shape.slice(0, -1).reduce((x, y) => x * y, 1);

/** Why the one-dispatch GEMV cannot run this call (null when it can). */
export function fusedGemvProblem(caps: Capabilities, attrs: LinearAttrs, inputs: readonly TensorDesc[]): string | null {
  const p = linearParts(attrs, inputs);
  if (rowsOf(p.a) > FUSED_GEMV_MAX_M) return `the fused GEMV serves M ≤ ${FUSED_GEMV_MAX_M}`;
  const storage = inputs.length + 1;
  if (storage > caps.maxStorageBuffersPerShaderStage) return `${storage} storage bindings`;
  const rope = attrs.rope;
  if (p.w2 && (rope || p.w2.dtype !== p.w.dtype)) return 'a paired weight is fused without RoPE, in w’s dtype';
  if (rope && (rope.headDim % 4 !== 0 || (rope.rotaryDim ?? rope.headDim) !== rope.headDim))
    return 'RoPE in the GEMV needs a full rotary head dim that is a multiple of 4';
  const mm = [p.a, p.w, ...p.extras];
  const common = commonProblem(caps, linearMatmulAttrs(attrs), mm);
  if (common) return common;
  const bytes = p.w.shape[0]! * p.w.shape[1]! * (p.w.dtype === 'f32' ? 4 : 2);
  if (rope && bytes > caps.maxStorageBufferBindingSize) return 'RoPE in the GEMV needs the weight in one binding';
  return null;
}

function encodeFusedGemv(ctx: KernelContext, attrs: LinearAttrs, p: LinearParts<GpuTensor>, y: GpuTensor): void {
  const fusion: GemvFusion = {
    ...(p.w2 ? { pairDtype: p.w2.dtype } : {}),
    ...(p.norm ? { normDtype: p.norm.dtype } : {}),
    ...(attrs.rope ? { ropeHeadDim: attrs.rope.headDim } : {}),
  };
  const plan = {
    ...planMatmul(linearMatmulAttrs(attrs), [p.a, p.w, ...p.extras], y.dtype, ctx.caps),
    tailWords: gemvTailWords(fusion),
  };
  const base = gemvParams(plan.g.M);
  const rows = attrs.rope ? { ...base, R: 4 } : base;
  const t = { ...rows, W: lanesThatFit(rows.W, plan.g.M, slots(rows, fusion), ctx.caps) };
  const ranges = weightRanges(p.w, plan, ctx.caps, 8);
  if (typeof ranges === 'string') throw new Error(`linear: ${ranges}`);
  const wgsl = () => gemvWgsl(plan, ctx.caps, t, fusion);
  const target = outputTarget(ctx, plan, y);
  const fused = [...(p.norm ? [p.norm] : []), ...(p.pos ? [p.pos] : [])];
  const tags = `${p.w2 ? '.paired' : ''}${p.norm ? '.norm' : ''}${attrs.rope ? '.rope' : ''}`;
  const label = `linear.gemv.${plan.aDtype}.${plan.bDtype}.m${plan.g.M}${gemvVectorised(plan.g.K) ? '.v' : ''}${tags}`;
  const key = shaderKey(label, plan, t, fusion);
  for (const r of ranges) {
    const u = matmulUniforms(plan, r.n0, r.nCount);
    const tw = tailWord(plan);
    new Float32Array(u.buffer, tw * 4, 1)[0] = attrs.normEps ?? 0;
    if (attrs.rope) {
      u[tw + 1] = attrs.rope.headDim / 2;
      u.set(ropeFreqWords(ropeInvFreqs(attrs.rope.theta, attrs.rope.headDim, attrs.rope.scaling)), tw + 4);
    }
    const groups = attrs.rope ? r.nCount / 4 : Math.ceil(r.nCount / t.R);
    // the paired weight has w's shape and dtype: the same rows sit at the same offsets
    const pair = p.w2 ? [{ ...r.range, buffer: p.w2.buffer }] : [];
    const reads = [...pair, ...fused].map(() => 'read' as const);
    ctx.dispatch(
      { label, key, wgsl, access: ['read', 'read', ...reads, ...outputAccess(plan)] },
      [p.a, r.range, ...pair, ...fused, target, ...p.extras],
      u,
      grid(groups, ctx.caps.maxComputeWorkgroupsPerDimension),
    );
  }
  packScratch(ctx, plan, target, y);
}

/** Scratch seen as a tensor by the kernels this file reuses (bound as a range: it has no byteSize). */
function scratchTensor(range: BufferRange, dtype: DType, shape: readonly number[], label: string): GpuTensor {
  return { ...range, dtype, shape: [...shape], backend: 'webgpu', label } as unknown as GpuTensor;
}

function encodeMatmul(ctx: KernelContext, attrs: Attrs, inputs: readonly GpuTensor[], out: GpuTensor): void {
  const kernel = MATMUL_KERNELS.find((k) => k.whyUnsupported(ctx.caps, attrs, inputs) === null);
  if (!kernel) throw new Error('linear: no matmul kernel serves the projection');
  kernel.encode(ctx, attrs, inputs, [out]);
}

/** a's rows RMS-normalised into scratch in a's dtype (as the unfused graph rounds them). */
export function encodeNormedRows(ctx: KernelContext, a: GpuTensor, norm: GpuTensor, eps: number): GpuTensor {
  const rows = a.shape.slice(0, -1).reduce((x, y) => x * y, 1);
  const K = a.shape[a.shape.length - 1]!;
  const bytes = Math.ceil((rows * K * (a.dtype === 'f32' ? 4 : 2)) / 4) * 4;
  const normed = scratchTensor(ctx.scratch(bytes, 'linear.normed'), a.dtype, a.shape, 'linear.normed');
  rmsnormKernel.encode(ctx, { eps }, [a, norm], [normed]);
  return normed;
}

/** Prefill-sized rows: norm, matmul and RoPE as the kernels that serve them on their own. */
function encodeDecomposed(ctx: KernelContext, attrs: LinearAttrs, p: LinearParts<GpuTensor>, y: GpuTensor): void {
  const M = rowsOf(p.a);
  const N = p.w.shape[0]!;
  const a = p.norm ? encodeNormedRows(ctx, p.a, p.norm, attrs.normEps!) : p.a;
  const mmAttrs = { ...linearMatmulAttrs(attrs), outDtype: attrs.rope ? 'f32' : y.dtype };
  const outShape = [...p.a.shape.slice(0, -1), N];
  const mmOut = attrs.rope
    ? scratchTensor(ctx.scratch(M * N * 4, 'linear.unrotated'), 'f32', outShape, 'linear.unrotated')
    : y;
  const pair: GpuTensor[] = [];
  if (p.w2) {
    pair.push(scratchTensor(ctx.scratch(M * N * 4, 'linear.paired'), 'f32', outShape, 'linear.paired'));
    encodeMatmul(ctx, { transB: true, outDtype: 'f32' }, [a, p.w2], pair[0]!);
  }
  encodeMatmul(ctx, mmAttrs, [a, p.w, ...pair, ...p.extras], mmOut);
  if (attrs.rope) {
    const hd = attrs.rope.headDim;
    const heads = scratchTensor(mmOut as unknown as BufferRange, 'f32', [M, N / hd, hd], 'linear.unrotated');
    ropeKernel.encode(ctx, attrs.rope, [heads, p.pos!], [y]);
  }
}

export const linearKernel: GpuKernel = {
  op: 'linear',
  whyUnsupported(caps: Capabilities, attrs: Attrs, inputs: readonly TensorDesc[]) {
    try {
      linearOp.outputs(attrs, inputs);
    } catch (e) {
      return (e as Error).message;
    }
    const p = linearParts(attrs as LinearAttrs, inputs);
    return commonProblem(caps, linearMatmulAttrs(attrs as LinearAttrs), [p.a, p.w, ...p.extras]);
  },
  encode(ctx, rawAttrs, inputs, [y]) {
    const attrs = rawAttrs as LinearAttrs;
    const p = linearParts(attrs, inputs);
    if (fusedGemvProblem(ctx.caps, attrs, inputs) === null) encodeFusedGemv(ctx, attrs, p, y!);
    else encodeDecomposed(ctx, attrs, p, y!);
  },
};
