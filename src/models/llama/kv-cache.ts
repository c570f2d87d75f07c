/**
 * The runner's paged KV memory: one pool per layer in the attention engine's layout, and the
 * per-step attention state — a decode and a prefill `BatchAttention` whose fixed-capacity page
 * tables are planned once per step and read by every layer.
 */
import type { Backend, Tensor } from '../../backends/backend.js';
import { BatchAttention } from '../../attention/batch-attention.js';
import { type KvLayout, poolShape } from '../../attention/kv-layout.js';
import type { DType } from '../../tensor/dtype.js';
import type { LlamaConfig } from './llama-config.js';

export interface KvCacheOptions {
  readonly numPages: number;
  readonly pageSize: number;
  readonly maxTokens: number;
  readonly maxSeqs: number;
  readonly dtype: DType;
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

export class PagedKvCache {
  readonly pools: Tensor[];
  readonly layout: KvLayout;
  private readonly decode: BatchAttention;
  private readonly prefill: BatchAttention;
  /** The attention state planned for the current step. */
  current: BatchAttention;

  constructor(
    readonly backend: Backend,
    readonly cfg: LlamaConfig,
    readonly o: KvCacheOptions,
  ) {
    // HND keeps one head's tokens contiguous: what decode streams through
    this.layout = o.layout ?? 'HND';
    const shape = poolShape({
      numPages: o.numPages,
      pageSize: o.pageSize,
      numKvHeads: cfg.numKvHeads,
      headDim: cfg.headDim,
      layout: this.layout,
    });
    this.pools = Array.from({ length: cfg.numLayers }, (_, l) =>
      backend.alloc({ dtype: o.dtype, shape }, `kv.layer${l}`, 'kv-cache'),
    );
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
    } as const;
    this.decode = new BatchAttention(backend, { ...base, maxTokens: o.maxSeqs, decode: true });
    this.prefill = new BatchAttention(backend, { ...base, maxTokens: o.maxTokens });
    this.current = this.decode;
  }

  /** Plans the step (uploads page tables and the split-KV schedule); all layers share it. */
  plan(rows: StepRows): void {
    this.current =
      rows.qoLens.every((n) => n === 1) && rows.qoLens.length <= this.o.maxSeqs ? this.decode : this.prefill;
    this.current.plan(rows);
  }

  /** Appends layer `layer`'s new K/V through the page table, then attends q over the pages. */
  attend(layer: number, q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor): void {
    const a = this.current;
    const pool = this.pools[layer]!;
    this.backend.run(
      'append_kv',
      { layout: this.layout },
      [pool, k, v, a.qoIndptr, a.kvIndptr, a.kvIndices, a.lastPageLen],
      [pool],
    );
    a.run(q, pool, out, lse);
  }

  destroy(): void {
    this.decode.destroy();
    this.prefill.destroy();
    for (const p of this.pools) this.backend.free(p);
  }
}
