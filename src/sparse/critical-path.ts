/**
 * A GPU-free model of an SpMM plan's time: the longest serial chain of any one thread, and the
 * work of all workgroups spread over the workgroups a GPU runs at once. A "step" is one dependent
 * round of loads on a thread: an entry (its column index, then the gathered row of x) in a row
 * loop; one pass of the long-row schedule, whose four entries per thread are independent; one
 * level of a cross-thread sum's tree (the split rows' sum of partials is scheduled as a long row). The model knows
 * nothing about bandwidth or caches: it says whether a plan's time can be set by one long chain
 * (a hub row) or only by the total work, and by how much a decomposition shortens the chain.
 */
import { type FormatSpec, toFormat } from './convert.js';
import { rowLengths } from './coo.js';
import type { Coo, CsrRows, SparseMatrix } from './formats.js';
import { type SpmmSchedule, workgroupSize } from './schedule.js';

/** Entries per thread per pass in the long-row schedule (`LONG_ROW_UNROLL` of `spmm-schedule.ts`). */
const UNROLL = 4;

export interface ChainModel {
  /** The longest chain of steps of one thread, over every dispatch of the plan (in order). */
  readonly chainSteps: number;
  /** Workgroups of all dispatches. */
  readonly workgroups: number;
  /** Σ over workgroups of their longest thread's steps. */
  readonly workSteps: number;
}

/** Steps of the model on a GPU that runs `concurrent` workgroups at once: the chain or the waves. */
export function modelSteps(m: ChainModel, concurrent: number): number {
  return Math.max(m.chainSteps, m.workSteps / concurrent);
}

/**
 * Workgroups of schedule `s` resident at once on an H100 SXM (132 SMs of 2048 threads and at most
 * 32 workgroups each): an assumption of the model, not a measured figure of any device.
 */
export function h100Concurrent(s: SpmmSchedule): number {
  return 132 * Math.min(32, Math.floor(2048 / workgroupSize(s)));
}

class Tally {
  chain = 0;
  wgs = 0;
  work = 0;
  unit(steps: number): void {
    this.chain = Math.max(this.chain, steps);
    this.wgs++;
    this.work += steps;
  }
}

/** Rows of lengths `lens`, `rows` per workgroup, each a thread group walking its row `chunks` times. */
function rowsPerGroup(t: Tally, lens: ArrayLike<number>, rows: number, chunks: number): void {
  for (let g = 0; g < lens.length; g += rows) {
    let longest = 0;
    for (let r = g; r < Math.min(lens.length, g + rows); r++) longest = Math.max(longest, lens[r]!);
    t.unit(longest * chunks);
  }
}

/** A workgroup per row (or segment) of `len` entries: R groups stride over it, then their sum. */
const longRowSteps = (len: number, s: SpmmSchedule, chunks: number) =>
  (Math.ceil(len / (UNROLL * s.rowsPerWorkgroup)) + Math.log2(s.rowsPerWorkgroup)) * chunks;

const csrLens = (c: CsrRows) => Array.from({ length: c.rowIds.length }, (_, r) => c.indptr[r + 1]! - c.indptr[r]!);

/**
 * The model of SpMM of `a` held as `spec` under `s` at `f` features; null for BSR (no model).
 * `held`: `a` already converted to `spec`, to skip converting a large matrix again.
 */
export function spmmChainModel(
  a: Coo,
  spec: FormatSpec,
  s: SpmmSchedule,
  f: number,
  held?: SparseMatrix,
): ChainModel | null {
  const chunks = Math.ceil((s.vec4 ? f / 4 : f) / s.threadsPerRow);
  const t = new Tally();
  switch (spec.kind) {
    case 'csr':
    case 'coo':
    case 'ell':
      rowsPerGroup(t, rowLengths(a), s.rowsPerWorkgroup, chunks);
      break;
    case 'hyb': {
      const h = held ?? toFormat(a, spec);
      if (h.kind !== 'hyb') return null;
      const len = rowLengths(a);
      for (const b of h.buckets)
        rowsPerGroup(
          t,
          Array.from(b.rowIds, (row) => len[row]!),
          s.rowsPerWorkgroup,
          chunks,
        );
      for (const l of csrLens(h.remainder)) t.unit(longRowSteps(l, s, chunks));
      const sp = h.split;
      if (!sp) break;
      for (let q = 0; q + 1 < sp.segPtr.length; q++) t.unit(longRowSteps(sp.segPtr[q + 1]! - sp.segPtr[q]!, s, chunks));
      // the second dispatch starts after the first: its chain adds to the first's
      const reduce = new Tally();
      for (let r = 0; r < sp.rowIds.length; r++)
        reduce.unit(longRowSteps(sp.rowSegs[r + 1]! - sp.rowSegs[r]!, s, chunks));
      return { chainSteps: t.chain + reduce.chain, workgroups: t.wgs + reduce.wgs, workSteps: t.work + reduce.work };
    }
    default:
      return null;
  }
  return { chainSteps: t.chain, workgroups: t.wgs, workSteps: t.work };
}
