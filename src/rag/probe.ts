/** Which clusters a query probes: the nprobe centroids nearest to it. */
import type { IvfStore } from './ivf-store.js';
import { TopK } from './topk.js';

/** The `nprobe` nearest clusters of each query, nearest first: row i of the result is query i's list. */
export function rankClusters(store: IvfStore, queries: Float32Array, nprobe: number): Int32Array[] {
  const { d, nlist, centroids } = store;
  const p = Math.min(nprobe, nlist);
  const nq = queries.length / d;
  const out: Int32Array[] = [];
  const ids = new Int32Array(p);
  const dists = new Float32Array(p);
  for (let qi = 0; qi < nq; qi++) {
    const heap = new TopK(p);
    for (let c = 0; c < nlist; c++) {
      let s = 0;
      for (let j = 0; j < d; j++) {
        const t = queries[qi * d + j]! - centroids[c * d + j]!;
        s += t * t;
      }
      if (s <= heap.bound()) heap.push(s, c);
    }
    heap.writeSorted(ids, dists, 0);
    out.push(ids.slice());
  }
  return out;
}

/** For each cluster probed by any query of the batch, the queries that probe it. */
export function queriesByCluster(probes: readonly Int32Array[]): Map<number, number[]> {
  const by = new Map<number, number[]>();
  probes.forEach((list, qi) => {
    for (const c of list) {
      const qs = by.get(c);
      if (qs) qs.push(qi);
      else by.set(c, [qi]);
    }
  });
  return by;
}
