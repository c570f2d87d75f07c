/**
 * Passages for a query text from a `TextStore`: embedded, searched in the IVF index, and mapped
 * back to their texts. With a GPU cluster cache, `observe` prefetches during generation
 * (`LookaheadRetriever`); without one, every search runs on the CPU and `observe` does nothing.
 */
import type { GpuClusterCache } from './gpu-cache.js';
import { type Embedder, type LookaheadOptions, type LookaheadStats, LookaheadRetriever } from './lookahead.js';
import type { TextStore } from './pipelines-store.js';
import { type SearchOutcome, type SearchStats, searchIvf } from './search.js';

export interface Passage {
  readonly id: number;
  readonly text: string;
  readonly source: string;
  /** Squared L2 distance of its embedding to the query's. */
  readonly distance: number;
}

/** What a pipeline asks of retrieval. */
export interface PassageRetriever {
  /** The text that will become the next query, so far (lookahead); may do nothing. */
  observe(partialText: string): void;
  /** The nearest passages, nearest first. */
  retrieve(query: string): Promise<Passage[]>;
}

export interface TextStoreRetrieverOptions {
  readonly k: number;
  readonly nprobe: number;
  readonly cache?: GpuClusterCache;
  /** Threads of the CPU pool for ranking and CPU scans, with or without a cache (default all of them). */
  readonly threads?: number;
  /** Lookahead's adaptive prefetch settings (with a cache). */
  readonly lookahead?: Omit<LookaheadOptions, 'k' | 'nprobe'>;
}

export class TextStoreRetriever implements PassageRetriever {
  private readonly lookahead: LookaheadRetriever | null;
  /** Retrievals answered. */
  retrievals = 0;
  /** Each retrieval's search counts and phase times, in order (benches log them). */
  readonly searches: SearchStats[] = [];

  constructor(
    readonly store: TextStore,
    readonly embed: Embedder,
    readonly opts: TextStoreRetrieverOptions,
  ) {
    const { k, nprobe, cache, threads } = opts;
    this.lookahead = cache
      ? new LookaheadRetriever(store.ivf, cache, embed, { ...opts.lookahead, k, nprobe, threads })
      : null;
  }

  /** Lookahead's counts (the hit rate is hits / probed), null without a GPU cache. */
  get lookaheadStats(): Readonly<LookaheadStats> | null {
    return this.lookahead ? { ...this.lookahead.stats } : null;
  }

  /** The share of the final queries' probed clusters found resident; null without a GPU cache or a retrieval. */
  get hitRate(): number | null {
    return this.lookahead && this.lookahead.stats.queries > 0 ? this.lookahead.hitRate : null;
  }

  observe(partialText: string): void {
    this.lookahead?.observe(partialText);
  }

  /** Resolves once the observations made so far have uploaded or been superseded. */
  settled(): Promise<void> {
    return this.lookahead?.settled() ?? Promise.resolve();
  }

  async retrieve(query: string): Promise<Passage[]> {
    const { k, nprobe, threads } = this.opts;
    this.retrievals++;
    let out: SearchOutcome;
    if (this.lookahead) out = await this.lookahead.retrieve(query);
    else {
      const [v] = await this.embed([query]);
      out = await searchIvf(this.store.ivf, v!, { k, nprobe, threads });
    }
    this.searches.push(out.stats);
    const passages: Passage[] = [];
    for (let j = 0; j < k; j++) {
      const id = out.result.ids[j]!;
      if (id < 0) continue;
      const p = this.store.passages[id]!;
      passages.push({ id, text: p.text, source: p.source, distance: out.result.dists[j]! });
    }
    return passages;
  }
}
