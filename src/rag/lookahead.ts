/**
 * Lookahead retrieval: while the LLM is still writing the text that becomes the query (HyDE's
 * hypothetical document, a sub-question, …), the caller hands the partial text to `observe` at
 * points it chooses; it is embedded, the clusters nearest to it are ranked, and the top
 * `prefetchCount` are uploaded into the GPU cache within its budget. A query's text changes little
 * in its last tokens, so the final query mostly probes clusters already resident: those are
 * scanned on the GPU, the rest on the CPU, and the results merged (`searchProbed`).
 *
 * Uploads copy on the calling thread, the one that also drives the LLM's decode steps: through
 * the cache's staging ring where the backend has one (`GpuClusterCache.admitStaged`, a memory
 * copy), else as queue writes (about 1.5 GB/s on an H100 host). They go out in slices of
 * UPLOAD_SLICE_BYTES with a turn of the event loop between them, so a decode step that finishes
 * meanwhile waits for one slice's copy at most, never for hundreds of MiB. A newer observation or
 * the final query supersedes a prefetch still uploading: its remaining clusters are dropped (the
 * newer ranking or the CPU covers them), so the final query waits for one cluster's copy at most.
 *
 * The prefetch count adapts to how well the last observation's ranking covered the final query's
 * probed clusters (the hit rate had every upload of that ranking landed): below the target it
 * grows in proportion to the shortfall, at or above it shrinks by one toward nprobe, so a pipeline
 * whose queries drift from their partial text learns to fetch wider and one whose queries do not
 * stops moving clusters it never reads. Uploads cut short do not count as drift: fetching wider
 * would only make them later.
 */
import { platform } from '../platform/current.js';
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
  /** Bytes uploaded between two turns of the event loop (default UPLOAD_SLICE_BYTES). */
  readonly uploadSliceBytes?: number;
  /** Threads of the CPU pool for ranking and the CPU share of the scan (default all of them). */
  readonly threads?: number;
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
  uploadedBytes: number;
  /** Prefetches cut short by a newer observation or the final query. */
  superseded: number;
  /** Host wall time (ms) of the observations' embedding and ranking, and the calling thread's time copying their uploads. */
  observeMs: number;
  uploadMs: number;
  /** Host wall time (ms) of the final queries: embedding and ranking, then the search (`SearchStats` splits it). */
  queryRankMs: number;
  searchMs: number;
}

/** Bytes uploaded between two turns of the event loop (about 10 ms of queue writes on an H100 host, a few ms of staging copies). */
export const UPLOAD_SLICE_BYTES = 16 << 20;

function emptyStats(): LookaheadStats {
  const counts = { queries: 0, probed: 0, hits: 0, prefetched: 0, uploaded: 0, uploadedBytes: 0, superseded: 0 };
  return { ...counts, observeMs: 0, uploadMs: 0, queryRankMs: 0, searchMs: 0 };
}

export class LookaheadRetriever {
  prefetchCount: number;
  readonly stats: LookaheadStats = emptyStats();
  private pending: Promise<void> = Promise.resolve();
  /** Bumped by every observation and final query: a prefetch of an older epoch stops uploading. */
  private epoch = 0;
  /** The clusters the latest observation ranked for prefetch (uploaded or not); the final query consumes it. */
  private ranked = new Set<number>();
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
    const epoch = ++this.epoch;
    this.pending = this.pending.then(() => this.prefetch(partialText, epoch));
  }

  /** Waits for the observations made so far to have enqueued their uploads (or been superseded). */
  settled(): Promise<void> {
    return this.pending;
  }

  private async prefetch(text: string, epoch: number): Promise<void> {
    if (epoch !== this.epoch) return; // a newer observation is queued behind this one
    const t0 = performance.now();
    const [v] = await this.embed([text]);
    const [ranked] = rankClusters(this.store, v!, this.prefetchCount, this.opts.threads);
    this.stats.observeMs += performance.now() - t0;
    const wanted = Array.from(ranked!).filter((c) => clusterRows(this.store, c) > 0);
    // clusters of this ranking never evict each other: the nearest are admitted first
    const keep = new Set(wanted);
    this.ranked = keep;
    let slice = 0;
    for (const c of wanted) {
      if (epoch !== this.epoch) {
        this.stats.superseded++;
        return;
      }
      this.stats.prefetched++;
      const before = this.cache.stats.uploadedBytes;
      const hostBefore = this.cache.stats.hostMs;
      const resident = this.cache.stages ? await this.cache.admitStaged(c, keep) : this.cache.admit(c, keep);
      const bytes = this.cache.stats.uploadedBytes - before;
      this.stats.uploadMs += this.cache.stats.hostMs - hostBefore;
      if (bytes > 0) {
        this.stats.uploaded++;
        this.stats.uploadedBytes += bytes;
        slice += bytes;
      }
      if (!resident) break;
      if (slice >= (this.opts.uploadSliceBytes ?? UPLOAD_SLICE_BYTES)) {
        slice = 0;
        await platform.yieldToEventLoop();
      }
    }
  }

  /**
   * The final query: the observations' uploads are enqueued first (queue writes, ordered before the
   * scans), then the resident probed clusters are scanned on the GPU and the others on the CPU.
   */
  async retrieve(queryText: string): Promise<SearchOutcome & { hitRate: number }> {
    // uploads not yet enqueued are dropped: the clusters they would have made resident are scanned on the CPU
    this.epoch++;
    const t0 = performance.now();
    const [[v], ,] = await Promise.all([this.embed([queryText]), this.pending]);
    const probes = rankClusters(this.store, v!, this.opts.nprobe, this.opts.threads);
    const t1 = performance.now();
    const out = await searchProbed(this.store, v!, probes, {
      k: this.opts.k,
      nprobe: this.opts.nprobe,
      cache: this.cache,
      threads: this.opts.threads,
    });
    this.stats.queryRankMs += t1 - t0;
    this.stats.searchMs += performance.now() - t1;
    const hitRate = out.stats.hitRates[0]!;
    const liveProbes = Array.from(probes[0]!).filter((c) => clusterRows(this.store, c) > 0);
    const live = liveProbes.length;
    this.stats.queries++;
    this.stats.probed += live;
    this.stats.hits += Math.round(hitRate * live);
    const covered = live === 0 ? 1 : liveProbes.filter((c) => this.ranked.has(c)).length / live;
    this.ranked = new Set();
    this.adapt(covered);
    return { ...out, hitRate };
  }

  private adapt(covered: number): void {
    const target = this.opts.targetHitRate ?? 0.9;
    const next =
      covered < target
        ? this.prefetchCount + Math.max(1, Math.ceil(this.prefetchCount * (target - covered)))
        : this.prefetchCount - 1;
    this.prefetchCount = Math.min(this.maxPrefetch, Math.max(this.minPrefetch, next));
  }
}
