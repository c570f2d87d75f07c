/**
 * The runner's LoRA state: one device stack per (layer, projection) (A, B and rank, in the graph's
 * parameter order after `lora_scale`), their host mirrors, and the registry that decides which
 * adapter sits in which slot. An upload rewrites the stacks through the device queue, ordered after
 * every step already submitted, so it never waits for running work and never changes what a
 * submitted step reads (the registry refuses to overwrite a slot a step in flight pinned).
 *
 * An upload writes only the slot's block of each stack (`Backend.writeAt`): a slot's A and B are
 * contiguous ([slots, rmax, in] and [slots, out, rmax]), so filling many slots costs their bytes,
 * not the stacks' bytes once per slot. The registry keeps the adapters' host copies, so the stacks
 * need no host mirror.
 *
 * The stacks hold `o.dtype` (f16 where the device has it: `loraStackDtype`); an upload converts the
 * adapter's f32 host copy as it writes, so the kernels never convert per step.
 */
import type { Backend, Tensor } from '../../backends/backend.js';
import { AdapterRegistry } from '../../lora/adapter-registry.js';
import { slotBlock } from '../../lora/adapter-stacks.js';
import type { LoraAdapter } from '../../lora/peft-adapter.js';
import type { LoraBaseShapes } from '../../lora/modules.js';
import type { HostArray } from '../../tensor/dtype.js';
import { f16FromF32 } from '../../tensor/f16-array.js';
import { type LoraGraphOptions, loraShapesOf, loraSites } from './adapter-graph.js';
import type { LlamaConfig } from './llama-config.js';

/**
 * The stacks' element type: what `asked` names, else f16 where the device has f16 and every slot
 * block is a whole number of 4-byte words (`writeAt` writes words on WebGPU; rmax·in and out·rmax
 * even), else f32.
 */
export function loraStackDtype(
  deviceF16: boolean,
  shapes: LoraBaseShapes,
  rmax: number,
  asked?: 'f32' | 'f16',
): 'f32' | 'f16' {
  const whole = Object.values(shapes.modules).every(([out, inn]) => (rmax * out) % 2 === 0 && (rmax * inn) % 2 === 0);
  if (asked === 'f16' && !whole)
    throw new Error(`f16 adapter stacks need even rmax·in and out·rmax (slot blocks of whole words); rmax ${rmax}`);
  return asked ?? (deviceF16 && whole ? 'f16' : 'f32');
}

interface SiteStacks {
  tensors: [Tensor, Tensor, Tensor];
}

export class DeviceAdapterStacks {
  readonly registry: AdapterRegistry;
  readonly shapes: LoraBaseShapes;
  private readonly scale: Tensor;
  private readonly sites: SiteStacks[];

  constructor(
    private readonly backend: Backend,
    cfg: LlamaConfig,
    readonly o: LoraGraphOptions,
  ) {
    this.shapes = loraShapesOf(cfg);
    const dtype = o.dtype ?? 'f32';
    const alloc = (shape: number[], label: string, d: 'f32' | 'f16' = dtype) =>
      backend.alloc({ dtype: d, shape }, label, 'weights');
    this.scale = alloc([o.slots], 'lora.scale', 'f32');
    backend.write(this.scale, new Float32Array(o.slots));
    // one zero block for every stack's first write (the largest stack's size); f16 zero is bits 0
    let largest = 0;
    for (const [out, inn] of Object.values(this.shapes.modules)) largest = Math.max(largest, out, inn);
    const count = o.slots * o.rmax * largest;
    const zeros = dtype === 'f16' ? new Uint16Array(count) : new Float32Array(count);
    this.sites = loraSites(cfg).map(({ layer, module }) => {
      const [out, inn] = this.shapes.modules[module];
      const tensors: SiteStacks['tensors'] = [
        alloc([o.slots, o.rmax, inn], `lora.${layer}.${module}.A`),
        alloc([o.slots, out, o.rmax], `lora.${layer}.${module}.B`),
        backend.alloc({ dtype: 'i32', shape: [o.slots] }, `lora.${layer}.${module}.rank`, 'weights'),
      ];
      // rank 0 everywhere: an empty slot is never read, and zeros keep any stray read harmless
      backend.write(tensors[0], zeros.subarray(0, o.slots * o.rmax * inn));
      backend.write(tensors[1], zeros.subarray(0, o.slots * out * o.rmax));
      backend.write(tensors[2], new Int32Array(o.slots));
      return { tensors };
    });
    const sites = loraSites(cfg);
    this.registry = new AdapterRegistry({
      slots: o.slots,
      rmax: o.rmax,
      upload: (slot, adapter) => this.upload(slot, adapter, sites),
      base: this.shapes,
    });
  }

  /** The graph parameters after the weights: scale, then A, B, rank of every site. */
  params(): Tensor[] {
    return [this.scale, ...this.sites.flatMap((s) => s.tensors)];
  }

  private upload(slot: number, adapter: LoraAdapter, sites: ReturnType<typeof loraSites>): void {
    this.backend.writeAt(this.scale, slot, Float32Array.of(adapter.config.scale));
    sites.forEach(({ layer, module }, i) => {
      const [a, b, rank] = this.sites[i]!.tensors;
      const blk = slotBlock(adapter, this.shapes, this.o.rmax, layer, module);
      const stored = (x: Float32Array): HostArray => (this.o.dtype === 'f16' ? f16FromF32(x) : x);
      this.backend.writeAt(a, slot * blk.a.length, stored(blk.a));
      this.backend.writeAt(b, slot * blk.b.length, stored(blk.b));
      this.backend.writeAt(rank, slot, Int32Array.of(blk.rank));
    });
  }

  destroy(): void {
    this.backend.free(this.scale);
    for (const s of this.sites) for (const t of s.tensors) this.backend.free(t);
  }
}
