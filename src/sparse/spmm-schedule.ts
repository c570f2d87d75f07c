/**
 * An `SpmmSchedule` as transformations of a lowered SpMM nest (`spmm-lower.ts`), and the scheduled
 * program of each `spmm_*` op:
 *
 * 1. vec4: split the feature loop `c` by 4 exactly and bind the lanes to a vector;
 * 2. threads per row T: split the (vector) feature loop by T, move the T part outside, bind it to
 *    threads — each thread owns every T-th feature, so a row's indices are read once per thread;
 * 3. rows per workgroup R: split the row loop `i` by R, bind the outer part to workgroups and the
 *    inner to threads (workgroup size R·T).
 *
 * The hybrid schedules each part (its CSR remainder, the long rows, with a whole workgroup per
 * row whose thread groups split the row's entries; its split rows' segments the same way, a
 * workgroup per segment) and fuses them horizontally: one dispatch, the parts in consecutive
 * workgroup ranges, the segments' and long rows' first. Split rows are finished by a second
 * dispatch that sums their segments' partial rows (`row-split.ts`), a workgroup per row.
 */
import type { LoopProgram } from '../ir/tir/loop-nest.js';
import { bind, fuseHorizontal, reorder, split, vectorize } from '../ir/tir/loop-schedule.js';
import type { TensorDesc } from '../backends/backend.js';
import type { HybLayout, SpmmOpName } from './device-layout.js';
import type { SpmmAttrs } from './ops.js';
import type { SpmmSchedule } from './schedule.js';
import { SPLIT_DIMS, splitReduceNest, splitSegmentNest } from './row-split.js';
import { bsrSpmmNest, cooSpmmNest, csrSpmmNest, ellSpmmNest, hybPartDims, hybPartNest } from './spmm-lower.js';

/**
 * The features (as vec4 where the schedule says so) split over the schedule's threads per row, `t`
 * bound to threads; `threadsInnermost` moves the threads inside the features' outer loop.
 */
function splitFeatures(p: LoopProgram, s: SpmmSchedule, threadsInnermost: boolean): LoopProgram {
  let q = p;
  let feature = 'c';
  if (s.vec4) {
    q = vectorize(q, 'c', 'cv', 'cl');
    feature = 'cv';
  }
  q = split(q, feature, s.threadsPerRow, { outer: 'cs', inner: 't' });
  if (threadsInnermost) q = reorder(q, 'cs', 't');
  return bind(q, 't', 'thread');
}

export function scheduleSpmmNest(p: LoopProgram, s: SpmmSchedule): LoopProgram {
  let q = splitFeatures(p, s, true);
  q = split(q, 'i', s.rowsPerWorkgroup, { outer: 'ib', inner: 'ir' });
  q = bind(q, 'ib', 'workgroup');
  return bind(q, 'ir', 'thread');
}

/** Entries of a long row each thread loads per pass (`scheduleLongRowNest`). */
const LONG_ROW_UNROLL = 4;

/**
 * The hybrid's CSR remainder: its long rows (on a power-law graph a few of thousands of entries)
 * each take a workgroup; the T threads of the schedule split the features as in the buckets, and
 * the R thread groups stride over the row's entries, their parts summed across the groups. With
 * the features alone split, the longest row was one chain of dependent loads on T threads and
 * set the time of the whole dispatch. The feature loop stays outside its threads (no reorder):
 * the cross-group sum's barriers sit inside it, so its bound must be the same for every thread.
 */
export function scheduleLongRowNest(p: LoopProgram, s: SpmmSchedule): LoopProgram {
  let q = splitFeatures(p, s, false);
  q = split(q, 'e', s.rowsPerWorkgroup, { outer: 'es', inner: 'eg' });
  q = reorder(q, 'es', 'eg');
  q = bind(q, 'eg', 'thread');
  // four entries per pass in a loop of constant trip count, which the driver's compiler unrolls:
  // their loads are independent, so four gathers are in flight instead of one
  q = split(q, 'es', LONG_ROW_UNROLL, { outer: 'eso', inner: 'eu' });
  q = split(q, 'i', 1, { outer: 'ib', inner: 'ir' });
  q = bind(q, 'ib', 'workgroup');
  return bind(q, 'ir', 'thread');
}

/** Each hybrid part scheduled: ELL buckets by the schedule, the CSR remainder a workgroup per row. */
export function scheduleHybPart(n: number, width: number, s: SpmmSchedule): LoopProgram {
  const nest = hybPartNest(n, width);
  return width > 0 ? scheduleSpmmNest(nest, s) : scheduleLongRowNest(nest, s);
}

