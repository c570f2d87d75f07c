/**
 * plan/run for one attention layer shape, FlashInfer's wrapper: fixed-capacity GPU arrays (page
 * table, query offsets, schedule) are allocated once; `plan()` validates a batch on the host,
 * splits and balances its work and uploads the arrays; `run()` enqueues the fixed-grid kernels,
 * so a `WebGpuBackend.record(() => attn.run(...))` stream replays correctly after any later plan.
 *
 * @example
 * const attn = new BatchAttention(gpu, { numQoHeads: 32, numKvHeads: 8, headDim: 128, pageSize: 16,
 *   layout: 'NHD', maxBatch: 64, maxTokens: 64, maxPages: 16384, numPages, dtype: 'f16', decode: true });
 * attn.plan({ qoLens, ...pageTable.rows(ids) });
 * attn.run(q, pool, o, lse);
 */
import type { Backend, Tensor } from '../backends/backend.js';
import type { DType } from '../tensor/dtype.js';
import { type KvLayout, PageTableError, kvLength, validatePageTable } from './kv-layout.js';
import { type KvQuantSpec, quantPoolShape } from './kv-quant.js';
import type { PagedAttentionAttrs } from './ops.js';
import { type AttentionPlan, planAttention, scheduleLength } from './plan.js';
import { HeadDimError, defaultTileRows, whyHeadDimUnsupported } from './tile-config.js';
import type { VariantSpec } from './variants.js';
import { sgmatRowsFor } from './attention-sgmat.js';
import { type AttentionTuning, resolveTuning } from './tuning.js';

export interface BatchAttentionConfig {
  readonly numQoHeads: number;
  readonly numKvHeads: number;
  readonly headDim: number;
  readonly pageSize: number;
  readonly layout: KvLayout;
  /** Pages in the pool (indices are checked against it). */
  readonly numPages: number;
  readonly maxBatch: number;
  readonly maxTokens: number;
  /** Capacity of the page-index array (sum of pages over a batch). */
  readonly maxPages: number;
  /** dtype of q (and of o unless outDtype). */
  readonly dtype: DType;
  readonly kvDtype?: DType;
  /** A quantized pool (kv-quant.ts) of this geometry instead of a `kvDtype` one. */
  readonly kvQuant?: KvQuantSpec;
  readonly outDtype?: DType;
  readonly variant?: VariantSpec;
  readonly scale?: number;
  /** One query token per request: tiles pack the GQA group instead of tokens. */
  readonly decode?: boolean;
  readonly tileRows?: number;
  /**
   * Fixed CTA count of the attention dispatch. Default 528, four per SM of an H100: CTAs run their
   * items back to back, so the grid only needs to cover what can be resident (264…528 measured
   * alike there; 1024 was slower where plans split to fill it).
   */
  readonly grid?: number;
  readonly maxItems?: number;
  /**
   * Shares plan() divides the batch's keys into (see PlanOptions.targetItems): about the CTAs that
   * saturate the device. Default 256 for decode (about two per SM of an H100, where the streaming
   * kernel's loads already fill the memory system) and 132 for prefill (one per SM: a causal
   * prefill's items already span 1…L keys, and splitting the long ones costs a merge; L1024 ran
   * 0.094 ms with 132 shares, 0.127 with 264).
   */
  readonly targetItems?: number;
  /** Template tuning overrides (benchmarks and tests; docs/attention-tuning.md); absent: the shipped defaults. */
  readonly tuning?: AttentionTuning;
}

export interface BatchRows {
  readonly qoLens: readonly number[];
  readonly indptr: ArrayLike<number>;
  readonly indices: ArrayLike<number>;
  readonly lastPageLen: ArrayLike<number>;
}

export class BatchAttention {
  readonly attrs: PagedAttentionAttrs;
  readonly qoIndptr: Tensor;
  readonly kvIndptr: Tensor;
  readonly kvIndices: Tensor;
  readonly lastPageLen: Tensor;
  readonly schedule: Tensor;
  private mask: Tensor[] = [];
  lastPlan: AttentionPlan | null = null;

