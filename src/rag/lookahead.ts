/**
 * Lookahead retrieval: while the LLM is still writing the text that becomes the query (HyDE's
 * hypothetical document, a sub-question, …), the caller hands the partial text to `observe` at
 * points it chooses; it is embedded, the clusters nearest to it are ranked, and the top
 * `prefetchCount` are uploaded into the GPU cache within its budget. A query's text changes little
 * in its last tokens, so the final query mostly probes clusters already resident: those are
 * scanned on the GPU, the rest on the CPU, and the results merged (`searchProbed`).
 *
 * The prefetch count adapts to the hit rate (the share of the final query's probed clusters that
 * were resident): below the target it grows in proportion to the shortfall, at or above it shrinks
 * by one toward nprobe, so a pipeline whose queries drift from their partial text learns to fetch
 * wider and one whose queries do not stops moving clusters it never reads.
 */
import type { GpuClusterCache } from './gpu-cache.js';
import { type IvfStore, clusterRows } from './ivf-store.js';
import { rankClusters } from './probe.js';
import { type SearchOutcome, searchProbed } from './search.js';

/** Texts to vectors of the datastore's dimension (the encoder of the server, GloVe, …). */
export type Embedder = (texts: readonly string[]) => Promise<Float32Array[]>;

export interface LookaheadOptions {
  readonly k: number;
  readonly nprobe: number;
  /** The hit rate the adaptive count aims for (default 0.9). */
  readonly targetHitRate?: number;
  /** Bounds of the prefetch count (default nprobe … 4·nprobe). */
  readonly minPrefetch?: number;
  readonly maxPrefetch?: number;
}

export interface LookaheadStats {
  /** Final queries answered. */
  queries: number;
  /** Probed non-empty clusters of those queries, and how many of them were resident. */
  probed: number;
  hits: number;
  /** Clusters `observe` asked to make resident, and how many of those it had to upload. */
  prefetched: number;
  uploaded: number;
}

export class LookaheadRetriever {
  prefetchCount: number;
  readonly stats: LookaheadStats = { queries: 0, probed: 0, hits: 0, prefetched: 0, uploaded: 0 };
  private pending: Promise<void> = Promise.resolve();
  private readonly minPrefetch: number;
  private readonly maxPrefetch: number;

  constructor(
    readonly store: IvfStore,
    readonly cache: GpuClusterCache,
    readonly embed: Embedder,
    readonly opts: LookaheadOptions,
  ) {
    this.minPrefetch = opts.minPrefetch ?? opts.nprobe;
    this.maxPrefetch = Math.min(store.nlist, opts.maxPrefetch ?? 4 * opts.nprobe);
    this.prefetchCount = Math.min(this.maxPrefetch, Math.max(this.minPrefetch, opts.nprobe));
  }

  /** Overall hit rate so far (1 before any query). */
  get hitRate(): number {
    return this.stats.probed === 0 ? 1 : this.stats.hits / this.stats.probed;
  }

  /**
   * Starts prefetching for `partialText` and returns at once; the work runs whenever the caller
   * awaits (its generation step's GPU read, typically). Observations chain, so a later one's
   * ranking lands after an earlier one's.
   */
  observe(partialText: string): void {
    this.pending = this.pending.then(() => this.prefetch(partialText));
  }

  /** Waits for the observations made so far to have enqueued their uploads. */
  settled(): Promise<void> {
    return this.pending;
  }

  private async prefetch(text: string): Promise<void> {
    const [v] = await this.embed([text]);
    const [ranked] = rankClusters(this.store, v!, this.prefetchCount);
    const wanted = Array.from(ranked!).filter((c) => clusterRows(this.store, c) > 0);
    // clusters of this ranking never evict each other: the nearest are admitted first
    const keep = new Set(wanted);
    for (const c of wanted) {
      this.stats.prefetched++;
      const before = this.cache.stats.uploads;
      if (!this.cache.admit(c, keep)) break;
      this.stats.uploaded += this.cache.stats.uploads - before;
    }
  }

  /**
   * The final query: the observations' uploads are enqueued first (queue writes, ordered before the
   * scans), then the resident probed clusters are scanned on the GPU and the others on the CPU.
   */
  async retrieve(queryText: string): Promise<SearchOutcome & { hitRate: number }> {
    const [[v], ,] = await Promise.all([this.embed([queryText]), this.pending]);
    const probes = rankClusters(this.store, v!, this.opts.nprobe);
    const out = await searchProbed(this.store, v!, probes, {
      k: this.opts.k,
      nprobe: this.opts.nprobe,
      cache: this.cache,
    });
    const hitRate = out.stats.hitRates[0]!;
    const live = Array.from(probes[0]!).filter((c) => clusterRows(this.store, c) > 0).length;
    this.stats.queries++;
    this.stats.probed += live;
    this.stats.hits += Math.round(hitRate * live);
    this.adapt(hitRate);
    return { ...out, hitRate };
  }

  private adapt(hitRate: number): void {
    const target = this.opts.targetHitRate ?? 0.9;
    const next =
      hitRate < target
        ? this.prefetchCount + Math.max(1, Math.ceil(this.prefetchCount * (target - hitRate)))
        : this.prefetchCount - 1;
    this.prefetchCount = Math.min(this.maxPrefetch, Math.max(this.minPrefetch, next));
  }
}
