/**
 * The f16 GEMM on tensor cores (`chromium_experimental_subgroup_matrix`): which problems it takes,
 * and its dispatches — one pass, or with split K a pass of f32 partials and a reduction pass. The
 * WGSL and its accuracy notes are in matmul-sgmat-wgsl.ts, the tile choice in matmul-sgmat-params.ts.
 */
import type { Attrs, TensorDesc } from '../backends/backend.js';
import { type Capabilities, f16MatrixConfig } from '../backends/webgpu/capabilities.js';
import {
  type BufferRange,
  type GpuKernel,
  type GpuTensor,
  type KernelContext,
  shaderKey,
} from '../backends/webgpu/kernel.js';
import type { MatmulAttrs } from '../ops/matmul.js';
import {
  type MatmulPlan,
  commonProblem,
  grid,
  matmulUniforms,
  outputAccess,
  outputTarget,
  packScratch,
  planMatmul,
  weightRanges,
} from './matmul-common.js';
import { sgmatParams, sgmatTuning, splitLength } from './matmul-sgmat-params.js';
import { rawPlan, sgmatWgsl, splitReduceWgsl } from './matmul-sgmat-wgsl.js';

export const matmulSubgroupMatrixKernel: GpuKernel = {
  op: 'matmul',
  whyUnsupported(caps: Capabilities, attrs: Attrs, inputs: readonly TensorDesc[]) {
    const a = attrs as MatmulAttrs;
    if (a.path && a.path !== 'auto' && a.path !== 'subgroup-matrix') return `path '${a.path}' requested`;
    if (!f16MatrixConfig(caps, 'f32')) return 'no f16→f32 subgroup-matrix configuration on this device';
    const [x, w] = inputs;
    if (!x || !w) return 'needs a and b';
    for (const d of [x.dtype, w.dtype]) {
      if (d === 'f32') return 'f32 operands use the f32 path';
      if (d === 'bf16' && a.precise) return 'precise: bf16 stays on the f32 path';
      if (d !== 'f16' && d !== 'bf16') return `operand dtype ${d}`;
    }
    return commonProblem(caps, a, inputs);
  },
  encode(ctx, rawAttrs, inputs, outputs) {
    const attrs = rawAttrs as MatmulAttrs;
    const c = outputs[0]!;
    const p = planMatmul(attrs, inputs, c.dtype, ctx.caps);
    const cfg = f16MatrixConfig(ctx.caps, 'f32')!;
    const t = sgmatParams(p.g.M, p.g.N, p.g.K, p.g.batch, sgmatTuning.override ?? undefined);
    const ranges = weightRanges(inputs[1]!, p, ctx.caps, 8);
    if (typeof ranges === 'string') throw new Error(`matmul: ${ranges}`);
    const split = t.splitK > 1 && p.g.batch === 1 ? t.splitK : 1;
    const tt = { ...t, splitK: split };
    const target = outputTarget(ctx, p, c);
    const BM = t.WM * t.TM * cfg.M,
      BN = t.WN * t.TN * cfg.N;
    const label = `matmul.sgmat.${p.aDtype}.${p.bDtype}${attrs.transB ? '.tB' : ''}.${BM}x${BN}x${t.BK}${split > 1 ? `.k${split}` : ''}`;
    const key = shaderKey(label, p, cfg, tt);
    const kLen = splitLength(p.g.K, tt);
    const part = split > 1 ? ctx.scratch(split * p.g.M * p.g.N * 4, 'matmul.splitk') : null;
    const raw = part ? rawPlan(p) : p;
    for (const r of ranges) {
      const u = matmulUniforms(raw, r.n0, r.nCount);
      u[7] = kLen;
      ctx.dispatch(
        { label, key, wgsl: () => sgmatWgsl(p, ctx.caps, cfg, tt), access: ['read', 'read', ...outputAccess(raw)] },
        [inputs[0]!, r.range, part ?? target, ...(part ? [] : inputs.slice(2))],
        u,
        [Math.ceil(r.nCount / BN), Math.ceil(p.g.M / BM), part ? split : p.g.batch],
      );
    }
    if (part) dispatchSplitReduce(ctx, p, part, target, inputs, split);
    packScratch(ctx, p, target, c);
  },
};

/**
 * The reduction pass after a split-K pass (this kernel's and the mid-M skinny GEMM's): sums the
 * `split` f32 partials [split, M, N] in `part` into `target` in a fixed order, through p's epilogue
 * and output dtype (its extra inputs follow a and b in `inputs`).
 */
export function dispatchSplitReduce(
  ctx: KernelContext,
  p: MatmulPlan,
  part: BufferRange,
  target: GpuTensor | BufferRange,
  inputs: readonly GpuTensor[],
  split: number,
): void {
  const u = matmulUniforms(p, 0, p.g.N);
  u[7] = split;
  const sumLabel = `matmul.splitk-sum.${p.outDtype}`;
  ctx.dispatch(
    {
      label: sumLabel,
      key: shaderKey(sumLabel, p),
      wgsl: () => splitReduceWgsl(p, ctx.caps),
      access: ['read', ...outputAccess(p)],
    },
    [part, target, ...inputs.slice(2)],
    u,
    grid(Math.ceil((p.g.M * Math.ceil(p.g.N / 2)) / 256), ctx.caps.maxComputeWorkgroupsPerDimension),
  );
}
