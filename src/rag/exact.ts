/** Exact k-nearest-neighbor search in float64 over every vector: the ground truth that recall is measured against. */
import { type IvfStore, clusterF32 } from './ivf-store.js';
import { type SearchResult, TopK, collect } from './topk.js';

/** Exact search over plain rows [n, d] (ids are row numbers). */
export function exactSearchRows(rows: Float32Array, d: number, queries: Float32Array, k: number): SearchResult {
  const n = rows.length / d;
  const nq = queries.length / d;
  const heaps = Array.from({ length: nq }, () => new TopK(k));
  for (let qi = 0; qi < nq; qi++)
    for (let r = 0; r < n; r++) {
      let s = 0;
      for (let j = 0; j < d; j++) {
        const t = queries[qi * d + j]! - rows[r * d + j]!;
        s += t * t;
      }
      heaps[qi]!.push(s, r);
    }
  return collect(heaps, k);
}

/** Exact search over the store's vectors as stored (f16 decoded exactly), ids as stored. */
export function exactSearch(store: IvfStore, queries: Float32Array, k: number): SearchResult {
  const d = store.d;
  const nq = queries.length / d;
  const heaps = Array.from({ length: nq }, () => new TopK(k));
  for (let c = 0; c < store.nlist; c++) {
    const v = clusterF32(store, c);
    const base = store.offsets[c]!;
    for (let qi = 0; qi < nq; qi++)
      for (let r = 0; r * d < v.length; r++) {
        let s = 0;
        for (let j = 0; j < d; j++) {
          const t = queries[qi * d + j]! - v[r * d + j]!;
          s += t * t;
        }
        heaps[qi]!.push(s, store.ids[base + r]!);
      }
  }
  return collect(heaps, k);
}
