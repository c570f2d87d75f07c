/**
 * Skinny GEMM for decode batches and short prefill chunks (2 ≤ M ≤ 256) against half weights [N, K] (HF `Linear` layout):
 * a product that costs one read of the weights. Each workgroup owns a run of weight rows and all M
 * activation rows, so every weight byte leaves DRAM once and no second pass sums partials. Two
 * variants, chosen per M bucket by `skinny-gemm-table.ts` (tuned by bench/skinny-tune.ts):
 * register-blocked SIMT with the activation tile in workgroup memory (`skinny-gemm-simt.ts`), and
 * tensor cores through subgroup matrices with K split across the subgroups of one workgroup
 * (`skinny-gemm-sgmat.ts`), and tensor cores with the subgroups tiling a wide output tile and K
 * split across workgroups for M = 64–256 (`skinny-gemm-mid.ts`). The epilogue and output contract are those of `matmul-common.ts`.
 */
import type { Attrs, TensorDesc } from '../backends/backend.js';
import type { Capabilities } from '../backends/webgpu/capabilities.js';
import { type GpuKernel, shaderKey } from '../backends/webgpu/kernel.js';
import type { MatmulAttrs } from '../ops/matmul.js';
import {
  commonProblem,
  grid,
  matmulUniforms,
  outputAccess,
  outputTarget,
  packScratch,
  planMatmul,
  type WeightRange,
  weightRanges,
} from './matmul-common.js';
import { rawPlan } from './matmul-sgmat-wgsl.js';
import { dispatchSplitReduce } from './matmul-subgroup-matrix.js';
import { skinnyMidWgsl } from './skinny-gemm-mid.js';
import {
  SKINNY_MAX_M,
  SKINNY_STAGED_FALLBACKS,
  type SkinnyMidParams,
  type SkinnyParams,
  sgmatConfig,
  midSplit,
  skinnyParams,
  skinnyParamsProblem,
  skinnyRows,
  skinnyShapeProblem,
  skinnyTuning,
} from './skinny-gemm-params.js';
import { skinnySgmatWgsl } from './skinny-gemm-sgmat.js';
import { skinnySimtWgsl } from './skinny-gemm-simt.js';
import { SKINNY_TABLE } from './skinny-gemm-table.js';

export { skinnyTuning } from './skinny-gemm-params.js';

/** Why the operands themselves rule the skinny GEMM out, whatever the parameters. */
function operandProblem(a: MatmulAttrs, inputs: readonly TensorDesc[]): string | null {
  if (!a.transB) return 'the skinny GEMM reads weights as [N, K] (transB)';
  const [x, w] = inputs;
  if (!x || !w || w.shape.length !== 2) return 'the skinny GEMM needs a 2-D weight';
  if (w.dtype !== 'f16' && w.dtype !== 'bf16') return `weights of dtype ${w.dtype} (half weights only)`;
  if (x.dtype !== 'f16' && x.dtype !== 'bf16' && x.dtype !== 'f32') return `activations of dtype ${x.dtype}`;
  const K = w.shape[1]!;
  if (K % 8 !== 0) return `K = ${K} is not a multiple of 8 (16-byte loads); GEMV and the tiled kernel serve it`;
  return null;
}

/** The parameters for these operands, or why the skinny GEMM does not serve them. */
export function skinnyChoice(caps: Capabilities, a: MatmulAttrs, inputs: readonly TensorDesc[]): SkinnyParams | string {
  const M = inputs[0]!.shape.slice(0, -1).reduce((x, y) => x * y, 1);
  if (M > SKINNY_MAX_M) return `the skinny GEMM serves M ≤ ${SKINNY_MAX_M} (got ${M})`;
  const half = inputs[0]!.dtype !== 'f32' && !(a.precise && inputs.slice(0, 2).some((d) => d.dtype === 'bf16'));
  const t = skinnyParams(SKINNY_TABLE, M, caps, half);
  if (!t) return `the skinny GEMM's table leaves M = ${M} to the other kernels`;
  if (t.variant !== 'simt' && !half)
    return 'f32 activations and precise bf16 stay off the f16 tensor-core variant (forced parameters)';
  const K = inputs[1]!.shape[1]!;
  const why = skinnyParamsProblem(t, M, caps) ?? skinnyShapeProblem(t, M, K, inputs[0]!.dtype, caps);
  if (!why) return t;
  // an in-place set from the table cannot take this M or K: a staged set serves it instead
  if (skinnyTuning.override || t.variant !== 'sgmat' || !t.AG) return why;
  return SKINNY_STAGED_FALLBACKS.find((f) => !skinnyParamsProblem(f, M, caps)) ?? why;
}

