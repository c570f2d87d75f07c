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
 */
import type { Backend, Tensor } from '../../backends/backend.js';
import { AdapterRegistry } from '../../lora/adapter-registry.js';
import { slotBlock } from '../../lora/adapter-stacks.js';
import type { LoraAdapter } from '../../lora/peft-adapter.js';
import type { LoraBaseShapes } from '../../lora/modules.js';
import { type LoraGraphOptions, loraShapesOf, loraSites } from './adapter-graph.js';
import type { LlamaConfig } from './llama-config.js';

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
    const f32 = (shape: number[], label: string) => backend.alloc({ dtype: 'f32', shape }, label, 'weights');
    this.scale = f32([o.slots], 'lora.scale');
    backend.write(this.scale, new Float32Array(o.slots));
    // one zero block for every stack's first write (the largest stack's size)
    let largest = 0;
    for (const [out, inn] of Object.values(this.shapes.modules)) largest = Math.max(largest, out, inn);
    const zeros = new Float32Array(o.slots * o.rmax * largest);
    this.sites = loraSites(cfg).map(({ layer, module }) => {
      const [out, inn] = this.shapes.modules[module];
      const tensors: SiteStacks['tensors'] = [
        f32([o.slots, o.rmax, inn], `lora.${layer}.${module}.A`),
        f32([o.slots, out, o.rmax], `lora.${layer}.${module}.B`),
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
      this.backend.writeAt(a, slot * blk.a.length, blk.a);
      this.backend.writeAt(b, slot * blk.b.length, blk.b);
      this.backend.writeAt(rank, slot, Int32Array.of(blk.rank));
    });
  }

  destroy(): void {
    this.backend.free(this.scale);
    for (const s of this.sites) for (const t of s.tensors) this.backend.free(t);
  }
}
