/**
 * SpMM lowered to loop nests (`src/ir/tir/loop-nest.ts`), one per format, by the kinds of its axes:
 *
 * - a dense-fixed row axis is the loop `i ∈ [0, m)`;
 * - a sparse-variable axis (CSR's and BSR's columns) a loop over [indptr[i], indptr[i+1]);
 * - a sparse-fixed axis (ELL) a loop of constant trip count `w` that breaks at the first padding;
 * - BSR's dense-fixed inner block axis a loop of the block size (stopping at column k);
 * - COO's rows are segmented: each row finds its run of the sorted row array by binary search.
 *
 * Every nest has the same shape — rows `i`, per-row setup, features `c`, the sparse loop
 * accumulating into `acc`, the store — so one schedule (`spmm-schedule.ts`) applies to all. The
 * hybrid is its parts' nests, each over its own rows, fused horizontally after scheduling.
 *
 * Dimensions: m rows, k columns, f features, nnz stored entries (COO/CSR), w the ELL width, nb BSR
 * blocks; hybrid parts read dimensions `p<n>rows`, `p<n>ids`, `p<n>cols`, `p<n>vals`, `p<n>ptr`.
 */
import { sym } from '../ir/sym/sym.js';
import { type PExpr, bin, flt, indexLoad, int, load, pvar } from '../ir/tir/program.js';
import {
  type LoopProgram,
  type Stmt,
  assign,
  breakS,
  dims,
  forLoop,
  ifS,
  letS,
  store,
  varS,
  whileLoop,
} from '../ir/tir/loop-nest.js';
import type { HybLayout } from './device-layout.js';

const v = pvar;
const add = (a: PExpr, b: PExpr) => bin('+', a, b);
const mul = (a: PExpr, b: PExpr) => bin('*', a, b);
const X = { name: 'x', dtype: 'f32' as const, shape: dims('k', 'f') };
const Y = { name: 'y', dtype: 'f32' as const, shape: dims('m', 'f') };

/** `acc += val · x[col, c]`: one stored entry's contribution. */
const accumulate = (col: PExpr, val: PExpr): Stmt => assign('acc', add(v('acc'), mul(val, load('x', [col, v('c')]))));

/**
 * The common nest: for each row `i`, `setup`, then for each feature `c` the sparse loop over the
 * row's entries (built by `entries` from `accumulate`) and the store into y[`row`, c].
 */
function rowNest(setup: readonly Stmt[], entries: readonly Stmt[], rowsHi: PExpr, row: PExpr = v('i')): Stmt {
  return forLoop('i', int(0), rowsHi, [
    ...setup,
    forLoop('c', int(0), v('f'), [varS('acc', flt(0)), ...entries, store('y', [row, v('c')], v('acc'))]),
  ]);
}

export function csrSpmmNest(): LoopProgram {
  return {
    name: 'spmm_csr',
    inputs: [
      { name: 'indptr', dtype: 'i32', shape: [sym('m').add(1)] },
      { name: 'indices', dtype: 'i32', shape: dims('nnz') },
      { name: 'vals', dtype: 'f32', shape: dims('nnz') },
      X,
    ],
    outputs: [Y],
    body: [
      rowNest(
        [letS('lo', indexLoad('indptr', [v('i')])), letS('hi', indexLoad('indptr', [add(v('i'), int(1))]))],
        [forLoop('e', v('lo'), v('hi'), [accumulate(indexLoad('indices', [v('e')]), load('vals', [v('e')]))])],
        v('m'),
      ),
    ],
  };
}

/** The sparse-fixed axis: `w` slots per row, real entries first, padding (column < 0) ends the row. */
const ellSlots = (colAt: (s: PExpr) => PExpr, valAt: (s: PExpr) => PExpr, width: PExpr): Stmt =>
  forLoop('s', int(0), width, [
    letS('col', colAt(v('s'))),
    ifS(bin('<', v('col'), int(0)), [breakS]),
    accumulate(v('col'), valAt(v('s'))),
  ]);

export function ellSpmmNest(): LoopProgram {
  return {
    name: 'spmm_ell',
    inputs: [
      { name: 'cols', dtype: 'i32', shape: dims('m', 'w') },
      { name: 'vals', dtype: 'f32', shape: dims('m', 'w') },
      X,
    ],
    outputs: [Y],
    body: [
      rowNest(
        [],
        [
          ellSlots(
            (s) => indexLoad('cols', [v('i'), s]),
            (s) => load('vals', [v('i'), s]),
            v('w'),
          ),
        ],
        v('m'),
      ),
    ],
  };
}

