/** Which clusters a query probes: the nprobe centroids nearest to it. */
import type { IvfStore } from './ivf-store.js';
import { nearestCentroids } from './cpu-scan.js';

/**
 * The `nprobe` nearest clusters of each query, nearest first: row i of the result is query i's
 * list. A scan of the centroids as one block on the CPU kernels (`cpu-scan.ts`).
 */
export function rankClusters(store: IvfStore, queries: Float32Array, nprobe: number, threads?: number): Int32Array[] {
  return nearestCentroids(store, queries, nprobe, threads);
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
