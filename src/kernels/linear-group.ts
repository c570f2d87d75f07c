/**
 * The `linear_group` op (src/ops/linear-group.ts) on WebGPU: decode-sized rows run as one GEMV over
 * every member (gemv-group.ts); otherwise, or when the device has too few storage bindings for
 * all weights and outputs at once (WebGPU's default is 8), the rows are normalised once and each
 * member runs as its own `linear`.
 */
import type { Attrs, TensorDesc } from '../backends/backend.js';
import type { Capabilities } from '../backends/webgpu/capabilities.js';
import { type GpuKernel, type GpuTensor, type KernelContext, shaderKey } from '../backends/webgpu/kernel.js';
import { type LinearGroupAttrs, groupMember, linearGroupOp } from '../ops/linear-group.js';
import { ropeInvFreqs } from '../ops/rope.js';
import { FUSED_GEMV_MAX_M, gemvParams } from './gemv.js';
import { GROUP_FREQ_WORD, type GroupLayout, type PagedKvStore, gemvGroupWgsl } from './gemv-group.js';
import { lanesThatFit } from './gemv-wgsl.js';
import { encodeNormedRows, linearKernel } from './linear.js';
import { grid, planMatmul } from './matmul-common.js';
import { ropeFreqWords } from './rope.js';

/** Why the one-dispatch group GEMV cannot run this call (null when it can). */
export function groupGemvProblem(
  caps: Capabilities,
  attrs: LinearGroupAttrs,
  inputs: readonly TensorDesc[],
): string | null {
  const a = inputs[0]!;
  const K = a.shape[a.shape.length - 1]!;
  const rows = a.shape.slice(0, -1).reduce((x, y) => x * y, 1);
  const weights = inputs.slice(1, 1 + attrs.count);
  const hd = attrs.rope?.headDim;
  if (rows > FUSED_GEMV_MAX_M) return `the fused GEMV serves M ≤ ${FUSED_GEMV_MAX_M}`;
  if (!hd || hd % 4 !== 0 || (attrs.rope!.rotaryDim ?? hd) !== hd)
    return 'the group GEMV walks heads: RoPE with a head dim that is a multiple of 4';
  if (K % 8 !== 0) return 'the group GEMV needs K a multiple of 8';
  if (weights.some((w) => w.dtype !== weights[0]!.dtype || w.shape[0]! % hd !== 0))
    return 'members differ in dtype or are not whole heads';
  const bytes = (w: TensorDesc) => w.shape[0]! * K * (w.dtype === 'f32' ? 4 : 2);
  if (weights.some((w) => bytes(w) > caps.maxStorageBufferBindingSize)) return 'a member weight exceeds one binding';
  if (attrs.delta && inputs.slice(-attrs.count).some((d) => d.dtype !== 'f32'))
    return 'the group GEMV reads per-row terms as f32';
  const storage = inputs.length + attrs.count;
  if (storage > caps.maxStorageBuffersPerShaderStage) return `${storage} storage bindings`;
  return null;
}

/**
 * The one-dispatch group GEMV. With `paged`, `inputs` end in the token slots and the pool and
 * `outs` are [member 0's output, the pool]: K and V go into the pool (gemv-group.ts).
 */
export function encodeGroupGemv(
  ctx: KernelContext,
  attrs: LinearGroupAttrs,
  inputs: readonly GpuTensor[],
  outs: readonly GpuTensor[],
  paged?: { readonly store: PagedKvStore; readonly label: string },
): void {
  const [a, ...rest] = inputs;
  const weights = rest.slice(0, attrs.count);
  const norm = attrs.normEps !== undefined ? rest[attrs.count] : undefined;
  const rope = attrs.rope!;
  const plan = planMatmul({ transB: true }, [a!, weights[0]!], outs[0]!.dtype, ctx.caps);
  // biases follow the weights, the norm weight and the positions
  const firstBias = 1 + attrs.count + (norm ? 1 : 0) + 1;
  const layout: GroupLayout = {
    widths: weights.map((w) => w.shape[0]!),
    roped: attrs.roped,
    headDim: rope.headDim,
    weightDtype: weights[0]!.dtype,
    ...(norm ? { normDtype: norm.dtype } : {}),
    ...(attrs.biased ? { biasDtypes: inputs.slice(firstBias, firstBias + attrs.count).map((b) => b.dtype) } : {}),
    ...(attrs.delta ? { deltas: true } : {}),
    ...(paged ? { paged: paged.store } : {}),
  };
  const W = lanesThatFit(gemvParams(plan.g.M).W, plan.g.M, 4 + (norm ? 1 : 0), ctx.caps);
  const half = rope.headDim / 2;
  const u = new Uint32Array(GROUP_FREQ_WORD + 3 * half);
  u.set([plan.g.M, 0, plan.g.K]);
  new Float32Array(u.buffer, 8 * 4, 1)[0] = attrs.normEps ?? 0;
  u.set(ropeFreqWords(ropeInvFreqs(rope.theta, rope.headDim, rope.scaling)), GROUP_FREQ_WORD);
  const total = layout.widths.reduce((x, y) => x + y, 0);
  // the pool is written, not read: bound once, after member 0's output
  const reads = paged ? inputs.length - 1 : inputs.length;
  const tags = `${norm ? '.norm' : ''}${attrs.biased ? '.bias' : ''}${attrs.delta ? '.delta' : ''}.rope${attrs.roped}`;
  const label = `${paged?.label ?? 'linear_group'}.gemv.${plan.aDtype}.${layout.weightDtype}.m${plan.g.M}.x${attrs.count}${tags}`;
  ctx.dispatch(
    {
      label,
      key: shaderKey(label, plan, W, layout),
      wgsl: () => gemvGroupWgsl(plan, ctx.caps, W, layout),
      access: [...inputs.slice(0, reads).map(() => 'read' as const), ...outs.map(() => 'rw' as const), 'uniform'],
    },
    [...inputs.slice(0, reads), ...outs],
    u,
    grid(total / 4, ctx.caps.maxComputeWorkgroupsPerDimension),
  );
}

export const linearGroupKernel: GpuKernel = {
  op: 'linear_group',
  whyUnsupported(caps: Capabilities, attrs: Attrs, inputs: readonly TensorDesc[]) {
    try {
      linearGroupOp.outputs(attrs, inputs);
    } catch (e) {
      return (e as Error).message;
    }
    const g = attrs as LinearGroupAttrs;
    for (let i = 0; i < g.count; i++) {
      const m = groupMember(g, inputs, i);
      const why = linearKernel.whyUnsupported(caps, m.attrs, m.inputs);
      if (why) return `member ${i}: ${why}`;
    }
    return null;
  },
  encode(ctx, rawAttrs, inputs, outputs) {
    const attrs = rawAttrs as LinearGroupAttrs;
    if (groupGemvProblem(ctx.caps, attrs, inputs) === null) return encodeGroupGemv(ctx, attrs, inputs, outputs);
    // member by member, the rows normalised once for all of them
    const { normEps, ...rest } = attrs;
    const norm = normEps !== undefined ? inputs[1 + attrs.count]! : undefined;
    const a = norm ? encodeNormedRows(ctx, inputs[0]!, norm, normEps!) : inputs[0]!;
    const plain = [a, ...inputs.slice(1, 1 + attrs.count), ...inputs.slice(1 + attrs.count + (norm ? 1 : 0))];
    for (let i = 0; i < attrs.count; i++) {
      const m = groupMember(rest as LinearGroupAttrs, plain, i);
      linearKernel.encode(ctx, m.attrs, m.inputs, [outputs[i]!]);
    }
  },
};
