/**
 * Heterogeneous graphs for RGCN: one CSR over all relations with a relation id per edge. Within a
 * row the edges are sorted by (relation, column), so a row's edges of one relation form one
 * segment — the order the fused RGCN kernel (`rgcn-lower.ts`) aggregates in. Values are RGCN's
 * normalization 1 / |N_i^r| (the neighbours of i under relation r).
 */
import { Rng } from '../util/rng.js';

export interface HeteroCsr {
  readonly m: number;
  readonly k: number;
  readonly relations: number;
  readonly indptr: Int32Array;
  readonly indices: Int32Array;
  /** Relation of each edge, in 0..relations−1. */
  readonly rel: Int32Array;
  readonly vals: Float32Array;
}

export interface HeteroParams {
  readonly m: number;
  readonly k: number;
  readonly relations: number;
  /** Mean edges per row; row lengths follow a Zipf-like law (a few long rows, many short). */
  readonly meanDegree: number;
  /** Rows left without edges. */
  readonly emptyRows?: readonly number[];
  /** A row holding an edge to every column under every relation. */
  readonly denseRow?: number;
}

/** A random heterogeneous graph, deterministic from `seed`; duplicate (column, relation) pairs merge. */
export function randomHetero(seed: number, p: HeteroParams): HeteroCsr {
  const rng = new Rng(seed);
  const empty = new Set(p.emptyRows ?? []);
  const indptr = new Int32Array(p.m + 1);
  const indices: number[] = [];
  const rel: number[] = [];
  const vals: number[] = [];
  for (let i = 0; i < p.m; i++) {
    const keys = new Set<number>();
    if (i === p.denseRow) {
      for (let r = 0; r < p.relations; r++) for (let j = 0; j < p.k; j++) keys.add(r * p.k + j);
    } else if (!empty.has(i)) {
      // heavy-tailed degree: meanDegree · u^-1/2 · v has mean meanDegree (E[u^-1/2] = 2, E[v] = 1/2)
      // and a power-law tail; a row cannot hold more than every (relation, column) pair
      const deg = Math.min(
        p.k * p.relations,
        Math.round(p.meanDegree * Math.max(rng.next(), 1e-6) ** -0.5 * rng.next()),
      );
      for (let t = 0; t < deg; t++) keys.add(rng.int(0, p.relations - 1) * p.k + rng.int(0, p.k - 1));
    }
    const sorted = [...keys].sort((a, b) => a - b);
    const perRel = new Map<number, number>();
    for (const key of sorted) perRel.set(Math.floor(key / p.k), (perRel.get(Math.floor(key / p.k)) ?? 0) + 1);
    for (const key of sorted) {
      const r = Math.floor(key / p.k);
      indices.push(key % p.k);
      rel.push(r);
      vals.push(1 / perRel.get(r)!);
    }
    indptr[i + 1] = indices.length;
  }
  return {
    m: p.m,
    k: p.k,
    relations: p.relations,
    indptr,
    indices: Int32Array.from(indices),
    rel: Int32Array.from(rel),
    vals: Float32Array.from(vals),
  };
}
