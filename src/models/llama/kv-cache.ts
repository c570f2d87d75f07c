/**
 * The runner's paged KV memory: one pool per layer in the attention engine's layout, and the
 * per-step attention state — a decode and a prefill `BatchAttention` whose fixed-capacity page
 * tables (and the new tokens' slots) are planned once per step and read by every layer.
 */
import type { Backend, Tensor, TensorDesc } from '../../backends/backend.js';
import { appendSlots } from '../../attention/append-slots.js';
import { BatchAttention } from '../../attention/batch-attention.js';
import type { QkvAppendAttrs } from '../../attention/qkv-append.js';
import { type LinearGroupAttrs, linearGroupOp } from '../../ops/linear-group.js';
import { type KvLayout, poolShape } from '../../attention/kv-layout.js';
import {
  type KvCacheDtype,
  type KvQuantSpec,
  isQuantKv,
  kvQuantProblem,
  quantPoolShape,
} from '../../attention/kv-quant.js';
import type { DType } from '../../tensor/dtype.js';
import type { LlamaConfig } from './llama-config.js';
import { LlamaLongContext } from './long-context.js';

export interface KvCacheOptions {
  readonly numPages: number;
  readonly pageSize: number;
  readonly maxTokens: number;
  readonly maxSeqs: number;
  /** dtype of q and of a float cache's K/V. */
  readonly dtype: DType;
  /** int8/int4: K/V pages quantized per (token, head) row (attention/kv-quant.ts); absent or f16: `dtype` pages. */
  readonly kvCache?: KvCacheDtype;
  readonly layout?: KvLayout;
  /** CTAs of the attention dispatches (default: BatchAttention's). */
  readonly attentionGrid?: number;
}

export interface StepRows {
  readonly qoLens: readonly number[];
  readonly indptr: Int32Array;
  readonly indices: Int32Array;
  readonly lastPageLen: Int32Array;
}

/** Scratch a step's attention needs, owned by whoever owns the step (a decode bucket keeps its own). */
export interface StepScratch {
  /** A tensor of `desc` under `key`, allocated on first use and kept for the step's life. */
  take(key: string, desc: TensorDesc): Tensor;
}

/** Scratch tensors allocated on first use and freed together (`free`). */
export class HeldScratch implements StepScratch {
  private readonly held = new Map<string, Tensor>();

  constructor(
    private readonly backend: Backend,
    private readonly label: string,
  ) {}

  take(key: string, desc: TensorDesc): Tensor {
    const t = this.held.get(key);
    if (t && t.dtype === desc.dtype && t.shape.join() === desc.shape.join()) return t;
    if (t) throw new Error(`${this.label}.${key}: asked for [${desc.shape.join(', ')}] after [${t.shape.join(', ')}]`);
    const made = this.backend.alloc(desc, `${this.label}.${key}`, 'activations');
    this.held.set(key, made);
    return made;
  }

  free(): void {
    for (const t of this.held.values()) this.backend.free(t);
    this.held.clear();
  }
}

export class PagedKvCache {
  readonly pools: Tensor[];
  /** Pool slot of each new token of the step (append-slots.ts), for K/V stored by the projection. */
  readonly slots: Tensor;
  readonly layout: KvLayout;
  /** The quantized pool's geometry, or null for a float pool. */
  readonly kvQuant: KvQuantSpec | null;
  private readonly decode: BatchAttention;
  private readonly prefill: BatchAttention;
  /** The attention state planned for the current step. */
  current: BatchAttention;
  /** Long-context mode: sequences whose older pages live in CPU memory (long-context.ts). */
  readonly longContext: LlamaLongContext;
  /** Attrs objects kept across steps: the backend keeps each kernel call's encoding by its attrs object. */
  private readonly appendAttrs: { readonly layout: KvLayout; readonly kvQuant?: KvQuantSpec };
  private readonly fusedAttrs = new WeakMap<LinearGroupAttrs, QkvAppendAttrs>();

  constructor(
    readonly backend: Backend,
    readonly cfg: LlamaConfig,
    readonly o: KvCacheOptions,
  ) {
    // HND keeps one head's tokens contiguous: what decode streams through
    this.layout = o.layout ?? 'HND';
    const quant = o.kvCache && isQuantKv(o.kvCache) ? o.kvCache : null;
    this.kvQuant = quant
      ? { dtype: quant, numKvHeads: cfg.numKvHeads, pageSize: o.pageSize, headDim: cfg.headDim }
      : null;
    if (quant) {
      const why = kvQuantProblem(quant, cfg.headDim);
      if (why) throw new Error(`KV cache: ${why}; use --kv-cache f16`);
    }
    const desc: TensorDesc = this.kvQuant
      ? { dtype: 'u32', shape: quantPoolShape(this.kvQuant, o.numPages) }
      : {
          dtype: o.dtype,
          shape: poolShape({
            numPages: o.numPages,
            pageSize: o.pageSize,
            numKvHeads: cfg.numKvHeads,
            headDim: cfg.headDim,
            layout: this.layout,
          }),
        };
    this.pools = Array.from({ length: cfg.numLayers }, (_, l) => backend.alloc(desc, `kv.layer${l}`, 'kv-cache'));
    this.appendAttrs = { layout: this.layout, ...(this.kvQuant ? { kvQuant: this.kvQuant } : {}) };
    const base = {
      numQoHeads: cfg.numHeads,
      numKvHeads: cfg.numKvHeads,
      headDim: cfg.headDim,
      pageSize: o.pageSize,
      layout: this.layout,
      numPages: o.numPages,
      maxBatch: o.maxSeqs,
      maxPages: o.numPages,
      dtype: o.dtype,
      variant: { causal: true },
      ...(o.attentionGrid ? { grid: o.attentionGrid } : {}),
      ...(this.kvQuant ? { kvQuant: this.kvQuant } : {}),
    } as const;
    this.slots = backend.alloc({ dtype: 'i32', shape: [o.maxTokens] }, 'kv.append_slots', 'kv-cache');
    this.decode = new BatchAttention(backend, { ...base, maxTokens: o.maxSeqs, decode: true });
    this.prefill = new BatchAttention(backend, { ...base, maxTokens: o.maxTokens });
    this.current = this.decode;
    this.longContext = new LlamaLongContext(backend, cfg, this.pools, this.layout, o.pageSize);
  }

