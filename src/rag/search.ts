/**
 * IVF search over a datastore in CPU memory: each query probes its nprobe nearest clusters; the
 * probed clusters resident in the GPU cache are scanned there (one `ivf_scan` dispatch per cluster
 * for the queries probing it), the others on the CPU while the GPU works, and both feed the same
 * per-query top-k heaps.
 */
import type { Tensor } from '../backends/backend.js';
import { scanClustersCpu } from './cpu-scan.js';
import type { GpuClusterCache } from './gpu-cache.js';
import { type IvfStore, clusterRows } from './ivf-store.js';
import { queriesByCluster, rankClusters } from './probe.js';
import { type SearchResult, TopK, collect } from './topk.js';

export interface SearchOptions {
  readonly k: number;
  readonly nprobe: number;
  /** Clusters resident here are scanned on its backend; absent, everything runs on the CPU. */
  readonly cache?: GpuClusterCache;
  /** Threads of the CPU backend's pool for the CPU share (ranking and scan); absent: all of them. */
  readonly threads?: number;
}

export interface SearchStats {
  /** Distinct non-empty clusters probed by the batch. */
  probed: number;
  gpuClusters: number;
  cpuClusters: number;
  /** Per query: the share of its probed non-empty clusters that were resident (1 when all were). */
  readonly hitRates: number[];
}

export interface SearchOutcome {
  readonly result: SearchResult;
  readonly stats: SearchStats;
  /** Each query's probed clusters, nearest first. */
  readonly probes: Int32Array[];
}

export async function searchIvf(store: IvfStore, queries: Float32Array, opts: SearchOptions): Promise<SearchOutcome> {
  const probes = rankClusters(store, queries, opts.nprobe, opts.threads);
  return searchProbed(store, queries, probes, opts);
}

/** The scan and merge for probe lists already chosen (lookahead ranks them itself). */
export async function searchProbed(
  store: IvfStore,
  queries: Float32Array,
  probes: Int32Array[],
  opts: SearchOptions,
): Promise<SearchOutcome> {
  const d = store.d;
  const nq = queries.length / d;
  const heaps = Array.from({ length: nq }, () => new TopK(opts.k));
  const byCluster = queriesByCluster(probes);
  const onGpu: [number, number[], Tensor][] = [];
  const onCpu: [number, number[]][] = [];
  for (const [c, qs] of byCluster) {
    if (clusterRows(store, c) === 0) continue;
    const t = opts.cache?.tensor(c);
    if (t) onGpu.push([c, qs, t]);
    else onCpu.push([c, qs]);
  }
  const cache = opts.cache;
  const hitRates = probes.map((list) => {
    let live = 0;
    let hit = 0;
    for (const c of list) {
      if (clusterRows(store, c) === 0) continue;
      live++;
      if (cache?.has(c)) hit++;
    }
    return live === 0 ? 1 : hit / live;
  });
  const gpuDone = onGpu.length > 0 ? scanOnGpu(opts.cache!, store, queries, onGpu, heaps) : null;
  // the CPU share runs while the GPU works on its own; its results merge into the same heaps
  const drain = gpuDone ? gpuDone.start() : null;
  const cpu = scanClustersCpu(store, onCpu, queries, opts.k, opts.threads);
  heaps.forEach((h, qi) => {
    for (let j = qi * opts.k; j < (qi + 1) * opts.k; j++) if (cpu.ids[j]! >= 0) h.push(cpu.dists[j]!, cpu.ids[j]!);
  });
  if (drain) gpuDone!.merge(await drain);
  return {
    result: collect(heaps, opts.k),
    stats: { probed: onGpu.length + onCpu.length, gpuClusters: onGpu.length, cpuClusters: onCpu.length, hitRates },
    probes,
  };
}

/** Enqueues the GPU scans; `start` reads the distances back, `merge` feeds them into the heaps. */
function scanOnGpu(
  cache: GpuClusterCache,
  store: IvfStore,
  queries: Float32Array,
  clusters: readonly [number, number[], Tensor][],
  heaps: readonly TopK[],
) {
  const b = cache.backend;
  const d = store.d;
  const temps: Tensor[] = [];
  const outs: Tensor[] = [];
  for (const [c, qs, vectors] of clusters) {
    const q = b.alloc({ dtype: 'f32', shape: [qs.length, d] }, 'ivf.queries', 'rag');
    const sub = new Float32Array(qs.length * d);
    qs.forEach((qi, i) => sub.set(queries.subarray(qi * d, (qi + 1) * d), i * d));
    b.write(q, sub);
    const out = b.alloc({ dtype: 'f32', shape: [qs.length, clusterRows(store, c)] }, 'ivf.dist', 'rag');
    b.run('ivf_scan', {}, [q, vectors], [out]);
    temps.push(q, out);
    outs.push(out);
  }
  return {
    start: async () => {
      try {
        return (await Promise.all(outs.map((t) => b.read(t)))) as Float32Array[];
      } finally {
        temps.forEach((t) => b.free(t));
      }
    },
    merge: (dists: Float32Array[]) => {
      clusters.forEach(([c, qs], i) => {
        const m = clusterRows(store, c);
        const base = store.offsets[c]!;
        const dist = dists[i]!;
        qs.forEach((qi, row) => {
          const heap = heaps[qi]!;
          for (let r = 0; r < m; r++) heap.push(dist[row * m + r]!, store.ids[base + r]!);
        });
      });
    },
  };
}
