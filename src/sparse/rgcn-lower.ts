/**
 * RGCN aggregation lowered to a loop nest: Y [m, fout] = Σ_r A_r · X · W_r over one CSR whose
 * entries carry a relation id (rows sorted by relation, `hetero.ts`). For an output (i, c) the
 * row's entries are walked one relation segment at a time — a maximal run of one relation r —
 * summing v·x[j, q] over the segment before multiplying by W_r[q, c], so W is read once per
 * (segment, q), not once per entry:
 *
 *   for i, c:  for each segment [e, se) of row i with relation r:
 *                for q: acc += (Σ_{t ∈ [e, se)} vals[t] · x[indices[t], q]) · w[r, q, c]
 *
 * Any order of a row's entries stays correct (a relation split over runs is more segments). The
 * schedule fuses (i, c) into one index space and splits it over workgroups of `RGCN_WORKGROUP`
 * threads. Dimensions: m, k, nnz, R relations, fin, fout.
 */
import { sym } from '../ir/sym/sym.js';
import {
  type LoopProgram,
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
import { bind, fuse, split } from '../ir/tir/loop-schedule.js';
import { bin, flt, indexLoad, int, load, pvar as v } from '../ir/tir/program.js';

export const RGCN_WORKGROUP = 64;

const add = (a: Parameters<typeof bin>[1], b: Parameters<typeof bin>[2]) => bin('+', a, b);

export function rgcnNest(): LoopProgram {
  return {
    name: 'rgcn_csr',
    inputs: [
      { name: 'indptr', dtype: 'i32', shape: [sym('m').add(1)] },
      { name: 'indices', dtype: 'i32', shape: dims('nnz') },
      { name: 'rel', dtype: 'i32', shape: dims('nnz') },
      { name: 'vals', dtype: 'f32', shape: dims('nnz') },
      { name: 'x', dtype: 'f32', shape: dims('k', 'fin') },
      { name: 'w', dtype: 'f32', shape: dims('R', 'fin', 'fout') },
    ],
    outputs: [{ name: 'y', dtype: 'f32', shape: dims('m', 'fout') }],
    body: [
      forLoop('i', int(0), v('m'), [
        forLoop('c', int(0), v('fout'), [
          letS('end', indexLoad('indptr', [add(v('i'), int(1))])),
          varS('acc', flt(0)),
          varS('e', indexLoad('indptr', [v('i')])),
          whileLoop(bin('<', v('e'), v('end')), [
            letS('r', indexLoad('rel', [v('e')])),
            // the segment: the run of entries with relation r
            varS('se', add(v('e'), int(1))),
            whileLoop(bin('<', v('se'), v('end')), [
              ifS(bin('==', indexLoad('rel', [v('se')]), v('r')), [assign('se', add(v('se'), int(1)))], [breakS]),
            ]),
            forLoop('q', int(0), v('fin'), [
              varS('s', flt(0)),
              forLoop('t', v('e'), v('se'), [
                assign(
                  's',
                  add(v('s'), bin('*', load('vals', [v('t')]), load('x', [indexLoad('indices', [v('t')]), v('q')]))),
                ),
              ]),
              assign('acc', add(v('acc'), bin('*', v('s'), load('w', [v('r'), v('q'), v('c')])))),
            ]),
            assign('e', v('se')),
          ]),
          store('y', [v('i'), v('c')], v('acc')),
        ]),
      ]),
    ],
  };
}

/** A thread per output element: (i, c) fused, split over workgroups. */
export function rgcnProgram(): LoopProgram {
  const p = split(fuse(rgcnNest(), 'i', 'c', 'o'), 'o', RGCN_WORKGROUP, { outer: 'ob', inner: 'oi' });
  return bind(bind(p, 'ob', 'workgroup'), 'oi', 'thread');
}
