/**
 * Float64 references of the sparse ops, read straight from each device layout with plain loops:
 * the CPU backend runs them, and the conformance suite compares every kernel with them. Each
 * nonzero's contribution is also summed in absolute value (`mag`), which sets the tolerance.
 */
import { ELL_PAD } from './formats.js';
import type { HybLayout } from './device-layout.js';

/** Calls `visit(row, col, value)` for every stored nonzero of a device layout. */
export type NonzeroWalk = (visit: (row: number, col: number, v: number) => void) => void;

export function walkCoo(rows: Float64Array, cols: Float64Array, vals: Float64Array): NonzeroWalk {
  return (visit) => vals.forEach((v, e) => visit(rows[e]!, cols[e]!, v));
}

export function walkCsr(indptr: Float64Array, indices: Float64Array, vals: Float64Array): NonzeroWalk {
  return (visit) => {
    for (let i = 0; i + 1 < indptr.length; i++)
      for (let e = indptr[i]!; e < indptr[i + 1]!; e++) visit(i, indices[e]!, vals[e]!);
  };
}

export function walkEll(cols: Float64Array, vals: Float64Array, m: number, width: number): NonzeroWalk {
  return (visit) => {
    for (let i = 0; i < m; i++)
      for (let s = 0; s < width; s++) {
        const c = cols[i * width + s]!;
        if (c === ELL_PAD) break;
        visit(i, c, vals[i * width + s]!);
      }
  };
}

export function walkBsr(
  indptr: Float64Array,
  indices: Float64Array,
  blocks: Float64Array,
  m: number,
  k: number,
  b: number,
): NonzeroWalk {
  return (visit) => {
    for (let br = 0; br + 1 < indptr.length; br++)
      for (let s = indptr[br]!; s < indptr[br + 1]!; s++)
        for (let ii = 0; ii < b; ii++)
          for (let jj = 0; jj < b; jj++) {
            const row = br * b + ii;
            const col = indices[s]! * b + jj;
            if (row < m && col < k) visit(row, col, blocks[(s * b + ii) * b + jj]!);
          }
  };
}

export function walkHyb(idx: Float64Array, vals: Float64Array, layout: HybLayout): NonzeroWalk {
  return (visit) => {
    for (const p of layout.parts)
      for (let r = 0; r < p.rows; r++) {
        const row = idx[p.rowIdsAt + r]!;
        if (p.width > 0) {
          for (let s = 0; s < p.width; s++) {
            const c = idx[p.colsAt + r * p.width + s]!;
            if (c === ELL_PAD) break;
            visit(row, c, vals[p.valsAt + r * p.width + s]!);
          }
        } else {
          for (let e = idx[p.indptrAt + r]!; e < idx[p.indptrAt + r + 1]!; e++)
            visit(row, idx[p.colsAt + e]!, vals[p.valsAt + e]!);
        }
      }
    const sp = layout.split;
    // a split row's entries run from its first segment's start to its last segment's end
    for (let r = 0; sp && r < sp.rows; r++) {
      const row = idx[sp.rowIdsAt + r]!;
      const lo = idx[sp.segPtrAt + idx[sp.rowSegsAt + r]!]!;
      const hi = idx[sp.segPtrAt + idx[sp.rowSegsAt + r + 1]!]!;
      for (let e = lo; e < hi; e++) visit(row, idx[sp.colsAt + e]!, vals[sp.valsAt + e]!);
    }
  };
}

/** Y = A·X in float64 and Σ|a·x| per output element, X [k, f] row-major. */
export function spmmFromWalk(
  walk: NonzeroWalk,
  m: number,
  x: Float64Array,
  f: number,
): { y: Float64Array; mag: Float64Array } {
  const y = new Float64Array(m * f);
  const mag = new Float64Array(m * f);
  walk((i, j, v) => {
    for (let c = 0; c < f; c++) {
      const t = v * x[j * f + c]!;
      y[i * f + c] += t;
      mag[i * f + c] += Math.abs(t);
    }
  });
  return { y, mag };
}

/** out[e] = ⟨A[i,:], B[j,:]⟩ at the CSR nonzeros, and Σ|a·b| per nonzero. */
export function sddmmCsr(
  indptr: Float64Array,
  indices: Float64Array,
  a: Float64Array,
  b: Float64Array,
  d: number,
): { out: Float64Array; mag: Float64Array } {
  const nnz = indices.length;
  const out = new Float64Array(nnz);
  const mag = new Float64Array(nnz);
  for (let i = 0; i + 1 < indptr.length; i++)
    for (let e = indptr[i]!; e < indptr[i + 1]!; e++) {
      const j = indices[e]!;
      for (let c = 0; c < d; c++) {
        const t = a[i * d + c]! * b[j * d + c]!;
        out[e] += t;
        mag[e] += Math.abs(t);
      }
    }
  return { out, mag };
}

/**
 * The f32 accumulation bound (Higham & Mary's probabilistic bound with λ = 8, as bench/verify.ts
 * uses): |got − want| ≤ (8·√n + 1)·2⁻²⁴·Σ|terms| + 2⁻²⁴·|want|, n the terms summed. A wrong
 * column, a missing nonzero or an unwritten output breaks it by orders of magnitude.
 */
export function f32SumTolerance(terms: number, mag: number, want: number): number {
  const u = 2 ** -24;
  return (8 * Math.sqrt(Math.max(1, terms)) + 1) * u * mag + u * Math.abs(want) + 1e-30;
}
