/**
 * SDDMM on CSR lowered to a loop nest and scheduled by TIR transformations:
 *
 *   for e ∈ [0, nnz):                      the stored entries (the output's one axis)
 *     i = the row owning e                 binary search: the first i with indptr[i+1] > e
 *     out[e] = Σ_{c ∈ [0, d)} a[i, c] · b[indices[e], c]
 *
 * Schedule: vec4 vectorizes `c` and factors the dot product by the vector lanes (a vec4
 * accumulator, its lanes summed at the end); `lanes` > 1 splits the dot product's chunks over that
 * many threads, moved outside and bound, whose parts the codegen sums across the threads; the
 * entries split into `nnzPerWorkgroup` (thread groups) per workgroup. Searching the row per entry makes empty rows and one
 * huge row cost nothing extra. Dimensions: m, n, d, nnz.
 */
import { sym } from '../ir/sym/sym.js';
import { type LoopProgram, assign, dims, forLoop, ifS, letS, store, varS, whileLoop } from '../ir/tir/loop-nest.js';
import { bind, reorder, rfactor, split, vectorize } from '../ir/tir/loop-schedule.js';
import { bin, flt, indexLoad, int, load, pvar as v } from '../ir/tir/program.js';
import type { SddmmSchedule } from './schedule.js';

const add = (a: Parameters<typeof bin>[1], b: Parameters<typeof bin>[2]) => bin('+', a, b);

export function sddmmNest(): LoopProgram {
  return {
    name: 'sddmm_csr',
    inputs: [
      { name: 'indptr', dtype: 'i32', shape: [sym('m').add(1)] },
      { name: 'indices', dtype: 'i32', shape: dims('nnz') },
      { name: 'a', dtype: 'f32', shape: dims('m', 'd') },
      { name: 'b', dtype: 'f32', shape: dims('n', 'd') },
    ],
    outputs: [{ name: 'out', dtype: 'f32', shape: dims('nnz') }],
    body: [
      forLoop('e', int(0), v('nnz'), [
        varS('lo', int(0)),
        varS('hi', v('m')),
        whileLoop(bin('<', v('lo'), v('hi')), [
          letS('mid', bin('floordiv', add(v('lo'), v('hi')), int(2))),
          ifS(
            bin('<=', indexLoad('indptr', [add(v('mid'), int(1))]), v('e')),
            [assign('lo', add(v('mid'), int(1)))],
            [assign('hi', v('mid'))],
          ),
        ]),
        letS('j', indexLoad('indices', [v('e')])),
        varS('acc', flt(0)),
        forLoop('c', int(0), v('d'), [
          assign('acc', add(v('acc'), bin('*', load('a', [v('lo'), v('c')]), load('b', [v('j'), v('c')])))),
        ]),
        store('out', [v('e')], v('acc')),
      ]),
    ],
  };
}

export function sddmmProgram(s: SddmmSchedule): LoopProgram {
  let p = sddmmNest();
  if (s.vec4) p = vectorize(p, 'c', 'cv', 'cl');
  if (s.lanes > 1) {
    // the dot product's chunks strided over `lanes` threads, summed across them
    p = reorder(split(p, s.vec4 ? 'cv' : 'c', s.lanes, { outer: 'cs', inner: 'ln' }), 'cs', 'ln');
    p = bind(p, 'ln', 'thread');
  }
  // each thread sums its vec4 lanes before any sum across threads
  if (s.vec4) p = rfactor(p, s.lanes > 1 ? 'cs' : 'cv', 'cl');
  p = split(p, 'e', s.nnzPerWorkgroup, { outer: 'eb', inner: 'ei' });
  return bind(bind(p, 'eb', 'workgroup'), 'ei', 'thread');
}

export const sddmmLabel = (s: SddmmSchedule): string =>
  `sddmm_csr.l${s.lanes}n${s.nnzPerWorkgroup}${s.vec4 ? 'v4' : ''}`;
