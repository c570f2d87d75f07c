/**
 * Cascade attention for a shared prefix (system prompt, parallel sampling): the prefix's pages are
 * read once by a multi-query pass — every query of the batch as one non-causal request over the
 * shared pages — then each request attends to its own suffix, and `merge_states` combines the two
 * partial states exactly (base-2 LSE). Equal to plain attention over prefix + suffix.
 *
 * Positions restart at the suffix, so position-dependent variants (RoPE, ALiBi, sliding window,
 * custom masks) are refused; causal masking and logits transforms are fine.
 */
import type { Backend, Tensor } from '../backends/backend.js';
import { BatchAttention, type BatchAttentionConfig, type BatchRows } from './batch-attention.js';
import { PageTableError } from './kv-layout.js';
import { isPositional, variantName } from './variants.js';

export interface CascadeRows {
  /** Pages of the shared prefix (all full except possibly the last). */
  readonly sharedPages: readonly number[];
  readonly sharedLength: number;
  /** Each request's own suffix, BSR rows. */
  readonly suffix: BatchRows;
}

export class CascadeAttention {
  readonly prefix: BatchAttention;
  readonly suffix: BatchAttention;
  private readonly parts: Tensor[];

  constructor(
    readonly backend: Backend,
    readonly cfg: BatchAttentionConfig,
  ) {
    const variant = cfg.variant ?? {};
    if (isPositional(variant))
      throw new Error(
        `cascade attention: variant '${variantName(variant)}' depends on absolute positions; run plain paged attention instead`,
      );
    const { causal: _causal, ...rest } = variant;
    void _causal;
    // the shared prefix precedes every suffix token: no mask there; f32 partial states merge exactly
    this.prefix = new BatchAttention(backend, {
      ...cfg,
      variant: rest,
      decode: false,
      maxBatch: 1,
      tileRows: undefined,
      outDtype: 'f32',
    });
    this.suffix = new BatchAttention(backend, { ...cfg, outDtype: 'f32' });
    const rows = [cfg.maxTokens, cfg.numQoHeads];
    this.parts = [
      backend.alloc({ dtype: 'f32', shape: [...rows, cfg.headDim] }, 'cascade.o_prefix'),
      backend.alloc({ dtype: 'f32', shape: rows }, 'cascade.lse_prefix'),
      backend.alloc({ dtype: 'f32', shape: [...rows, cfg.headDim] }, 'cascade.o_suffix'),
      backend.alloc({ dtype: 'f32', shape: rows }, 'cascade.lse_suffix'),
    ];
  }

  plan(rows: CascadeRows, opts: { kvChunk?: number | 'none' } = {}): void {
    const { pageSize } = this.cfg;
    const n = rows.sharedPages.length;
    if (rows.sharedLength > n * pageSize || (n > 0 && rows.sharedLength <= (n - 1) * pageSize)) {
      throw new PageTableError(
        `shared prefix of ${rows.sharedLength} tokens does not fill its ${n} pages of ${pageSize}`,
      );
    }
    const tokens = rows.suffix.qoLens.reduce((a, b) => a + b, 0);
    this.prefix.plan(
      {
        qoLens: [tokens],
        indptr: [0, n],
        indices: rows.sharedPages,
        lastPageLen: [n ? rows.sharedLength - (n - 1) * pageSize : 0],
      },
      opts,
    );
    this.suffix.plan(rows.suffix, opts);
  }

  run(q: Tensor, pool: Tensor, o: Tensor, lse: Tensor): void {
    const [o1, s1, o2, s2] = this.parts as [Tensor, Tensor, Tensor, Tensor];
    this.prefix.run(q, pool, o1, s1);
    this.suffix.run(q, pool, o2, s2);
    this.backend.run('merge_states', { outDtype: o.dtype }, [o1, s1, o2, s2], [o, lse]);
  }

  destroy(): void {
    this.prefix.destroy();
    this.suffix.destroy();
    for (const t of this.parts) this.backend.free(t);
  }
}
