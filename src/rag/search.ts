/**
 * IVF search over a datastore in CPU memory: each query probes its nprobe nearest clusters; the
 * probed clusters resident in the GPU cache are scanned there, the others on the CPU while the GPU
 * works, and both feed the same per-query top-k heaps.
 *
 * The GPU share is one submit and one readback (per 64 MiB of distances) however many clusters it
 * scans: each distinct set of queries is uploaded once, every cluster's `ivf_scan` dispatch writes
 * its distances into its own range of one output buffer, and that buffer is read back once. A
 * readback is a submit, a copy and a map round trip, so one per cluster (hundreds per query) would
 * cost far more than the scans themselves.
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
  /** GPU share: `ivf_scan` dispatches, query uploads and readbacks (0 each without resident clusters). */
  gpuDispatches: number;
  gpuUploads: number;
  gpuReads: number;
  /** Host wall time: enqueue to distances read back (overlapping the CPU scan), the CPU scan, merging the GPU distances. */
  gpuMs: number;
  cpuMs: number;
  mergeMs: number;
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
  const t0 = performance.now();
  const gpuDone = onGpu.length > 0 ? scanOnGpu(opts.cache!, store, queries, onGpu, heaps) : null;
  // the CPU share runs while the GPU works on its own; its results merge into the same heaps
  const drain = gpuDone ? gpuDone.start() : null;
  const tCpu = performance.now();
  const cpu = scanClustersCpu(store, onCpu, queries, opts.k, opts.threads);
  heaps.forEach((h, qi) => {
    for (let j = qi * opts.k; j < (qi + 1) * opts.k; j++) if (cpu.ids[j]! >= 0) h.push(cpu.dists[j]!, cpu.ids[j]!);
  });
  const cpuMs = performance.now() - tCpu;
  let gpuMs = 0;
  let mergeMs = 0;
  if (drain) {
    const dists = await drain;
    const tMerge = performance.now();
    gpuMs = tMerge - t0;
    gpuDone!.merge(dists);
    mergeMs = performance.now() - tMerge;
  }
  return {
    result: collect(heaps, opts.k),
    stats: {
      probed: onGpu.length + onCpu.length,
      gpuClusters: onGpu.length,
      cpuClusters: onCpu.length,
      hitRates,
      gpuDispatches: gpuDone?.dispatches ?? 0,
      gpuUploads: gpuDone?.uploads ?? 0,
      gpuReads: gpuDone?.reads ?? 0,
      gpuMs,
      cpuMs,
      mergeMs,
    },
    probes,
  };
}

/** Distances per output buffer (64 MiB): within every device's storage binding limit (128 MiB). */
const MAX_OUT_ELEMENTS = 16 << 20;

/**
 * Enqueues the GPU scans: each distinct query set uploaded once, each cluster's distances at its
 * own offset of one output (a new output past MAX_OUT_ELEMENTS); `start` reads the outputs back,
 * `merge` feeds them into the heaps.
 */
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
  const querySets = new Map<string, Tensor>();
  // cluster i's distances: output part[i], from element at[i]
  const part: number[] = [];
  const at: number[] = [];
  const lengths: number[] = [0];
  for (const [c, qs] of clusters) {
    const n = qs.length * clusterRows(store, c);
    if (lengths.at(-1)! > 0 && lengths.at(-1)! + n > MAX_OUT_ELEMENTS) lengths.push(0);
    part.push(lengths.length - 1);
    at.push(lengths.at(-1)!);
    lengths[lengths.length - 1]! += n;
    const key = qs.join();
    if (querySets.has(key)) continue;
    const q = b.alloc({ dtype: 'f32', shape: [qs.length, d] }, 'ivf.queries', 'rag');
    const sub = new Float32Array(qs.length * d);
    qs.forEach((qi, i) => sub.set(queries.subarray(qi * d, (qi + 1) * d), i * d));
    // every upload before the first dispatch: a write submits the work pending before it
    b.write(q, sub);
    querySets.set(key, q);
    temps.push(q);
  }
  const outs = lengths.map((n) => b.alloc({ dtype: 'f32', shape: [n] }, 'ivf.dist', 'rag'));
  temps.push(...outs);
  clusters.forEach(([, qs, vectors], i) =>
    b.run(
      'ivf_scan',
      { at: at[i]!, outLength: lengths[part[i]!]! },
      [querySets.get(qs.join())!, vectors],
      [outs[part[i]!]!],
    ),
  );
  return {
    dispatches: clusters.length,
    uploads: querySets.size,
    reads: outs.length,
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
        const dist = dists[part[i]!]!;
        const from = at[i]!;
        qs.forEach((qi, row) => {
          const heap = heaps[qi]!;
          const o = from + row * m;
          for (let r = 0; r < m; r++) {
            const x = dist[o + r]!;
            // most candidates lose to a full heap: skip the call for them
            if (x <= heap.bound()) heap.push(x, store.ids[base + r]!);
          }
        });
      });
    },
  };
}
