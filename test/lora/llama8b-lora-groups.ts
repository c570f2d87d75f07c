/**
 * The four `lora_delta` calls of one Llama-3-8B decoder layer as the compiler groups them (Q/K/V
 * and gate/up with the layer's RMSNorm folded in; o and down plain), for plan-level counts of
 * dispatches and bytes without a device or a model.
 */
import type { TensorDesc } from '../../src/backends/backend.js';
import type { LoraDeltaAttrs } from '../../src/lora/lora-delta.js';
import { type LoraModule, llamaLoraShapes } from '../../src/lora/modules.js';

export const LLAMA3_8B_SHAPES = llamaLoraShapes({
  numLayers: 32,
  hiddenSize: 4096,
  intermediateSize: 14336,
  numHeads: 32,
  numKvHeads: 8,
  headDim: 128,
});

/** Bytes of the base model's weights in bf16: projections, embeddings, LM head and norms. */
export const LLAMA3_8B_BASE_BYTES =
  2 *
  (32 * Object.values(LLAMA3_8B_SHAPES.modules).reduce((s, [o, i]) => s + o * i, 0) +
    2 * 128256 * 4096 +
    (2 * 32 + 1) * 4096);

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
export function groupCall(group: LoraGroup, n: number, slots: number, rmax: number, weight: 'f16' | 'f32') {
  const inn = LLAMA3_8B_SHAPES.modules[group.modules[0]!][1];
  const attrs: LoraDeltaAttrs = { count: group.modules.length, ...(group.normed ? { normEps: 1e-5 } : {}) };
  const inputs: TensorDesc[] = [
    { dtype: 'f16', shape: [n, inn] },
    ...(group.normed ? [{ dtype: 'bf16' as const, shape: [inn] }] : []),
    { dtype: 'i32', shape: [n] },
    { dtype: 'f32', shape: [slots] },
    ...group.modules.flatMap((m): TensorDesc[] => {
      const [out] = LLAMA3_8B_SHAPES.modules[m];
      return [
        { dtype: weight, shape: [slots, rmax, inn] },
        { dtype: weight, shape: [slots, out, rmax] },
        { dtype: 'i32', shape: [slots] },
      ];
    }),
  ];
  return { attrs, inputs };
}
