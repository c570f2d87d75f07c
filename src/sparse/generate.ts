/**
 * Test and benchmark matrices, deterministic from a seed: uniform random sparsity, R-MAT power-law
 * graphs (Chakrabarti et al. 2004, the Graph500 generator's parameters by default), and the shapes
 * that break kernels — empty rows, a single dense row, one huge row among short ones. Values are
 * nonzero (drawn from ±[0.5, 1.5)) so conversions that drop stored zeros still round-trip.
 */
import { Rng } from '../util/rng.js';
import { cooFromTriples } from './coo.js';
import type { Coo } from './formats.js';

const value = (rng: Rng) => (rng.next() < 0.5 ? -1 : 1) * rng.uniform(0.5, 1.5);

/** Each entry is nonzero with probability `density`; rows listed in `emptyRows` stay empty. */
export function randomCoo(seed: number, m: number, k: number, density: number, emptyRows: readonly number[] = []): Coo {
  const rng = new Rng(seed);
  const empty = new Set(emptyRows);
  const rows: number[] = [];
  const cols: number[] = [];
  const vals: number[] = [];
  for (let i = 0; i < m; i++) {
    if (empty.has(i)) continue;
    for (let j = 0; j < k; j++)
      if (rng.next() < density) {
        rows.push(i);
        cols.push(j);
        vals.push(value(rng));
      }
  }
  return cooFromTriples(m, k, rows, cols, vals);
}

/** `base` with row `row` replaced by a fully dense row (every column). */
export function withDenseRow(seed: number, base: Coo, row: number): Coo {
  const rng = new Rng(seed);
  const rows: number[] = [];
  const cols: number[] = [];
  const vals: number[] = [];
  for (let e = 0; e < base.vals.length; e++)
    if (base.rows[e] !== row) {
      rows.push(base.rows[e]!);
      cols.push(base.cols[e]!);
      vals.push(base.vals[e]!);
    }
  for (let j = 0; j < base.k; j++) {
    rows.push(row);
    cols.push(j);
    vals.push(value(rng));
  }
  return cooFromTriples(base.m, base.k, rows, cols, vals);
}

export interface RmatParams {
  /** log2 of the node count. */
  readonly scale: number;
  /** Average edges per node (before duplicates merge). */
  readonly edgeFactor: number;
  readonly a?: number;
  readonly b?: number;
  readonly c?: number;
}

/**
 * An R-MAT graph's adjacency (2^scale square): each edge picks a quadrant per bit with
 * probabilities a, b, c, 1−a−b−c. Duplicate edges merge (their values add); self-loops stay.
 * Node ids are not permuted, so the heavy rows sit at low indices — a worst case for row-balanced
 * kernels, which is the point.
 */
export function rmatCoo(seed: number, p: RmatParams): Coo {
  const { scale, edgeFactor } = p;
  const a = p.a ?? 0.57;
  const b = p.b ?? 0.19;
  const c = p.c ?? 0.19;
  if (!(scale >= 1 && scale <= 30) || !Number.isInteger(scale))
    throw new Error(`rmat: scale must be 1..30, got ${scale}`);
  const n = 2 ** scale;
  const edges = Math.round(n * edgeFactor);
  const rng = new Rng(seed);
  const rows = new Int32Array(edges);
  const cols = new Int32Array(edges);
  const vals = new Float32Array(edges);
  for (let e = 0; e < edges; e++) {
    let r = 0;
    let q = 0;
    for (let bit = 0; bit < scale; bit++) {
      const u = rng.next();
      const down = u >= a + b;
      const right = (u >= a && u < a + b) || u >= a + b + c;
      r = r * 2 + (down ? 1 : 0);
      q = q * 2 + (right ? 1 : 0);
    }
    rows[e] = r;
    cols[e] = q;
    vals[e] = value(rng);
  }
  return dropZeros(cooFromTriples(n, n, rows, cols, vals));
}

/** Duplicates that cancelled to an exact zero are removed, so every stored value is nonzero. */
function dropZeros(a: Coo): Coo {
  const keep: number[] = [];
  a.vals.forEach((v, e) => v !== 0 && keep.push(e));
  if (keep.length === a.vals.length) return a;
  const pick = <T extends Int32Array | Float32Array>(x: T, out: T): T => {
    keep.forEach((e, q) => (out[q] = x[e]!));
    return out;
  };
  return {
    ...a,
    rows: pick(a.rows, new Int32Array(keep.length)),
    cols: pick(a.cols, new Int32Array(keep.length)),
    vals: pick(a.vals, new Float32Array(keep.length)),
  };
}
