/**
 * The projections a LoRA adapter may target in a Llama-family decoder, and PEFT's tensor names for
 * them. A module's shape is the base `Linear`'s [out, in]; lora_A is [r, in], lora_B is [out, r].
 */

export const LORA_MODULES = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;
export type LoraModule = (typeof LORA_MODULES)[number];

/** The submodule that holds each projection in HF's Llama layout. */
const PARENT: Readonly<Record<LoraModule, 'self_attn' | 'mlp'>> = {
  q_proj: 'self_attn',
  k_proj: 'self_attn',
  v_proj: 'self_attn',
  o_proj: 'self_attn',
  gate_proj: 'mlp',
  up_proj: 'mlp',
  down_proj: 'mlp',
};

export function isLoraModule(name: string): name is LoraModule {
  return (LORA_MODULES as readonly string[]).includes(name);
}

/** PEFT's saved name (adapter name stripped, as `save_pretrained` writes it). */
export function peftTensorName(layer: number, module: LoraModule, part: 'A' | 'B'): string {
  return `base_model.model.model.layers.${layer}.${PARENT[module]}.${module}.lora_${part}.weight`;
}

/** The base model's projection shapes, which an adapter must fit. Given by the model family. */
export interface LoraBaseShapes {
  readonly numLayers: number;
  /** [out, in] of each projection, as the base checkpoint stores its weight. */
  readonly modules: Readonly<Record<LoraModule, readonly [number, number]>>;
}

/** The base shapes of a Llama-family decoder from its dimensions. */
export function llamaLoraShapes(d: {
  numLayers: number;
  hiddenSize: number;
  intermediateSize: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
}): LoraBaseShapes {
  const h = d.hiddenSize;
  const q = d.numHeads * d.headDim;
  const kv = d.numKvHeads * d.headDim;
  const f = d.intermediateSize;
  return {
    numLayers: d.numLayers,
    modules: {
      q_proj: [q, h],
      k_proj: [kv, h],
      v_proj: [kv, h],
      o_proj: [h, q],
      gate_proj: [f, h],
      up_proj: [f, h],
      down_proj: [h, f],
    },
  };
}
