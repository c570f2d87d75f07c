/**
 * SpMM as a reduction-form tensor program of the compiler (the form graph fusion takes): the CSR
 * iteration (rows dense-fixed × nonzeros sparse-variable × features dense-fixed) becomes a TIR
 * program whose output nest is (row, feature) and whose reduction axis is the sparse-variable one,
 * a ranged reduction over [indptr[i], indptr[i+1]) with `indices` read as an integer index into X:
 *
 *   y[i0, i1] = Σ_{r0 ∈ [indptr[i0], indptr[i0+1])} values[r0] · x[indices[r0], i1]
 *
 * The same program then goes through the generic WGSL and JavaScript codegen; the float64
 * interpreter is its meaning. Dimensions: `m` rows, `k` columns of A (rows of X), `nnz`, `f` features.
 */
import { type Sym, sym } from '../ir/sym/sym.js';
import {
  DEFAULT_SCHEDULE,
  type Schedule,
  type TensorProgram,
  bin,
  indexLoad,
  int,
  load,
  pvar,
} from '../ir/tir/program.js';
import type { Csr } from './formats.js';

const i0 = pvar('i0');
const i1 = pvar('i1');
const r0 = pvar('r0');

/** The CSR SpMM tensor program; `schedule` defaults to a thread per output element. */
export function csrSpmmProgram(schedule: Schedule = DEFAULT_SCHEDULE): TensorProgram {
  const [m, k, nnz, f] = ['m', 'k', 'nnz', 'f'].map(sym) as [Sym, Sym, Sym, Sym];
  return {
    name: 'spmm_csr_tir',
    kind: 'reduction',
    inputs: [
      { name: 'indptr', dtype: 'i32', shape: [m.add(1)] },
      { name: 'indices', dtype: 'i32', shape: [nnz] },
      { name: 'values', dtype: 'f32', shape: [nnz] },
      { name: 'x', dtype: 'f32', shape: [k, f] },
    ],
    output: { name: 'y', dtype: 'f32', shape: [m, f] },
    reduce: {
      op: 'sum',
      extents: [nnz],
      range: { lo: indexLoad('indptr', [i0]), hi: indexLoad('indptr', [bin('+', i0, int(1))]) },
    },
    body: bin('*', load('values', [r0]), load('x', [indexLoad('indices', [r0]), i1])),
    schedule,
  };
}

/** The dimension values of one launch. */
export function csrSpmmEnv(a: Csr, f: number): Record<string, number> {
  return { m: a.m, k: a.k, nnz: a.indices.length, f };
}
