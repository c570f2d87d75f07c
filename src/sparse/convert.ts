/**
 * Conversions on the host, with canonical COO as the hub: every format is built from COO and
 * turns back into it, so `toCoo(toFormat(a, spec))` is `a` for matrices without stored zeros
 * (BSR and ELL cannot tell a stored zero from their fill, so they drop zeros on the way back).
 */
import { rowLengths } from './coo.js';
import { type Bsr, type Coo, type Csc, type Csr, ELL_PAD, type Ell, type SparseMatrix } from './formats.js';
import { cooFromHyb, hybFromCoo } from './hyb.js';

export type FormatSpec =
  | { readonly kind: 'coo' }
  | { readonly kind: 'csr' }
  | { readonly kind: 'csc' }
  | { readonly kind: 'ell'; readonly width?: number }
  | { readonly kind: 'bsr'; readonly block: number }
  /** `split`: rows longer than this many entries are cut into segments of at most that many. */
  | { readonly kind: 'hyb'; readonly maxWidth: number; readonly split?: number };

export function formatName(spec: FormatSpec): string {
  switch (spec.kind) {
    case 'bsr':
      return `bsr${spec.block}`;
    case 'hyb':
      return `hyb${spec.maxWidth}${spec.split === undefined ? '' : `s${spec.split}`}`;
    case 'ell':
      return spec.width === undefined ? 'ell' : `ell${spec.width}`;
    default:
      return spec.kind;
  }
}

export function csrFromCoo(a: Coo): Csr {
  const indptr = new Int32Array(a.m + 1);
  const len = rowLengths(a);
  for (let i = 0; i < a.m; i++) indptr[i + 1] = indptr[i]! + len[i]!;
  return { kind: 'csr', m: a.m, k: a.k, indptr, indices: a.cols.slice(), vals: a.vals.slice() };
}

export function cooFromCsr(a: Csr): Coo {
  const rows = new Int32Array(a.vals.length);
  for (let i = 0; i < a.m; i++) rows.fill(i, a.indptr[i]!, a.indptr[i + 1]!);
  return { kind: 'coo', m: a.m, k: a.k, rows, cols: a.indices.slice(), vals: a.vals.slice() };
}

/** Canonical COO is sorted by (row, column), so a stable pass by column leaves each column's rows ascending. */
export function cscFromCoo(a: Coo): Csc {
  const indptr = new Int32Array(a.k + 1);
  for (const c of a.cols) indptr[c + 1]!++;
  for (let j = 0; j < a.k; j++) indptr[j + 1]! += indptr[j]!;
  const fill = indptr.slice(0, a.k);
  const indices = new Int32Array(a.vals.length);
  const vals = new Float32Array(a.vals.length);
  for (let e = 0; e < a.vals.length; e++) {
    const at = fill[a.cols[e]!]!++;
    indices[at] = a.rows[e]!;
    vals[at] = a.vals[e]!;
  }
  return { kind: 'csc', m: a.m, k: a.k, indptr, indices, vals };
}

/** Columns are visited in order, so a stable pass by row gives canonical (row, column) order. */
export function cooFromCsc(a: Csc): Coo {
  const start = new Int32Array(a.m + 1);
  for (const r of a.indices) start[r + 1]!++;
  for (let i = 0; i < a.m; i++) start[i + 1]! += start[i]!;
  const rows = new Int32Array(a.vals.length);
  const cols = new Int32Array(a.vals.length);
  const vals = new Float32Array(a.vals.length);
  for (let j = 0; j < a.k; j++)
    for (let s = a.indptr[j]!; s < a.indptr[j + 1]!; s++) {
      const at = start[a.indices[s]!]!++;
      rows[at] = a.indices[s]!;
      cols[at] = j;
      vals[at] = a.vals[s]!;
    }
  return { kind: 'coo', m: a.m, k: a.k, rows, cols, vals };
}

/** `width` defaults to the longest row; a row longer than `width` is an error, not a silent truncation. */
export function ellFromCoo(a: Coo, width?: number): Ell {
  const len = rowLengths(a);
  const longest = len.reduce((x, y) => Math.max(x, y), 0);
  const w = width ?? Math.max(1, longest);
  if (longest > w) throw new Error(`sparse: ELL width ${w} is below the longest row (${longest} nonzeros)`);
  const cols = new Int32Array(a.m * w).fill(ELL_PAD);
  const vals = new Float32Array(a.m * w);
  const fill = new Int32Array(a.m);
  for (let e = 0; e < a.vals.length; e++) {
    const r = a.rows[e]!;
    const at = r * w + fill[r]!++;
    cols[at] = a.cols[e]!;
    vals[at] = a.vals[e]!;
  }
  return { kind: 'ell', m: a.m, k: a.k, width: w, cols, vals };
}

export function cooFromEll(a: Ell): Coo {
  const rows: number[] = [];
  const cols: number[] = [];
  const vals: number[] = [];
  for (let i = 0; i < a.m; i++)
    for (let s = 0; s < a.width; s++) {
      const c = a.cols[i * a.width + s]!;
      if (c === ELL_PAD) continue;
      rows.push(i);
      cols.push(c);
      vals.push(a.vals[i * a.width + s]!);
    }
  return {
    kind: 'coo',
    m: a.m,
    k: a.k,
    rows: Int32Array.from(rows),
    cols: Int32Array.from(cols),
    vals: Float32Array.from(vals),
  };
}

