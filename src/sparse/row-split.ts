/**
 * Row splitting (nnz-balanced decomposition) of a hybrid's long rows. A power-law graph's hub rows
 * hold thousands of entries; given one workgroup each, a hub is one serial chain far longer than
 * any other work unit, and the dispatch waits on it. Here a row longer than the segment length S
 * is cut into ⌈len / S⌉ segments of near-equal length (none over S); every segment is a unit of
 * work of the fused dispatch (a workgroup, scheduled as the remainder's long rows are), writing
 * its partial row into a scratch buffer of [segments × f]; a second, small dispatch sums each split
 * row's partials in segment order into y. WGSL has no f32 atomics, and a fixed order of summation
 * keeps the result the same from run to run.
 */
import { type PExpr, bin, flt, indexLoad, int, load, pvar } from '../ir/tir/program.js';
import { type LoopProgram, type Stmt, assign, dims, forLoop, letS, store, varS } from '../ir/tir/loop-nest.js';
import type { CsrRows, SplitRows } from './formats.js';

/** A segment length: a power of two from 4 (one pass of the long-row schedule's unroll) to 2^20. */
export function whySegLenInvalid(segLen: number): string | null {
  const pow2 = Number.isInteger(segLen) && segLen >= 4 && segLen <= 2 ** 20 && (segLen & (segLen - 1)) === 0;
  return pow2 ? null : `sparse: the segment length must be a power of two in 4..2^20, got ${segLen}`;
}

/**
 * `rows` (already in CSR form over their own entries) cut into segments of ≤ `segLen` entries:
 * row r of length L gets n = ⌈L / segLen⌉ segments, the q-th starting at ⌊q·L / n⌋, so segment
 * lengths differ by at most one and the longest is ⌈L / n⌉ ≤ segLen.
 */
export function splitRows(rows: CsrRows, segLen: number): SplitRows {
  const why = whySegLenInvalid(segLen);
  if (why) throw new Error(why);
  const n = rows.rowIds.length;
  const rowSegs = new Int32Array(n + 1);
  for (let r = 0; r < n; r++) {
    const len = rows.indptr[r + 1]! - rows.indptr[r]!;
    rowSegs[r + 1] = rowSegs[r]! + Math.max(1, Math.ceil(len / segLen));
  }
  const segPtr = new Int32Array(rowSegs[n]! + 1);
  for (let r = 0; r < n; r++) {
    const lo = rows.indptr[r]!;
    const len = rows.indptr[r + 1]! - lo;
    const segs = rowSegs[r + 1]! - rowSegs[r]!;
    for (let q = 0; q < segs; q++) segPtr[rowSegs[r]! + q] = lo + Math.floor((q * len) / segs);
  }
  segPtr[rowSegs[n]!] = rows.indptr[n]!;
  return { ...rows, segLen, segPtr, rowSegs };
}

/** The dimension names of the split part: its segments, rows, and where its arrays start. */
export const SPLIT_DIMS = {
  segs: 'sgsegs',
  rows: 'sgrows',
  ids: 'sgids',
  segPtr: 'sgptr',
  rowSegs: 'sgrseg',
  cols: 'sgcols',
  vals: 'sgvals',
} as const;

const v = pvar;
const add = (a: PExpr, b: PExpr) => bin('+', a, b);
const d = (w: keyof typeof SPLIT_DIMS) => v(SPLIT_DIMS[w]);
const X = { name: 'x', dtype: 'f32' as const, shape: dims('k', 'f') };
const Y = { name: 'y', dtype: 'f32' as const, shape: dims('m', 'f') };
/** Partial rows, one per segment. */
const PARTIALS = { name: 'part', dtype: 'f32' as const, shape: dims(SPLIT_DIMS.segs, 'f') };
const IDX = { name: 'idx', dtype: 'i32' as const, shape: dims('ni') };

/** `for i < hi: setup; for c < f { acc = 0; entries; out[at, c] = acc }`: the SpMM nest's shape. */
function nest(hi: PExpr, setup: readonly Stmt[], entries: readonly Stmt[], out: string, at: PExpr): Stmt {
  return forLoop('i', int(0), hi, [
    ...setup,
    forLoop('c', int(0), v('f'), [varS('acc', flt(0)), ...entries, store(out, [at, v('c')], v('acc'))]),
  ]);
}

/**
 * The segments' pass: segment i sums its entries into part[i, ·]. Its outputs list y first (it
 * writes only `part`), so that fused with the other parts the bindings are (…, y, part).
 */
export function splitSegmentNest(): LoopProgram {
  const entry = (at: PExpr) => add(d('cols'), at);
  return {
    name: 'spmm_hyb_split_segments',
    inputs: [IDX, { name: 'vals', dtype: 'f32', shape: dims('nv') }, X],
    outputs: [Y, PARTIALS],
    body: [
      nest(
        d('segs'),
        [
          letS('lo', indexLoad('idx', [add(d('segPtr'), v('i'))])),
          letS('hi', indexLoad('idx', [add(add(d('segPtr'), v('i')), int(1))])),
        ],
        [
          forLoop('e', v('lo'), v('hi'), [
            assign(
              'acc',
              add(
                v('acc'),
                bin(
                  '*',
                  load('vals', [add(d('vals'), v('e'))]),
                  load('x', [indexLoad('idx', [entry(v('e'))]), v('c')]),
                ),
              ),
            ),
          ]),
        ],
        'part',
        v('i'),
      ),
    ],
  };
}

/** The reduction pass: split row i's partials summed in segment order into y[row, ·]. */
export function splitReduceNest(): LoopProgram {
  return {
    name: 'spmm_hyb_split_reduce',
    inputs: [IDX, PARTIALS],
    outputs: [Y],
    body: [
      nest(
        d('rows'),
        [
          letS('row', indexLoad('idx', [add(d('ids'), v('i'))])),
          letS('lo', indexLoad('idx', [add(d('rowSegs'), v('i'))])),
          letS('hi', indexLoad('idx', [add(add(d('rowSegs'), v('i')), int(1))])),
        ],
        [forLoop('e', v('lo'), v('hi'), [assign('acc', add(v('acc'), load('part', [v('e'), v('c')])))])],
        'y',
        v('row'),
      ),
    ],
  };
}
