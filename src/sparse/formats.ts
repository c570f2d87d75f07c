/**
 * Sparse matrix formats as plain data, each described by its axes (`axes.ts`). Values are f32,
 * the type the kernels read; coordinates are i32. A matrix is `m × k`.
 *
 * - COO: canonical, sorted by (row, column), no duplicates; a root of extent 1 whose sparse-variable
 *   child enumerates the rows of every nonzero, with a sparse-fixed column axis of one child each.
 * - CSR: dense-fixed rows, sparse-variable columns (`indptr`, `indices`).
 * - CSC: dense-fixed columns, sparse-variable rows (`indptr` over columns, `indices` the rows): the
 *   CSR of the transpose, for operators that walk columns (e.g. the backward of SpMM).
 * - ELL: dense-fixed rows, sparse-fixed columns of `width`; short rows padded with column −1.
 * - BSR: dense-fixed block rows, sparse-variable block columns, dense-fixed `block × block` inside.
 * - Hybrid: ELL buckets (each a list of rows of length ≤ its power-of-two width) plus a CSR part
 *   holding the rows longer than the widest bucket, and optionally a split part: the rows longer
 *   than a segment length, each cut into segments; every row lives in exactly one part.
 */
import type { Axis } from './axes.js';

export interface Coo {
  readonly kind: 'coo';
  readonly m: number;
  readonly k: number;
  readonly rows: Int32Array;
  readonly cols: Int32Array;
  readonly vals: Float32Array;
}

export interface Csr {
  readonly kind: 'csr';
  readonly m: number;
  readonly k: number;
  readonly indptr: Int32Array;
  readonly indices: Int32Array;
  readonly vals: Float32Array;
}

/** Within a column, rows ascending. */
export interface Csc {
  readonly kind: 'csc';
  readonly m: number;
  readonly k: number;
  /** Over columns: length k + 1. */
  readonly indptr: Int32Array;
  /** The row of each stored value. */
  readonly indices: Int32Array;
  readonly vals: Float32Array;
}

/** Padding entries have column `ELL_PAD` and value 0; a row's real entries come first. */
export const ELL_PAD = -1;

export interface Ell {
  readonly kind: 'ell';
  readonly m: number;
  readonly k: number;
  readonly width: number;
  /** [m × width], row-major. */
  readonly cols: Int32Array;
  readonly vals: Float32Array;
}

export interface Bsr {
  readonly kind: 'bsr';
  readonly m: number;
  readonly k: number;
  readonly block: number;
  /** Over block rows: length ⌈m / block⌉ + 1. */
  readonly indptr: Int32Array;
  /** Block-column index of each stored block. */
  readonly indices: Int32Array;
  /** [blocks × block × block], each block row-major; entries outside the matrix are 0. */
  readonly blocks: Float32Array;
}

/** Rows of one ELL bucket: `rowIds[r]` is the matrix row of bucket row r. */
export interface EllBucket {
  readonly width: number;
  readonly rowIds: Int32Array;
  readonly cols: Int32Array;
  readonly vals: Float32Array;
}

/** The CSR part of a hybrid: local `indptr` over its own rows `rowIds`. */
export interface CsrRows {
  readonly rowIds: Int32Array;
  readonly indptr: Int32Array;
  readonly indices: Int32Array;
  readonly vals: Float32Array;
}

/**
 * Rows of a hybrid cut into segments of at most `segLen` entries (`row-split.ts`): the entries
 * are stored as in `CsrRows` (row r's are [indptr[r], indptr[r+1])); segment s covers
 * [segPtr[s], segPtr[s+1]), and row r owns segments [rowSegs[r], rowSegs[r+1]).
 */
export interface SplitRows extends CsrRows {
  readonly segLen: number;
  readonly segPtr: Int32Array;
  readonly rowSegs: Int32Array;
}

export interface Hyb {
  readonly kind: 'hyb';
  readonly m: number;
  readonly k: number;
  readonly buckets: readonly EllBucket[];
  readonly remainder: CsrRows;
  /** Rows longer than the segment length, when the decomposition splits them. */
  readonly split?: SplitRows;
}

export type SparseMatrix = Coo | Csr | Csc | Ell | Bsr | Hyb;
export type FormatKind = SparseMatrix['kind'];

export function nnzOf(a: SparseMatrix): number {
  switch (a.kind) {
    case 'coo':
    case 'csr':
    case 'csc':
      return a.vals.length;
    case 'ell':
      return a.cols.reduce((n, c) => n + (c === ELL_PAD ? 0 : 1), 0);
    case 'bsr':
      return a.blocks.reduce((n, v) => n + (v === 0 ? 0 : 1), 0);
    case 'hyb':
      return (
        a.buckets.reduce((n, b) => n + b.cols.reduce((s, c) => s + (c === ELL_PAD ? 0 : 1), 0), 0) +
        a.remainder.vals.length +
        (a.split?.vals.length ?? 0)
      );
  }
}

/** The format's axes, outermost first (a hybrid lists each part's axes under a part prefix). */
export function axesOf(a: SparseMatrix): Axis[] {
  switch (a.kind) {
    case 'coo':
      return [
        { name: 'root', kind: 'dense-fixed', length: 1 },
        { name: 'i', kind: 'sparse-variable', length: a.m, parent: 'root' },
        { name: 'j', kind: 'sparse-fixed', length: a.k, parent: 'i', perParent: 1 },
      ];
    case 'csr':
      return [
        { name: 'i', kind: 'dense-fixed', length: a.m },
        { name: 'j', kind: 'sparse-variable', length: a.k, parent: 'i' },
      ];
    case 'csc':
      return [
        { name: 'j', kind: 'dense-fixed', length: a.k },
        { name: 'i', kind: 'sparse-variable', length: a.m, parent: 'j' },
      ];
    case 'ell':
      return [
        { name: 'i', kind: 'dense-fixed', length: a.m },
        { name: 'j', kind: 'sparse-fixed', length: a.k, parent: 'i', perParent: a.width },
      ];
    case 'bsr': {
      const b = a.block;
      return [
        { name: 'io', kind: 'dense-fixed', length: Math.ceil(a.m / b) },
        { name: 'jo', kind: 'sparse-variable', length: Math.ceil(a.k / b), parent: 'io' },
        { name: 'ii', kind: 'dense-fixed', length: b, parent: 'jo', perParent: b },
        { name: 'ji', kind: 'dense-fixed', length: b, parent: 'ii', perParent: b },
      ];
    }
    case 'hyb':
      return [
        ...a.buckets.flatMap((bk, p): Axis[] => [
          { name: `ell${p}.i`, kind: 'sparse-fixed', length: a.m, perParent: bk.rowIds.length },
          { name: `ell${p}.j`, kind: 'sparse-fixed', length: a.k, parent: `ell${p}.i`, perParent: bk.width },
        ]),
        { name: 'csr.i', kind: 'sparse-fixed', length: a.m, perParent: a.remainder.rowIds.length },
        { name: 'csr.j', kind: 'sparse-variable', length: a.k, parent: 'csr.i' },
        ...(a.split
          ? ([
              { name: 'split.i', kind: 'sparse-fixed', length: a.m, perParent: a.split.rowIds.length },
              { name: 'split.s', kind: 'dense-variable', length: a.split.segPtr.length - 1, parent: 'split.i' },
              { name: 'split.j', kind: 'sparse-variable', length: a.k, parent: 'split.s' },
            ] satisfies Axis[])
          : []),
      ];
  }
}
