/**
 * IVF scans on the CPU in WebAssembly SIMD: the CPU backend's `ivfScanGroups` / `ivfMergeSlots`
 * kernels (src/backends/cpu/wasm/l2-topk.ts) over its shared memory, split across its thread pool.
 *
 * The kernels are called on the pool directly rather than through the `ivf_scan` op: a search fuses
 * the distance scan with a top-k per query and covers every probed cluster of a batch in one call,
 * where the op materialises one [queries, rows] distance matrix per cluster to be read back.
 *
 * Batching: each cluster is one block of vector rows scanned once for all the queries of the batch
 * that probe it (cut into groups of at most GROUP_QUERIES queries, so a group's queries stay in L1
 * beside the row being scanned). Every (group, query) pair has its own heap slot, so groups share no
 * memory and any thread may take any group; a second pass merges each query's slots. Threads split
 * the groups, then the queries.
 *
 * The store's vectors live in the wasm memory (widened to f32 once for f16 stores) for as long as
 * the store object does, so a batch copies only its queries.
 */
import { cpuRuntime } from '../backends/cpu/cpu-runtime.js';
import type { Block } from '../backends/cpu/heap.js';
import { type IvfStore, clusterRows, f16DecodeTable } from './ivf-store.js';
import type { SearchResult } from './topk.js';

const GROUP_QUERIES = 32;

interface Mirror {
  readonly vectors: Block;
  readonly ids: Block;
  readonly centroids: Block;
  readonly centroidIds: Block;
}

const mirrors = new WeakMap<IvfStore, Mirror>();
const releaseMirror = new FinalizationRegistry<Block[]>((blocks) => {
  const heap = cpuRuntime().heap;
  for (const b of blocks) heap.release(b);
});

function mirror(store: IvfStore): Mirror {
  const have = mirrors.get(store);
  if (have) return have;
  const heap = cpuRuntime().heap;
  const n = store.ids.length;
  const { d, nlist } = store;
  const m: Mirror = {
    vectors: heap.alloc(n * d * 4),
    ids: heap.alloc(n * 4),
    centroids: heap.alloc(nlist * d * 4),
    centroidIds: heap.alloc(nlist * 4),
  };
  const vec = heap.f32(m.vectors.offset, n * d);
  if (store.vectors instanceof Float32Array) vec.set(store.vectors);
  else {
    const table = f16DecodeTable();
    const v = store.vectors;
    for (let i = 0; i < v.length; i++) vec[i] = table[v[i]!]!;
  }
  heap.i32(m.ids.offset, n).set(store.ids);
  heap.f32(m.centroids.offset, nlist * d).set(store.centroids);
  const cids = heap.i32(m.centroidIds.offset, nlist);
  for (let c = 0; c < nlist; c++) cids[c] = c;
  mirrors.set(store, m);
  releaseMirror.register(store, [m.vectors, m.ids, m.centroids, m.centroidIds]);
  return m;
}

/** A block of vector rows [row0, row0 + m) and the queries that scan it. */
interface RowBlock {
  readonly row0: number;
  readonly m: number;
  readonly qs: readonly number[];
}

/**
 * Each query's k nearest among the rows of the blocks it appears in (ids from `idsAt`), on
 * `threads` threads of the pool (all of them when absent).
 */
function scanBlocks(
  d: number,
  queries: Float32Array,
  xAt: number,
  idsAt: number,
  blocks: readonly RowBlock[],
  k: number,
  threads?: number,
): SearchResult {
  const nq = queries.length / d;
  const { heap, pool } = cpuRuntime();
  // slots: query qi owns [slotOff[qi], slotOff[qi + 1]), one per block it scans
  const slotOff = new Int32Array(nq + 1);
  let groups = 0;
  for (const b of blocks) {
    for (const qi of b.qs) slotOff[qi + 1]!++;
    groups += Math.ceil(b.qs.length / GROUP_QUERIES);
  }
  for (let i = 0; i < nq; i++) slotOff[i + 1]! += slotOff[i]!;
  const pairs = slotOff[nq]!;
  const temps: Block[] = [];
  const alloc = (bytes: number) => {
    const b = heap.alloc(Math.max(bytes, 4));
    temps.push(b);
    return b.offset;
  };
  try {
    const qAt = alloc(queries.length * 4);
    const gAt = alloc(groups * 16);
    const pAt = alloc(pairs * 8);
    const hdAt = alloc(pairs * k * 4);
    const hiAt = alloc(pairs * k * 4);
    const soAt = alloc((nq + 1) * 4);
    const odAt = alloc(nq * k * 4);
    const oiAt = alloc(nq * k * 4);
    // views only after every allocation: growing the memory replaces its buffer
    heap.f32(qAt, queries.length).set(queries);
    heap.i32(soAt, nq + 1).set(slotOff);
    const g = heap.i32(gAt, groups * 4);
    const p = heap.i32(pAt, pairs * 2);
    const next = slotOff.slice(0, nq);
    let gi = 0;
    let pi = 0;
    let work = 0;
    for (const b of blocks) {
      for (let s = 0; s < b.qs.length; s += GROUP_QUERIES) {
        const n = Math.min(GROUP_QUERIES, b.qs.length - s);
        g.set([b.row0, b.m, pi, n], gi * 4);
        gi++;
        for (let j = 0; j < n; j++) {
          const qi = b.qs[s + j]!;
          p[2 * pi] = qi;
          p[2 * pi + 1] = next[qi]!++;
          pi++;
        }
        work += n * b.m * d;
      }
    }
    const prev = pool.active;
    if (threads !== undefined) pool.active = Math.max(1, Math.min(threads, pool.threads));
    try {
      pool.run('ivfScanGroups', [qAt, d, xAt, idsAt, gAt, pAt, hdAt, hiAt, k], groups, work);
      pool.run('ivfMergeSlots', [hdAt, hiAt, soAt, k, odAt, oiAt], nq, pairs * k * 4);
    } finally {
      pool.active = prev;
    }
    return { k, ids: heap.i32(oiAt, nq * k).slice(), dists: heap.f32(odAt, nq * k).slice() };
  } finally {
    for (const b of temps) heap.release(b);
  }
}

/**
 * Each query's k nearest over the listed clusters (each with the queries probing it): row i of the
 * result holds query i's candidates, nearest first, −1 / +∞ past those found.
 */
export function scanClustersCpu(
  store: IvfStore,
  clusters: Iterable<readonly [number, readonly number[]]>,
  queries: Float32Array,
  k: number,
  threads?: number,
): SearchResult {
  const m = mirror(store);
  const blocks: RowBlock[] = [];
  for (const [c, qs] of clusters) {
    const rows = clusterRows(store, c);
    if (rows > 0 && qs.length > 0) blocks.push({ row0: store.offsets[c]!, m: rows, qs });
  }
  return scanBlocks(store.d, queries, m.vectors.offset, m.ids.offset, blocks, k, threads);
}

/** Each query's `nprobe` nearest centroids, nearest first (ties by cluster index). */
export function nearestCentroids(
  store: IvfStore,
  queries: Float32Array,
  nprobe: number,
  threads?: number,
): Int32Array[] {
  const m = mirror(store);
  const nq = queries.length / store.d;
  const p = Math.min(nprobe, store.nlist);
  const all = Array.from({ length: nq }, (_, i) => i);
  const r = scanBlocks(
    store.d,
    queries,
    m.centroids.offset,
    m.centroidIds.offset,
    [{ row0: 0, m: store.nlist, qs: all }],
    p,
    threads,
  );
  return all.map((qi) => r.ids.slice(qi * p, (qi + 1) * p));
}
