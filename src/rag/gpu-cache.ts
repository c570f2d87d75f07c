/**
 * A cache of IVF clusters resident on a GPU backend, within a byte budget, least recently used
 * evicted first. A cluster is one tensor holding its contiguous vector slice.
 *
 * Two ways in: `admit` is one queue write, returned once enqueued, but the write copies the whole
 * cluster on the calling thread (about 1.5 GB/s on an H100 host) before it returns. `admitStaged`
 * copies it into host-mapped staging memory instead (the backend's `Uploader`, a plain memory copy,
 * the ring that moves checkpoints at 5.8 GB/s), so the thread that also drives the LLM's decode
 * steps spends a fraction of the time per byte; the cluster counts as resident once its last
 * copy is submitted, so any scan submitted after that reads it. A cluster still uploading holds
 * its bytes of the budget, is neither scanned nor evicted, and `clear` frees it once its copy is
 * submitted (freeing it earlier would let the arena hand its buffer to someone else mid-copy).
 */
import type { Backend, Tensor, Uploader } from '../backends/backend.js';
import { type IvfStore, clusterBytes, clusterRows, clusterVectors } from './ivf-store.js';

export interface CacheStats {
  uploads: number;
  uploadedBytes: number;
  evictions: number;
  /** Calling-thread time (ms) spent copying clusters: queue writes, or copies into staging memory. */
  hostMs: number;
  /** Staging chunks filled, each submitted as one copy (0 without a staging ring). */
  stagedChunks: number;
}

export class GpuClusterCache {
  private readonly resident = new Map<number, { tensor: Tensor; bytes: number }>();
  /** Clusters uploading through the staging ring; `dropped` once `clear` or `evict` asked for them meanwhile. */
  private readonly inflight = new Map<number, { tensor: Tensor; bytes: number; dropped: boolean }>();
  private uploader: Uploader | null = null;
  /** The ring takes one upload at a time: each staged admission waits for the one before. */
  private lastUpload: Promise<unknown> = Promise.resolve();
  private used = 0;
  readonly stats: CacheStats = { uploads: 0, uploadedBytes: 0, evictions: 0, hostMs: 0, stagedChunks: 0 };

  constructor(
    readonly backend: Backend,
    readonly store: IvfStore,
    readonly budgetBytes: number,
  ) {}

  get usedBytes(): number {
    return this.used;
  }

  has(c: number): boolean {
    return this.resident.has(c);
  }

  /** The cluster's tensor, marking it most recently used; undefined when not resident. */
  tensor(c: number): Tensor | undefined {
    const e = this.resident.get(c);
    if (!e) return undefined;
    this.resident.delete(c);
    this.resident.set(c, e);
    return e.tensor;
  }

  /**
   * Makes cluster c resident unless it alone exceeds the budget or is empty (an empty cluster is
   * never scanned), evicting the least recently used clusters other than those in `keep`.
   * Returns whether c is resident afterwards.
   */
  admit(c: number, keep: ReadonlySet<number> = new Set()): boolean {
    if (this.tensor(c)) return true;
    const t = this.reserve(c, keep);
    if (!t) return false;
    const t0 = performance.now();
    this.backend.write(t, clusterVectors(this.store, c));
    this.stats.hostMs += performance.now() - t0;
    this.landed(c, t);
    return true;
  }

  /** Whether `admitStaged` uses a staging ring here (a GPU backend); elsewhere it is `admit`. */
  get stages(): boolean {
    return this.backend.createUploader !== undefined;
  }

  /**
   * As `admit`, through the backend's staging ring where it has one: resolves once the cluster's
   * copy is submitted, with whether it is resident then (false also when `clear` or `evict` asked
   * for it meanwhile).
   */
  async admitStaged(c: number, keep: ReadonlySet<number> = new Set()): Promise<boolean> {
    if (!this.backend.createUploader) return this.admit(c, keep);
    if (this.tensor(c)) return true;
    if (this.inflight.has(c)) return false;
    const t = this.reserve(c, keep);
    if (!t) return false;
    const entry = { tensor: t, bytes: clusterBytes(this.store, c), dropped: false };
    this.inflight.set(c, entry);
    const uploader = (this.uploader ??= this.backend.createUploader(this.largestCluster()));
    const v = clusterVectors(this.store, c);
    const src = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
    const fill = async (target: Uint8Array, offset: number) => {
      const t0 = performance.now();
      target.set(src.subarray(offset, offset + target.length));
      this.stats.hostMs += performance.now() - t0;
      this.stats.stagedChunks++;
    };
    // one dropped while it waited for the ring is never copied
    const copy = this.lastUpload.then(() => (entry.dropped ? undefined : uploader.upload(t, entry.bytes, fill)));
    this.lastUpload = copy.catch(() => undefined);
    try {
      await copy;
    } catch (e) {
      this.backend.free(t);
      this.used -= entry.bytes;
      throw e;
    } finally {
      this.inflight.delete(c);
    }
    if (entry.dropped) {
      this.backend.free(t);
      this.used -= entry.bytes;
      return false;
    }
    this.landed(c, t);
    return true;
  }

  /** Frees every cluster and the staging ring, once copies under way are submitted. */
  async close(): Promise<void> {
    this.clear();
    const u = this.uploader;
    this.uploader = null;
    await this.lastUpload;
    await u?.finish();
  }

  private largestCluster(): number {
    let most = 0;
    for (let c = 0; c < this.store.nlist; c++) most = Math.max(most, clusterBytes(this.store, c));
    return most;
  }

  /** Budget and a tensor for cluster c, evicting others not in `keep`; null when it cannot fit. */
  private reserve(c: number, keep: ReadonlySet<number>): Tensor | null {
    const bytes = clusterBytes(this.store, c);
    if (bytes === 0 || bytes > this.budgetBytes) return null;
    for (const [victim] of this.resident) {
      if (this.used + bytes <= this.budgetBytes) break;
      if (!keep.has(victim)) this.evict(victim);
    }
    if (this.used + bytes > this.budgetBytes) return null;
    this.used += bytes;
    return this.backend.alloc(
      { dtype: this.store.dtype, shape: [clusterRows(this.store, c), this.store.d] },
      `ivf.cluster${c}`,
      'rag',
    );
  }

  private landed(c: number, t: Tensor): void {
    const bytes = clusterBytes(this.store, c);
    this.resident.set(c, { tensor: t, bytes });
    this.stats.uploads++;
    this.stats.uploadedBytes += bytes;
  }

  evict(c: number): void {
    const pending = this.inflight.get(c);
    if (pending) pending.dropped = true;
    const e = this.resident.get(c);
    if (!e) return;
    this.backend.free(e.tensor);
    this.resident.delete(c);
    this.used -= e.bytes;
    this.stats.evictions++;
  }

  clear(): void {
    for (const e of this.inflight.values()) e.dropped = true;
    for (const c of [...this.resident.keys()]) this.evict(c);
  }
}
