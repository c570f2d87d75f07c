/**
 * The adjacency normalizations GNN layers aggregate with, as CSR values over a binary graph:
 * GCN's D^-1/2 (A + I) D^-1/2 (Kipf & Welling; PyG's `gcn_norm`) and the mean aggregator's
 * D^-1 A (GraphSAGE; PyG's `SAGEConv(aggr='mean')`). Computed in float64, stored as f32.
 */
import type { Csr } from './formats.js';

/** A binary graph in CSR (every value 1). */
export interface GraphCsr {
  readonly n: number;
  readonly indptr: Int32Array;
  readonly indices: Int32Array;
}

/** `g` with one self loop per node (existing ones kept once); columns stay sorted if they were. */
export function withSelfLoops(g: GraphCsr): GraphCsr {
  const indptr = new Int32Array(g.n + 1);
  const out: number[] = [];
  for (let i = 0; i < g.n; i++) {
    const row = Array.from(g.indices.subarray(g.indptr[i]!, g.indptr[i + 1]!)).filter((c) => c !== i);
    row.push(i);
    row.sort((a, b) => a - b);
    out.push(...row);
    indptr[i + 1] = out.length;
  }
  return { n: g.n, indptr, indices: Int32Array.from(out) };
}

/** `g` without self loops. */
export function withoutSelfLoops(g: GraphCsr): GraphCsr {
  const indptr = new Int32Array(g.n + 1);
  const out: number[] = [];
  for (let i = 0; i < g.n; i++) {
    for (let e = g.indptr[i]!; e < g.indptr[i + 1]!; e++) if (g.indices[e] !== i) out.push(g.indices[e]!);
    indptr[i + 1] = out.length;
  }
  return { n: g.n, indptr, indices: Int32Array.from(out) };
}

const degrees = (g: GraphCsr) => Float64Array.from({ length: g.n }, (_, i) => g.indptr[i + 1]! - g.indptr[i]!);

/** D^-1/2 G D^-1/2 with D the row degrees of `g` (pass A + I for GCN; the graph must be symmetric). */
export function gcnNormalized(g: GraphCsr): Csr {
  const d = degrees(g);
  const vals = new Float32Array(g.indices.length);
  for (let i = 0; i < g.n; i++)
    for (let e = g.indptr[i]!; e < g.indptr[i + 1]!; e++) vals[e] = 1 / Math.sqrt(d[i]! * d[g.indices[e]!]!);
  return { kind: 'csr', m: g.n, k: g.n, indptr: g.indptr, indices: g.indices, vals };
}

/** D^-1 G: each row averages its neighbours; a node without neighbours aggregates to 0. */
export function meanNormalized(g: GraphCsr): Csr {
  const d = degrees(g);
  const vals = new Float32Array(g.indices.length);
  for (let i = 0; i < g.n; i++) for (let e = g.indptr[i]!; e < g.indptr[i + 1]!; e++) vals[e] = 1 / d[i]!;
  return { kind: 'csr', m: g.n, k: g.n, indptr: g.indptr, indices: g.indices, vals };
}

/** A CSR matrix [m × k] as a dense row-major f32 array. */
export function csrToDense(a: Csr): Float32Array {
  const out = new Float32Array(a.m * a.k);
  for (let i = 0; i < a.m; i++)
    for (let e = a.indptr[i]!; e < a.indptr[i + 1]!; e++) out[i * a.k + a.indices[e]!] = a.vals[e]!;
  return out;
}
