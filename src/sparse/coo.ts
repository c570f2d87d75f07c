/** COO construction on the host: triples in any order become the canonical sorted, duplicate-free form. */
import type { Coo } from './formats.js';

function checkShape(m: number, k: number): void {
  if (!Number.isInteger(m) || !Number.isInteger(k) || m < 0 || k < 0)
    throw new Error(`sparse: matrix shape must be non-negative integers, got ${m} × ${k}`);
  if (m >= 2 ** 31 || k >= 2 ** 31) throw new Error(`sparse: ${m} × ${k} does not fit i32 coordinates`);
}

/** Sorts by (row, column) and sums duplicates; coordinates are range-checked. */
export function cooFromTriples(
  m: number,
  k: number,
  rows: ArrayLike<number>,
  cols: ArrayLike<number>,
  vals: ArrayLike<number>,
): Coo {
  checkShape(m, k);
  const n = rows.length;
  if (cols.length !== n || vals.length !== n)
    throw new Error(`sparse: ${n} rows, ${cols.length} columns and ${vals.length} values given; they must agree`);
  for (let e = 0; e < n; e++) {
    const r = rows[e]!;
    const c = cols[e]!;
    if (!(Number.isInteger(r) && r >= 0 && r < m) || !(Number.isInteger(c) && c >= 0 && c < k))
      throw new Error(`sparse: entry ${e} at (${r}, ${c}) lies outside the ${m} × ${k} matrix`);
  }
  // a key of row·k + col orders by (row, col); it stays exact below 2^53
  const order = Array.from({ length: n }, (_, e) => e);
  order.sort((a, b) => rows[a]! - rows[b]! || cols[a]! - cols[b]!);
  const r = new Int32Array(n);
  const c = new Int32Array(n);
  const v = new Float32Array(n);
  let out = -1;
  for (const e of order) {
    if (out >= 0 && r[out] === rows[e] && c[out] === cols[e]) v[out] = v[out]! + vals[e]!;
    else {
      out++;
      r[out] = rows[e]!;
      c[out] = cols[e]!;
      v[out] = vals[e]!;
    }
  }
  const nnz = out + 1;
  return { kind: 'coo', m, k, rows: r.slice(0, nnz), cols: c.slice(0, nnz), vals: v.slice(0, nnz) };
}

/** Nonzeros per row of a canonical COO. */
export function rowLengths(a: Coo): Int32Array {
  const len = new Int32Array(a.m);
  for (const r of a.rows) len[r]!++;
  return len;
}

/** Whether two canonical COO matrices are the same matrix, bit for bit. */
export function sameCoo(a: Coo, b: Coo): boolean {
  if (a.m !== b.m || a.k !== b.k || a.vals.length !== b.vals.length) return false;
  for (let e = 0; e < a.vals.length; e++)
    if (a.rows[e] !== b.rows[e] || a.cols[e] !== b.cols[e] || !Object.is(a.vals[e], b.vals[e])) return false;
  return true;
}