  constructor(
    readonly backend: Backend,
    readonly cfg: BatchAttentionConfig,
  ) {
    const caps = backend.caps;
    const group = cfg.numQoHeads / cfg.numKvHeads;
    if (!Number.isInteger(group))
      throw new Error(`attention: ${cfg.numQoHeads} query heads is not a multiple of ${cfg.numKvHeads} KV heads`);
    const prefillRows = !cfg.decode
      ? (sgmatRowsFor(caps, cfg, resolveTuning(cfg.tuning).sgmat) ?? undefined)
      : undefined;
    const tileRows = cfg.tileRows ?? prefillRows ?? defaultTileRows(caps, cfg.headDim, group, !!cfg.decode);
    if (tileRows !== prefillRows) {
      const why = whyHeadDimUnsupported(caps, cfg.headDim, tileRows);
      if (why) throw new HeadDimError(cfg.headDim, why);
    }
    const grid = cfg.grid ?? 528;
    // unsplit work is one item per (row tile, KV head)
    const unitsBound = cfg.numKvHeads * (Math.ceil((cfg.maxTokens * group) / tileRows) + cfg.maxBatch);
    // a unit longer than one share splits into ⌈len/share⌉ chunks: at most units + shares items
    const maxItems = cfg.maxItems ?? unitsBound + 2 * grid;
    // the merge pass only for plans with splits; asked again when a recorded stream replays
    const mergeNeeded = (): boolean => (this.lastPlan?.merges ?? 1) > 0;
    this.attrs = {
      layout: cfg.layout,
      variant: cfg.variant ?? {},
      scale: cfg.scale,
      outDtype: cfg.outDtype,
      grid,
      maxItems,
      tileRows,
      mergeNeeded,
      ...(cfg.tuning ? { tuning: cfg.tuning } : {}),
      ...(cfg.kvQuant ? { kvQuant: cfg.kvQuant } : {}),
    };
    const i32 = (n: number, label: string): Tensor => backend.alloc({ dtype: 'i32', shape: [n] }, label);
    this.qoIndptr = i32(cfg.maxBatch + 1, 'attn.qo_indptr');
    this.kvIndptr = i32(cfg.maxBatch + 1, 'attn.kv_indptr');
    this.kvIndices = i32(Math.max(1, cfg.maxPages), 'attn.kv_indices');
    this.lastPageLen = i32(cfg.maxBatch, 'attn.last_page_len');
    this.schedule = i32(scheduleLength({ grid, maxItems, tileRows }), 'attn.schedule');
    // checked once here so a device that cannot run this shape fails before anything is dispatched
    const inputs = [
      { dtype: cfg.dtype, shape: [cfg.maxTokens, cfg.numQoHeads, cfg.headDim] },
      cfg.kvQuant
        ? { dtype: 'u32' as const, shape: quantPoolShape(cfg.kvQuant, cfg.numPages) }
        : {
            dtype: cfg.kvDtype ?? cfg.dtype,
            shape:
              cfg.layout === 'NHD'
                ? [cfg.numPages, 2, cfg.pageSize, cfg.numKvHeads, cfg.headDim]
                : [cfg.numPages, 2, cfg.numKvHeads, cfg.pageSize, cfg.headDim],
          },
      this.qoIndptr,
      this.kvIndptr,
      this.kvIndices,
      this.lastPageLen,
      this.schedule,
      ...(cfg.variant?.customMask
        ? [
            { dtype: 'i32' as const, shape: [1] },
            { dtype: 'i32' as const, shape: [cfg.maxBatch + 1] },
          ]
        : []),
    ];
    if (!backend.supportsOp('paged_attention', this.attrs, inputs)) {
      throw new HeadDimError(
        cfg.headDim,
        `backend '${backend.name}' has no paged_attention kernel for this configuration`,
      );
    }
  }