export const skinnyGemmKernel: GpuKernel = {
  op: 'matmul',
  whyUnsupported(caps: Capabilities, attrs: Attrs, inputs: readonly TensorDesc[]) {
    const a = attrs as MatmulAttrs;
    if (a.path && a.path !== 'auto' && a.path !== 'skinny') return `path '${a.path}' requested`;
    const why = operandProblem(a, inputs);
    if (why) return why;
    const t = skinnyChoice(caps, a, inputs);
    if (typeof t === 'string') return t;
    return commonProblem(caps, a, inputs);
  },
  encode(ctx, rawAttrs, inputs, outputs) {
    const attrs = rawAttrs as MatmulAttrs;
    const c = outputs[0]!;
    const p = planMatmul(attrs, inputs, c.dtype, ctx.caps);
    const t = skinnyChoice(ctx.caps, attrs, inputs);
    if (typeof t === 'string') throw new Error(`matmul: ${t}`);
    const ranges = weightRanges(inputs[1]!, p, ctx.caps, 8);
    if (typeof ranges === 'string') throw new Error(`matmul: ${ranges}`);
    if (t.variant === 'mid') {
      encodeMid(ctx, p, t, inputs, ranges, c);
      return;
    }
    const wgsl = () =>
      t.variant === 'simt' ? skinnySimtWgsl(p, ctx.caps, t) : skinnySgmatWgsl(p, ctx.caps, sgmatConfig(ctx.caps)!, t);
    const rows = skinnyRows(t, ctx.caps);
    const shape =
      t.variant === 'simt'
        ? `kl${t.KL}.mt${t.MT}.rl${t.RL}.rg${t.RG}`
        : `s${t.S}.tn${t.TN}.bk${t.BK}.d${t.D ?? 1}${t.AG ? '.ag' : ''}`;
    const label = `matmul.skinny.${t.variant}.${p.aDtype}.${p.bDtype}.m${p.g.M}.${shape}`;
    const key = shaderKey(label, p, t);
    const target = outputTarget(ctx, p, c);
    for (const r of ranges) {
      ctx.dispatch(
        { label, key, wgsl, access: ['read', 'read', ...outputAccess(p)] },
        [inputs[0]!, r.range, target, ...inputs.slice(2)],
        matmulUniforms(p, r.n0, r.nCount),
        grid(Math.ceil(r.nCount / rows), ctx.caps.maxComputeWorkgroupsPerDimension),
      );
    }
    packScratch(ctx, p, target, c);
  },
};

/**
 * The mid-M kernel's dispatches: one pass with the epilogue, or with K split a pass of f32 partials
 * and the split-K GEMM's reduction pass (fixed order, epilogue there).
 */
function encodeMid(
  ctx: Parameters<GpuKernel['encode']>[0],
  p: ReturnType<typeof planMatmul>,
  t: SkinnyMidParams,
  inputs: Parameters<GpuKernel['encode']>[2],
  ranges: readonly WeightRange[],
  c: Parameters<GpuKernel['encode']>[3][number],
): void {
  const cfg = sgmatConfig(ctx.caps)!;
  const { split, kLen } = midSplit(t, p.g.M, p.g.N, p.g.K, cfg.M, cfg.N);
  const BM = t.WM * t.TM * cfg.M;
  const BN = t.WN * t.TN * cfg.N;
  const label = `matmul.skinny.mid.${p.aDtype}.${p.bDtype}.m${p.g.M}.w${t.WM}x${t.WN}.t${t.TM}x${t.TN}.bk${t.BK}.d${t.D}.sk${t.SK}${split > 1 ? `.k${split}` : ''}${t.probe ? '.probe' : ''}`;
  const key = shaderKey(label, p, t, split);
  const target = outputTarget(ctx, p, c);
  const part = split > 1 ? ctx.scratch(split * p.g.M * p.g.N * 4, 'matmul.skinny.splitk') : null;
  const raw = part ? rawPlan(p) : p;
  for (const r of ranges) {
    const u = matmulUniforms(raw, r.n0, r.nCount);
    u[7] = kLen;
    const [x, y] = grid(Math.ceil(p.g.M / BM) * Math.ceil(r.nCount / BN), ctx.caps.maxComputeWorkgroupsPerDimension);
    ctx.dispatch(
      {
        label,
        key,
        wgsl: () => skinnyMidWgsl(p, ctx.caps, cfg, t, !!part),
        access: ['read', 'read', ...outputAccess(raw)],
      },
      [inputs[0]!, r.range, part ?? target, ...(part ? [] : inputs.slice(2))],
      u,
      [x, y, split],
    );
  }
  if (part) dispatchSplitReduce(ctx, p, part, target, inputs, split);
  packScratch(ctx, p, target, c);
}
