/** The Llama-3-8B projection shapes and base-weight bytes the plan-level LoRA tests count at. */
import { llamaLoraShapes } from '../../src/lora/modules.js';

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
