/**
 * The float64 oracle of SpMM over COO triples (Y = A·X, with Σ|a·x| and the term count per row
 * for the f32 summation bound), and a check of a kernel's output against it, shared by the test
 * files that run SpMM through generated code.
 */
import type { Coo } from '../../src/sparse/index.js';
import { f32SumTolerance } from '../../src/sparse/reference.js';

export function spmmOracle(a: Coo, x: Float32Array, f: number) {
  const y = new Float64Array(a.m * f);
  const mag = new Float64Array(a.m * f);
  const terms = new Int32Array(a.m);
  for (let e = 0; e < a.vals.length; e++) {
    const i = a.rows[e]!;
    terms[i]!++;
    for (let c = 0; c < f; c++) {
      const t = a.vals[e]! * x[a.cols[e]! * f + c]!;
      y[i * f + c] += t;
      mag[i * f + c] += Math.abs(t);
    }
  }
  return { y, mag, terms };
}

/** 'ok', or how many outputs are off by more than the f32 summation bound, and the first. */
export function checkSpmm(coo: Coo, x: Float32Array, f: number, got: ArrayLike<number>): string {
  const want = spmmOracle(coo, x, f);
  let bad = 0;
  let first = '';
  for (let e = 0; e < want.y.length; e++) {
    const tol = f32SumTolerance(want.terms[Math.floor(e / f)]!, want.mag[e]!, want.y[e]!);
    if (!(Math.abs(got[e]! - want.y[e]!) <= tol)) {
      if (!bad) first = `[${Math.floor(e / f)}, ${e % f}] got ${got[e]} want ${want.y[e]}`;
      bad++;
    }
  }
  return bad ? `${bad} of ${want.y.length} wrong, first ${first}` : 'ok';
}