export const BSR_BLOCKS = [2, 4, 8, 16, 32] as const;

/** Stored blocks of `a` in BSR with `block`, counted without building it (to refuse a fill that would not fit). */
export function bsrBlockCount(a: Coo, block: number): number {
  let blocks = 0;
  const seen = new Set<number>();
  let br = -1;
  for (let e = 0; e < a.vals.length; e++) {
    const r = Math.floor(a.rows[e]! / block);
    if (r !== br) {
      blocks += seen.size;
      seen.clear();
      br = r;
    }
    seen.add(Math.floor(a.cols[e]! / block));
  }
  return blocks + seen.size;
}

/**
 * Stored values (padding included) over nonzeros when `a` is held in `spec`: ELL pads every row
 * to the longest, BSR fills whole blocks; the others store nonzeros only (the hybrid's ELL
 * buckets pad by less than 2×).
 */
export function storageBlowup(a: Coo, spec: FormatSpec): number {
  const nnz = Math.max(1, a.vals.length);
  if (spec.kind === 'ell') {
    const longest = rowLengths(a).reduce((x, y) => Math.max(x, y), 0);
    return (a.m * Math.max(1, spec.width ?? longest)) / nnz;
  }
  if (spec.kind === 'bsr') return (bsrBlockCount(a, spec.block) * spec.block ** 2) / nnz;
  return 1;
}

export function bsrFromCoo(a: Coo, block: number): Bsr {
  if (!Number.isInteger(block) || block < 2 || block > 32)
    throw new Error(`sparse: BSR block size must be an integer in 2..32, got ${block}`);
  const mb = Math.ceil(a.m / block);
  // canonical COO visits block rows in order; within one, collect the distinct block columns
  const indptr = new Int32Array(mb + 1);
  const indices: number[] = [];
  const slotOf = new Map<number, number>();
  const where = new Int32Array(a.vals.length);
  let e = 0;
  for (let br = 0; br < mb; br++) {
    slotOf.clear();
    const end = Math.min(a.m, (br + 1) * block);
    const first = e;
    for (; e < a.vals.length && a.rows[e]! < end; e++) {
      const bc = Math.floor(a.cols[e]! / block);
      if (!slotOf.has(bc)) slotOf.set(bc, -1);
    }
    const sorted = [...slotOf.keys()].sort((x, y) => x - y);
    sorted.forEach((bc, s) => slotOf.set(bc, indices.length + s));
    indices.push(...sorted);
    for (let q = first; q < e; q++) where[q] = slotOf.get(Math.floor(a.cols[q]! / block))!;
    indptr[br + 1] = indices.length;
  }
  const blocks = new Float32Array(indices.length * block * block);
  for (let q = 0; q < a.vals.length; q++) {
    const ii = a.rows[q]! % block;
    const jj = a.cols[q]! % block;
    blocks[(where[q]! * block + ii) * block + jj] = a.vals[q]!;
  }
  return { kind: 'bsr', m: a.m, k: a.k, block, indptr, indices: Int32Array.from(indices), blocks };
}

export function cooFromBsr(a: Bsr): Coo {
  const b = a.block;
  const rows: number[] = [];
  const cols: number[] = [];
  const vals: number[] = [];
  const mb = a.indptr.length - 1;
  for (let br = 0; br < mb; br++)
    for (let ii = 0; ii < b; ii++) {
      const row = br * b + ii;
      if (row >= a.m) break;
      for (let s = a.indptr[br]!; s < a.indptr[br + 1]!; s++)
        for (let jj = 0; jj < b; jj++) {
          const v = a.blocks[(s * b + ii) * b + jj]!;
          if (v === 0) continue;
          rows.push(row);
          cols.push(a.indices[s]! * b + jj);
          vals.push(v);
        }
    }
  return {
    kind: 'coo',
    m: a.m,
    k: a.k,
    rows: Int32Array.from(rows),
    cols: Int32Array.from(cols),
    vals: Float32Array.from(vals),
  };
}

export function toFormat(a: Coo, spec: FormatSpec): SparseMatrix {
  switch (spec.kind) {
    case 'coo':
      return a;
    case 'csr':
      return csrFromCoo(a);
    case 'csc':
      return cscFromCoo(a);
    case 'ell':
      return ellFromCoo(a, spec.width);
    case 'bsr':
      return bsrFromCoo(a, spec.block);
    case 'hyb':
      return hybFromCoo(a, spec.maxWidth, spec.split);
  }
}

export function toCoo(a: SparseMatrix): Coo {
  switch (a.kind) {
    case 'coo':
      return a;
    case 'csr':
      return cooFromCsr(a);
    case 'csc':
      return cooFromCsc(a);
    case 'ell':
      return cooFromEll(a);
    case 'bsr':
      return cooFromBsr(a);
    case 'hyb':
      return cooFromHyb(a);
  }
}