  /** Plans the step (uploads page tables and the split-KV schedule); all layers share it. */
  plan(rows: StepRows): void {
    this.current =
      rows.qoLens.every((n) => n === 1) && rows.qoLens.length <= this.o.maxSeqs ? this.decode : this.prefill;
    this.current.plan(rows);
    this.backend.write(this.slots, appendSlots(rows, this.o.pageSize, this.o.maxTokens));
  }

  /**
   * Appends layer `layer`'s new K/V through the page table, then attends q over the pages; where
   * the step has sequences in long-context mode, resolves once their CPU part is merged in.
   */
  attend(layer: number, q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor): Promise<void> | undefined {
    const a = this.current;
    const pool = this.pools[layer]!;
    this.backend.run(
      'append_kv',
      this.appendAttrs,
      [pool, k, v, a.qoIndptr, a.kvIndptr, a.kvIndices, a.lastPageLen],
      [pool],
    );
    return this.attendPages(layer, q, pool, out, lse);
  }

  /** The step's attention over the pages, with the long-context part where the step has one. */
  private attendPages(layer: number, q: Tensor, pool: Tensor, out: Tensor, lse: Tensor): Promise<void> | undefined {
    if (!this.longContext.active) {
      this.current.run(q, pool, out, lse);
      return undefined;
    }
    return this.longContext.attend(layer, q, out, lse, (o, l) => this.current.run(q, pool, o, l));
  }

  /**
   * Projects layer `layer`'s Q/K/V from the `linear_group` inputs `args`, stores K and V in its
   * pages and attends Q over them. Where the backend has a `qkv_append` kernel for this shape
   * (decode-sized steps on WebGPU) that is one dispatch writing K/V from the GEMV epilogue;
   * otherwise `linear_group` writes them to scratch and `append_kv` copies them in.
   */
  projectAndAttend(
    layer: number,
    group: LinearGroupAttrs,
    args: readonly Tensor[],
    scratch: StepScratch,
    out: Tensor,
    lse: Tensor,
  ): Promise<void> | undefined {
    const pool = this.pools[layer]!;
    const [qDesc, kDesc, vDesc] = linearGroupOp.outputs(group, args);
    const q = scratch.take('q', qDesc!);
    const n = q.shape[0]!;
    const heads = (t: Tensor, h: number) => this.backend.view(t, [n, h, this.cfg.headDim]);
    let fused = this.fusedAttrs.get(group);
    if (!fused)
      this.fusedAttrs.set(
        group,
        (fused = { ...group, layout: this.layout, ...(this.kvQuant ? { kvQuant: this.kvQuant } : {}) }),
      );
    const inputs = [...args, this.slots, pool];
    if (this.backend.supportsOp('qkv_append', fused, inputs) && !this.servedByReference('qkv_append', fused, inputs)) {
      this.backend.run('qkv_append', fused, inputs, [q, pool]);
      return this.attendPages(layer, heads(q, this.cfg.numHeads), pool, out, lse);
    }
    const k = scratch.take('k', kDesc!);
    const v = scratch.take('v', vDesc!);
    this.backend.run('linear_group', group, args, [q, k, v]);
    return this.attend(
      layer,
      heads(q, this.cfg.numHeads),
      heads(k, this.cfg.numKvHeads),
      heads(v, this.cfg.numKvHeads),
      out,
      lse,
    );
  }

  /** Whether the backend would run `op` as its float64 oracle (the CPU backend): slower than the unfused kernels. */
  private servedByReference(op: string, attrs: QkvAppendAttrs, inputs: readonly Tensor[]): boolean {
    const b = this.backend as { servedByReference?: (o: string, a: QkvAppendAttrs, i: readonly Tensor[]) => boolean };
    return b.servedByReference?.(op, attrs, inputs) === true;
  }

  destroy(): void {
    this.longContext.destroy();
    this.backend.free(this.slots);
    this.decode.destroy();
    this.prefill.destroy();
    for (const p of this.pools) this.backend.free(p);
  }
}