  /** Validates the batch on the host, plans it and uploads the arrays. Throws before anything is enqueued. */
  plan(rows: BatchRows, opts: { kvChunk?: number | 'none'; minChunk?: number } = {}): AttentionPlan {
    const { cfg } = this;
    const batch = rows.qoLens.length;
    if (batch > cfg.maxBatch)
      throw new PageTableError(`batch of ${batch} requests over the capacity of ${cfg.maxBatch}`);
    const tokens = rows.qoLens.reduce((a, b) => a + b, 0);
    if (tokens > cfg.maxTokens)
      throw new PageTableError(`${tokens} query tokens over the capacity of ${cfg.maxTokens}`);
    if (rows.indices.length > cfg.maxPages)
      throw new PageTableError(`${rows.indices.length} page indices over the capacity of ${cfg.maxPages}`);
    validatePageTable(rows.indptr, rows.indices, rows.lastPageLen, batch, {
      numPages: cfg.numPages,
      pageSize: cfg.pageSize,
    });
    const kvLens = rows.qoLens.map((_, b) => kvLength(rows.indptr, rows.lastPageLen, cfg.pageSize, b));
    const plan = planAttention(
      {
        qoLens: rows.qoLens,
        kvLens,
        numQoHeads: cfg.numQoHeads,
        numKvHeads: cfg.numKvHeads,
        causal: cfg.variant?.causal,
        windowLeft: cfg.variant?.windowLeft,
        pageStarts: rows.indptr,
      },
      {
        grid: this.attrs.grid,
        maxItems: this.attrs.maxItems,
        tileRows: this.attrs.tileRows,
        targetItems: cfg.targetItems ?? (cfg.decode ? 256 : 132),
        ...opts,
      },
    );
    // arrays padded past the batch with empty requests, so their lengths never change
    const qo = new Int32Array(cfg.maxBatch + 1);
    const kv = new Int32Array(cfg.maxBatch + 1);
    for (let b = 0; b < cfg.maxBatch; b++) {
      qo[b + 1] = qo[b]! + (rows.qoLens[b] ?? 0);
      kv[b + 1] = b < batch ? rows.indptr[b + 1]! : kv[b]!;
    }
    const idx = new Int32Array(Math.max(1, cfg.maxPages));
    idx.set(Array.from(rows.indices));
    const last = new Int32Array(cfg.maxBatch);
    last.set(Array.from(rows.lastPageLen).slice(0, batch));
    this.backend.write(this.qoIndptr, qo);
    this.backend.write(this.kvIndptr, kv);
    this.backend.write(this.kvIndices, idx);
    this.backend.write(this.lastPageLen, last);
    this.backend.write(this.schedule, plan.schedule);
    this.lastPlan = plan;
    return plan;
  }

  /** Sets the custom mask (0/1 per query token × key, requests back to back) for the next runs. */
  setMask(bits: Int32Array, maskIndptr: Int32Array): void {
    for (const t of this.mask) this.backend.free(t);
    const ind = new Int32Array(this.cfg.maxBatch + 1);
    ind.set(maskIndptr);
    for (let i = maskIndptr.length; i < ind.length; i++) ind[i] = maskIndptr[maskIndptr.length - 1]!;
    this.mask = [
      this.backend.alloc({ dtype: 'i32', shape: [Math.max(1, bits.length)] }, 'attn.mask'),
      this.backend.alloc({ dtype: 'i32', shape: [ind.length] }, 'attn.mask_indptr'),
    ];
    this.backend.write(this.mask[0]!, bits.length ? bits : new Int32Array(1));
    this.backend.write(this.mask[1]!, ind);
  }

  /** Enqueues attention of q [maxTokens, Hq, D] over `pool`, into o [maxTokens, Hq, D] and lse [maxTokens, Hq] (f32, base 2). */
  run(q: Tensor, pool: Tensor, o: Tensor, lse: Tensor): void {
    if (!this.lastPlan) throw new Error('BatchAttention.run() before plan()');
    if (this.cfg.variant?.customMask && this.mask.length === 0)
      throw new Error('BatchAttention: the custom-mask variant needs setMask() before run()');
    this.backend.run(
      'paged_attention',
      this.attrs,
      [q, pool, this.qoIndptr, this.kvIndptr, this.kvIndices, this.lastPageLen, this.schedule, ...this.mask],
      [o, lse],
    );
  }

  destroy(): void {
    for (const t of [this.qoIndptr, this.kvIndptr, this.kvIndices, this.lastPageLen, this.schedule, ...this.mask])
      this.backend.free(t);
  }
}