export function bsrSpmmNest(block: number): LoopProgram {
  const B = int(block);
  return {
    name: `spmm_bsr${block}`,
    inputs: [
      {
        name: 'indptr',
        dtype: 'i32',
        shape: [
          sym('m')
            .add(block - 1)
            .floorDiv(block)
            .add(1),
        ],
      },
      { name: 'indices', dtype: 'i32', shape: dims('nb') },
      { name: 'blocks', dtype: 'f32', shape: dims('nb', block, block) },
      X,
    ],
    outputs: [Y],
    body: [
      rowNest(
        [
          letS('br', bin('floordiv', v('i'), B)),
          letS('ii', bin('floormod', v('i'), B)),
          letS('lo', indexLoad('indptr', [v('br')])),
          letS('hi', indexLoad('indptr', [add(v('br'), int(1))])),
        ],
        [
          forLoop('s', v('lo'), v('hi'), [
            letS('c0', mul(indexLoad('indices', [v('s')]), B)),
            forLoop('jj', int(0), B, [
              letS('col', add(v('c0'), v('jj'))),
              // the last block column may run past k: its padding is not in x
              ifS(bin('<=', v('k'), v('col')), [breakS]),
              accumulate(v('col'), load('blocks', [v('s'), v('ii'), v('jj')])),
            ]),
          ]),
        ],
        v('m'),
      ),
    ],
  };
}

export function cooSpmmNest(): LoopProgram {
  return {
    name: 'spmm_coo',
    inputs: [
      { name: 'rows', dtype: 'i32', shape: dims('nnz') },
      { name: 'cols', dtype: 'i32', shape: dims('nnz') },
      { name: 'vals', dtype: 'f32', shape: dims('nnz') },
      X,
    ],
    outputs: [Y],
    body: [
      rowNest(
        [
          // the row's segment starts at the first entry whose row is not below i
          varS('lo', int(0)),
          varS('hi', v('nnz')),
          whileLoop(bin('<', v('lo'), v('hi')), [
            letS('mid', bin('floordiv', add(v('lo'), v('hi')), int(2))),
            ifS(
              bin('<', indexLoad('rows', [v('mid')]), v('i')),
              [assign('lo', add(v('mid'), int(1)))],
              [assign('hi', v('mid'))],
            ),
          ]),
        ],
        [
          forLoop('e', v('lo'), v('nnz'), [
            ifS(bin('<', v('i'), indexLoad('rows', [v('e')])), [breakS]),
            accumulate(indexLoad('cols', [v('e')]), load('vals', [v('e')])),
          ]),
        ],
        v('m'),
      ),
    ],
  };
}

/** The dimension names of hybrid part `n`. */
export const hybPartDim = (n: number, what: 'rows' | 'ids' | 'cols' | 'vals' | 'ptr') => `p${n}${what}`;

/**
 * One part of a packed hybrid (`device-layout.ts`): its rows are `idx[ids + r]`; an ELL bucket of
 * constant width, or the CSR remainder (width 0) through its local indptr.
 */
export function hybPartNest(n: number, width: number): LoopProgram {
  const d = (w: Parameters<typeof hybPartDim>[1]) => v(hybPartDim(n, w));
  const W = int(width);
  const rowStart = mul(v('i'), W);
  const entries =
    width > 0
      ? [
          ellSlots(
            (s) => indexLoad('idx', [add(add(d('cols'), rowStart), s)]),
            (s) => load('vals', [add(add(d('vals'), rowStart), s)]),
            W,
          ),
        ]
      : [
          forLoop('e', v('lo'), v('hi'), [
            accumulate(indexLoad('idx', [add(d('cols'), v('e'))]), load('vals', [add(d('vals'), v('e'))])),
          ]),
        ];
  const setup =
    width > 0
      ? []
      : [
          letS('lo', indexLoad('idx', [add(d('ptr'), v('i'))])),
          letS('hi', indexLoad('idx', [add(add(d('ptr'), v('i')), int(1))])),
        ];
  return {
    name: `spmm_hyb_part${n}_${width > 0 ? `ell${width}` : 'csr'}`,
    inputs: [{ name: 'idx', dtype: 'i32', shape: dims('ni') }, { name: 'vals', dtype: 'f32', shape: dims('nv') }, X],
    outputs: [Y],
    body: [rowNest([letS('row', indexLoad('idx', [add(d('ids'), v('i'))])), ...setup], entries, d('rows'), v('row'))],
  };
}

/** The dimension values of a hybrid's parts. */
export function hybPartDims(layout: HybLayout): Record<string, number> {
  const env: Record<string, number> = {};
  layout.parts.forEach((p, n) => {
    env[hybPartDim(n, 'rows')] = p.rows;
    env[hybPartDim(n, 'ids')] = p.rowIdsAt;
    env[hybPartDim(n, 'cols')] = p.colsAt;
    env[hybPartDim(n, 'vals')] = p.valsAt;
    env[hybPartDim(n, 'ptr')] = p.indptrAt;
  });
  return env;
}
