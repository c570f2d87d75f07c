/**
 * The hybrid decomposition (SparseTIR's `hyb`): rows are bucketed by length into ELL parts whose
 * widths are powers of two (a row of length L goes to the narrowest width ≥ L, an empty row to
 * width 1, where it computes a zero), and rows longer than `maxWidth` form a CSR part. Bucketing
 * bounds the padding of each ELL part by 2×, and the long rows of a power-law graph stop
 * dictating one global ELL width. With a segment length, rows longer than it leave the CSR part for
 * a split part whose rows are cut into segments of at most that many entries (`row-split.ts`).
 */
import { cooFromTriples, rowLengths } from './coo.js';
import { type Coo, type CsrRows, ELL_PAD, type EllBucket, type Hyb } from './formats.js';
import { splitRows } from './row-split.js';

const isPow2 = (x: number) => Number.isInteger(x) && x >= 1 && (x & (x - 1)) === 0;

/** The narrowest power of two ≥ max(len, 1). */
export function bucketWidth(len: number): number {
  let w = 1;
  while (w < len) w *= 2;
  return w;
}

export function hybFromCoo(a: Coo, maxWidth: number, segLen?: number): Hyb {
  if (!isPow2(maxWidth) || maxWidth > 1024)
    throw new Error(`sparse: hybrid maxWidth must be a power of two in 1..1024, got ${maxWidth}`);
  const len = rowLengths(a);
  const start = new Int32Array(a.m + 1);
  for (let i = 0; i < a.m; i++) start[i + 1] = start[i]! + len[i]!;
  const byWidth = new Map<number, number[]>();
  const long: number[] = [];
  for (let i = 0; i < a.m; i++) {
    if (len[i]! > maxWidth) long.push(i);
    else {
      const w = bucketWidth(len[i]!);
      (byWidth.get(w) ?? byWidth.set(w, []).get(w)!).push(i);
    }
  }
  const buckets: EllBucket[] = [...byWidth.keys()]
    .sort((x, y) => x - y)
    .map((width) => {
      const rowIds = Int32Array.from(byWidth.get(width)!);
      const cols = new Int32Array(rowIds.length * width).fill(ELL_PAD);
      const vals = new Float32Array(rowIds.length * width);
      rowIds.forEach((row, r) => {
        for (let s = 0; s < len[row]!; s++) {
          cols[r * width + s] = a.cols[start[row]! + s]!;
          vals[r * width + s] = a.vals[start[row]! + s]!;
        }
      });
      return { width, rowIds, cols, vals };
    });
  // longest first: the kernel gives each long row (or each split row's segments) workgroups in
  // this order, and a row of thousands of entries that starts last ends last, after every other row
  long.sort((x, y) => len[y]! - len[x]! || x - y);
  const csrRows = (ids: readonly number[]): CsrRows => {
    const rowIds = Int32Array.from(ids);
    const indptr = new Int32Array(ids.length + 1);
    ids.forEach((row, r) => (indptr[r + 1] = indptr[r]! + len[row]!));
    const indices = new Int32Array(indptr[ids.length]!);
    const vals = new Float32Array(indices.length);
    ids.forEach((row, r) => {
      indices.set(a.cols.subarray(start[row]!, start[row + 1]!), indptr[r]!);
      vals.set(a.vals.subarray(start[row]!, start[row + 1]!), indptr[r]!);
    });
    return { rowIds, indptr, indices, vals };
  };
  if (segLen === undefined) return { kind: 'hyb', m: a.m, k: a.k, buckets, remainder: csrRows(long) };
  const split = splitRows(csrRows(long.filter((row) => len[row]! > segLen)), segLen);
  const remainder = csrRows(long.filter((row) => len[row]! <= segLen));
  return { kind: 'hyb', m: a.m, k: a.k, buckets, remainder, ...(split.rowIds.length > 0 ? { split } : {}) };
}

export function cooFromHyb(a: Hyb): Coo {
  const rows: number[] = [];
  const cols: number[] = [];
  const vals: number[] = [];
  for (const b of a.buckets)
    b.rowIds.forEach((row, r) => {
      for (let s = 0; s < b.width; s++) {
        const c = b.cols[r * b.width + s]!;
        if (c === ELL_PAD) continue;
        rows.push(row);
        cols.push(c);
        vals.push(b.vals[r * b.width + s]!);
      }
    });
  for (const rem of a.split ? [a.remainder, a.split] : [a.remainder])
    rem.rowIds.forEach((row, r) => {
      for (let e = rem.indptr[r]!; e < rem.indptr[r + 1]!; e++) {
        rows.push(row);
        cols.push(rem.indices[e]!);
        vals.push(rem.vals[e]!);
      }
    });
  // parts interleave rows; canonical order is restored by sorting (no duplicates exist to merge)
  return cooFromTriples(a.m, a.k, rows, cols, vals);
}
