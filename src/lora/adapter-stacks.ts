/**
 * One adapter's contribution to the device stacks: for each layer and projection, slot-sized
 * blocks of A [rmax, in] and B [out, rmax] (rank padded with zeros), its rank per projection (0 where
 * the adapter does not target it, so the kernels skip the slot there) and its scale.
 */
import type { LoraAdapter } from './peft-adapter.js';
import { LORA_MODULES, type LoraBaseShapes, type LoraModule } from './modules.js';

export interface SlotBlock {
  /** [rmax, in] */
  readonly a: Float32Array;
  /** [out, rmax] */
  readonly b: Float32Array;
  readonly rank: number;
}

/** Bytes one slot takes across all stacks, as f32 or f16 (`elementBytes`). */
export function slotBytes(base: LoraBaseShapes, rmax: number, elementBytes: number): number {
  let per = 0;
  for (const m of LORA_MODULES) {
    const [out, inn] = base.modules[m];
    per += rmax * (inn + out);
  }
  return per * base.numLayers * elementBytes;
}

/**
 * The blocks of `adapter` for (layer, module); zeros of rank 0 where it does not target the module.
 * At full rank (r = rmax) the blocks are the adapter's own arrays, not copies: callers only read them.
 */
export function slotBlock(
  adapter: LoraAdapter,
  base: LoraBaseShapes,
  rmax: number,
  layer: number,
  m: LoraModule,
): SlotBlock {
  const [out, inn] = base.modules[m];
  const pair = adapter.layers[layer]?.get(m);
  const r = pair ? adapter.config.rank : 0;
  if (r > rmax) throw new Error(`adapter '${adapter.name}': rank ${r} exceeds the stacks' ${rmax}`);
  if (pair && r === rmax) return { a: pair.a, b: pair.b, rank: r };
  const a = new Float32Array(rmax * inn);
  const b = new Float32Array(out * rmax);
  if (!pair) return { a, b, rank: 0 };
  a.set(pair.a); // A's rows are the first r of the block
  for (let j = 0; j < out; j++) b.set(pair.b.subarray(j * r, (j + 1) * r), j * rmax);
  return { a, b, rank: r };
}