/**
 * The parts fused with the CSR remainder's workgroups first: its long rows are the longest
 * chains of the dispatch, and a GPU starts workgroups roughly in the order of their ids, so the
 * short rows' work fills the machine around them instead of leaving them to run alone at the end.
 */
export function hybSpmmProgram(layout: HybLayout, s: SpmmSchedule): LoopProgram {
  const parts = layout.parts.map((p, n) => scheduleHybPart(n, p.width, s));
  const widths = layout.parts.map((p) => p.width).join('-');
  const segments = layout.split ? [scheduleLongRowNest(splitSegmentNest(), s)] : [];
  // an all-empty matrix: a part of no rows
  if (parts.length + segments.length === 0) return scheduleSpmmNest(hybPartNest(0, 1), s);
  const longFirst = [
    ...segments,
    ...parts.filter((_, n) => layout.parts[n]!.width === 0),
    ...parts.filter((_, n) => layout.parts[n]!.width > 0),
  ];
  return fuseHorizontal(`spmm_hyb_${widths}${layout.split ? '_split' : ''}`, longFirst);
}

/**
 * The second pass of a hybrid with split rows: each split row's partials summed into y, a
 * workgroup per row whose thread groups stride over its segments (a hub of 15753 entries in
 * segments of 256 has 62 partials: one thread group would walk them in a chain again).
 */
export function hybSplitReduceProgram(s: SpmmSchedule): LoopProgram {
  return scheduleLongRowNest(splitReduceNest(), s);
}

export const splitReduceLabel = (s: SpmmSchedule): string =>
  `spmm_hyb_split_reduce.t${s.threadsPerRow}r${s.rowsPerWorkgroup}${s.vec4 ? 'v4' : ''}`;

/** The shader label of an `spmm_*` op's program: one per distinct program. */
export function spmmLabel(op: SpmmOpName, attrs: SpmmAttrs): string {
  const s = attrs.schedule;
  const sn = `t${s.threadsPerRow}r${s.rowsPerWorkgroup}${s.vec4 ? 'v4' : ''}`;
  if (op === 'spmm_bsr') return `spmm_bsr.b${attrs.block}.${sn}`;
  if (op === 'spmm_hyb') {
    const l = attrs.layout!;
    return `spmm_hyb.w${l.parts.map((p) => p.width).join('-')}${l.split ? '.split' : ''}.${sn}`;
  }
  return `${op}.${sn}`;
}

/** The scheduled loop program of an `spmm_*` op. */
export function spmmProgram(op: SpmmOpName, attrs: SpmmAttrs): LoopProgram {
  const s = attrs.schedule;
  switch (op) {
    case 'spmm_csr':
      return scheduleSpmmNest(csrSpmmNest(), s);
    case 'spmm_coo':
      return scheduleSpmmNest(cooSpmmNest(), s);
    case 'spmm_ell':
      return scheduleSpmmNest(ellSpmmNest(), s);
    case 'spmm_bsr':
      return scheduleSpmmNest(bsrSpmmNest(attrs.block!), s);
    case 'spmm_hyb':
      return hybSpmmProgram(attrs.layout!, s);
  }
}

/** The dimension values of one launch, from the op's inputs (the sparse arrays, then x). */
export function spmmEnv(
  op: SpmmOpName,
  attrs: SpmmAttrs,
  inputs: readonly TensorDesc[],
  m: number,
): Record<string, number> {
  const x = inputs[inputs.length - 1]!;
  const env: Record<string, number> = { m, k: x.shape[0]!, f: x.shape[1]! };
  switch (op) {
    case 'spmm_csr':
    case 'spmm_coo':
      env.nnz = inputs[1]!.shape[0]!;
      break;
    case 'spmm_ell':
      env.w = inputs[0]!.shape[1]!;
      break;
    case 'spmm_bsr':
      env.nb = inputs[1]!.shape[0]!;
      break;
    case 'spmm_hyb': {
      const l = attrs.layout!;
      Object.assign(env, hybPartDims(l), { ni: inputs[0]!.shape[0]!, nv: inputs[1]!.shape[0]! });
      if (l.parts.length === 0 && !l.split) Object.assign(env, { p0rows: 0, p0ids: 0, p0cols: 0, p0vals: 0 });
      const sp = l.split;
      if (sp)
        Object.assign(env, {
          [SPLIT_DIMS.segs]: sp.segs,
          [SPLIT_DIMS.rows]: sp.rows,
          [SPLIT_DIMS.ids]: sp.rowIdsAt,
          [SPLIT_DIMS.segPtr]: sp.segPtrAt,
          [SPLIT_DIMS.rowSegs]: sp.rowSegsAt,
          [SPLIT_DIMS.cols]: sp.colsAt,
          [SPLIT_DIMS.vals]: sp.valsAt,
        });
      break;
    }
  }
  return env;
}
