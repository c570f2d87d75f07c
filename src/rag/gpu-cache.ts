/**
 * A cache of IVF clusters resident on a GPU backend, within a byte budget, least recently used
 * evicted first. A cluster is one tensor holding its contiguous vector slice, so an upload is one
 * queue write that proceeds while the caller keeps working (the write returns once enqueued).
 */
import type { Backend, Tensor } from '../backends/backend.js';
import { type IvfStore, clusterBytes, clusterRows, clusterVectors } from './ivf-store.js';

export interface CacheStats {
  uploads: number;
  uploadedBytes: number;
  evictions: number;
}

export class GpuClusterCache {
  private readonly resident = new Map<number, { tensor: Tensor; bytes: number }>();
  private used = 0;
  readonly stats: CacheStats = { uploads: 0, uploadedBytes: 0, evictions: 0 };

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
    const bytes = clusterBytes(this.store, c);
    if (bytes === 0 || bytes > this.budgetBytes) return false;
    for (const [victim] of this.resident) {
      if (this.used + bytes <= this.budgetBytes) break;
      if (!keep.has(victim)) this.evict(victim);
    }
    if (this.used + bytes > this.budgetBytes) return false;
    const t = this.backend.alloc(
      { dtype: this.store.dtype, shape: [clusterRows(this.store, c), this.store.d] },
      `ivf.cluster${c}`,
      'rag',
    );
    this.backend.write(t, clusterVectors(this.store, c));
    this.resident.set(c, { tensor: t, bytes });
    this.used += bytes;
    this.stats.uploads++;
    this.stats.uploadedBytes += bytes;
    return true;
  }

  evict(c: number): void {
    const e = this.resident.get(c);
    if (!e) return;
    this.backend.free(e.tensor);
    this.resident.delete(c);
    this.used -= e.bytes;
    this.stats.evictions++;
  }

  clear(): void {
    for (const c of [...this.resident.keys()]) this.evict(c);
  }
}
