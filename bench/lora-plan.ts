/**
 * A decode step's LoRA work as the WebGPU `lora_delta` kernel plans it (src/lora/lora-delta-plan.ts),
 * for a Llama of any shape: the four calls of a layer as the compiler groups them (Q/K/V and gate/up
 * with the layer's RMSNorm folded in; o and down plain), their dispatches, and the A/B bytes a step
 * reads. No device and no model: bench/lora.ts notes it for the device it runs on, and the tests
 * count it at the 8B shape (test/lora/lora-delta-reads.test.ts, test/models/decode-dispatches.test.ts).
 */
import type { TensorDesc } from '../src/backends/backend.js';
import type { Capabilities } from '../src/backends/webgpu/capabilities.js';
import type { LoraDeltaAttrs } from '../src/lora/lora-delta.js';
import {
  dispatchesOf,
  type LoraDeltaDispatchPlan,
  loraDeltaPlan,
  loraDeltaReads,
} from '../src/lora/lora-delta-plan.js';
import type { LoraBaseShapes, LoraModule } from '../src/lora/modules.js';

export interface LoraGroup {
  readonly name: string;
  readonly modules: readonly LoraModule[];
  readonly normed: boolean;
}

export const LAYER_GROUPS: readonly LoraGroup[] = [
  { name: 'q/k/v', modules: ['q_proj', 'k_proj', 'v_proj'], normed: true },
  { name: 'o', modules: ['o_proj'], normed: false },
  { name: 'gate/up', modules: ['gate_proj', 'up_proj'], normed: true },
  { name: 'down', modules: ['down_proj'], normed: false },
];

/** A group's call: attributes and input types for `n` rows over stacks of `slots` × `rmax` in `weight`. */
export function groupCall(
  shapes: LoraBaseShapes,
  group: LoraGroup,
  n: number,
  slots: number,
  rmax: number,
  weight: 'f16' | 'f32',
) {
  const inn = shapes.modules[group.modules[0]!][1];
  const attrs: LoraDeltaAttrs = { count: group.modules.length, ...(group.normed ? { normEps: 1e-5 } : {}) };
  const inputs: TensorDesc[] = [
    { dtype: 'f16', shape: [n, inn] },
    ...(group.normed ? [{ dtype: 'bf16' as const, shape: [inn] }] : []),
    { dtype: 'i32', shape: [n] },
    { dtype: 'f32', shape: [slots] },
    ...group.modules.flatMap((m): TensorDesc[] => [
      { dtype: weight, shape: [slots, rmax, inn] },
      { dtype: weight, shape: [slots, shapes.modules[m][0], rmax] },
      { dtype: 'i32', shape: [slots] },
    ]),
  ];
  return { attrs, inputs };
}

export interface LoraStepPlan {
  /** Each group's plan, in layer order. */
  readonly groups: readonly { group: LoraGroup; plan: readonly LoraDeltaDispatchPlan[] }[];
  /** GPU dispatches per layer (the segmented schedule's plan entries are two each). */
  readonly dispatchesPerLayer: number;
  /** A/B bytes per step of the distinct adapters the rows name, up to their ranks (all layers). */
  readonly distinct: number;
  /** A/B bytes per step the workgroups load, repeats included (all layers). */
  readonly loaded: number;
}

/** The plan of a decode step of `rowSlots` (−1: none), slot s of rank `ranks[s]` in every projection. */
export function loraStepPlan(
  caps: Pick<Capabilities, 'maxStorageBuffersPerShaderStage'>,
  shapes: LoraBaseShapes,
  rowSlots: Int32Array,
  ranks: Int32Array,
  rmax: number,
  weight: 'f16' | 'f32',
  /** Attributes laid over each group's call (e.g. `segmentedFromRows` to pick a schedule). */
  extra: Readonly<Record<string, unknown>> = {},
): LoraStepPlan {
  let distinct = 0;
  let loaded = 0;
  const groups = LAYER_GROUPS.map((group) => {
    const call = groupCall(shapes, group, rowSlots.length, ranks.length, rmax, weight);
    const { inputs } = call;
    const plan = loraDeltaPlan(caps, { ...call.attrs, ...extra }, inputs);
    const r = loraDeltaReads(
      plan,
      rowSlots,
      group.modules.map(() => ranks),
    );
    distinct += r.distinct;
    loaded += r.loaded;
    return { group, plan };
  });
  return {
    groups,
    dispatchesPerLayer: groups.reduce((s, g) => s + g.plan.reduce((t, d) => t + dispatchesOf(d), 0), 0),
    distinct: distinct * shapes.numLayers,
    loaded: loaded * shapes.numLayers,
  };
}
