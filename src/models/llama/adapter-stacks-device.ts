/**
 * The runner's LoRA state: one device stack per (layer, projection) (A, B and rank, in the graph's
 * parameter order after `lora_scale`), their host mirrors, and the registry that decides which
 * adapter sits in which slot. An upload rewrites the stacks through the device queue, ordered after
 * every step already submitted, so it never waits for running work and never changes what a
 * submitted step reads (the registry refuses to overwrite a slot a step in flight pinned).
 *
 * The backend writes whole tensors, so an upload rewrites each stack from its host mirror: one
 * slot's change costs the stack's bytes (all slots) instead of the slot's.
 */
import type { Backend, Tensor } from '../../backends/backend.js';
import { AdapterRegistry } from '../../lora/adapter-registry.js';
import { slotBlock } from '../../lora/adapter-stacks.js';
import type { LoraAdapter } from '../../lora/peft-adapter.js';
import type { LoraBaseShapes } from '../../lora/modules.js';
import { type LoraGraphOptions, loraShapesOf, loraSites } from './adapter-graph.js';
import type { LlamaConfig } from './llama-config.js';

interface SiteStacks {
  a: Float32Array;
  b: Float32Array;
  rank: Int32Array;
  tensors: [Tensor, Tensor, Tensor];
}

export class DeviceAdapterStacks {
  readonly registry: AdapterRegistry;
  readonly shapes: LoraBaseShapes;
  private readonly scaleHost: Float32Array;
  private readonly scale: Tensor;
  private readonly sites: SiteStacks[];

  constructor(
    private readonly backend: Backend,
    cfg: LlamaConfig,
    readonly o: LoraGraphOptions,
  ) {
    this.shapes = loraShapesOf(cfg);
    const f32 = (shape: number[], label: string) => backend.alloc({ dtype: 'f32', shape }, label, 'weights');
    this.scaleHost = new Float32Array(o.slots);
    this.scale = f32([o.slots], 'lora.scale');
    backend.write(this.scale, this.scaleHost);
    this.sites = loraSites(cfg).map(({ layer, module }) => {
      const [out, inn] = this.shapes.modules[module];
      const s: SiteStacks = {
        a: new Float32Array(o.slots * o.rmax * inn),
        b: new Float32Array(o.slots * out * o.rmax),
        rank: new Int32Array(o.slots),
        tensors: [
          f32([o.slots, o.rmax, inn], `lora.${layer}.${module}.A`),
          f32([o.slots, out, o.rmax], `lora.${layer}.${module}.B`),
          backend.alloc({ dtype: 'i32', shape: [o.slots] }, `lora.${layer}.${module}.rank`, 'weights'),
        ],
      };
      // rank 0 everywhere: an empty slot is never read, and zeros keep any stray read harmless
      backend.write(s.tensors[0], s.a);
      backend.write(s.tensors[1], s.b);
      backend.write(s.tensors[2], s.rank);
      return { ...s, layer, module };
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
    this.scaleHost[slot] = adapter.config.scale;
    this.backend.write(this.scale, this.scaleHost);
    sites.forEach(({ layer, module }, i) => {
      const s = this.sites[i]!;
      const blk = slotBlock(adapter, this.shapes, this.o.rmax, layer, module);
      s.a.set(blk.a, slot * blk.a.length);
      s.b.set(blk.b, slot * blk.b.length);
      s.rank[slot] = blk.rank;
      this.backend.write(s.tensors[0], s.a);
      this.backend.write(s.tensors[1], s.b);
      this.backend.write(s.tensors[2], s.rank);
    });
  }

  destroy(): void {
    this.backend.free(this.scale);
    for (const s of this.sites) for (const t of s.tensors) this.backend.free(t);
  }
}
