/**
 * Scans IVF clusters on the CPU: each cluster is decoded once (f16 → f32) and walked once for all
 * the queries of the batch that probe it, so the vectors stream through the cache once per batch.
 */
import { type IvfStore, clusterF32, clusterRows } from './ivf-store.js';
import type { TopK } from './topk.js';

export function scanClusterCpu(
  store: IvfStore,
  c: number,
  queries: Float32Array,
  qs: readonly number[],
  heaps: readonly TopK[],
  scratch?: Float32Array,
): void {
  const d = store.d;
  const m = clusterRows(store, c);
  if (m === 0) return;
  const v = clusterF32(store, c, scratch);
  const base = store.offsets[c]!;
  const ids = store.ids;
  for (const qi of qs) {
    const heap = heaps[qi]!;
    const qo = qi * d;
    let bound = heap.bound();
    for (let r = 0; r < m; r++) {
      const ro = r * d;
      let s = 0;
      // stop a row once it is already farther than the k-th best: most rows of a probed cluster are
      let j = 0;
      for (; j < d; j++) {
        const t = queries[qo + j]! - v[ro + j]!;
        s += t * t;
        if ((j & 15) === 15 && s > bound) break;
      }
      if (j === d && s <= bound) {
        heap.push(s, ids[base + r]!);
        bound = heap.bound();
      }
    }
  }
}

/** Scans `clusters` (each with the queries probing it) into the queries' heaps. */
export function scanClustersCpu(
  store: IvfStore,
  clusters: Iterable<[number, readonly number[]]>,
  queries: Float32Array,
  heaps: readonly TopK[],
): number {
  let maxRows = 0;
  for (let c = 0; c < store.nlist; c++) maxRows = Math.max(maxRows, clusterRows(store, c));
  const scratch = store.dtype === 'f16' ? new Float32Array(maxRows * store.d) : undefined;
  let scanned = 0;
  for (const [c, qs] of clusters) {
    scanClusterCpu(store, c, queries, qs, heaps, scratch);
    scanned++;
  }
  return scanned;
}
