/**
 * How the WebGPU `lora_delta` kernel runs a call (its dispatches, each one schedule over some
 * members) and the bytes of A and B that plan reads for given row slots and ranks. The kernel
 * encodes exactly this plan (lora-delta-kernel.ts), so what a test counts here is what runs.
 *
 * Schedules:
 * - `sliced` (2 to DECODE_ROWS rows at ranks up to SLICED_MAX_RANK, lora-delta-sliced.ts): a
 *   workgroup per row, tile of 256 columns (512 from 2 rows, 1024 from 4) and slice of K, each computing its slice's part of the row's shrink
 *   and of its tile; a tile's slices summed by the last to finish (A read once per tile, from the
 *   cache after the first);
 * - `segmented` (one row, decode rows at higher ranks, and more rows up to MAX_SEGMENT_ROWS;
 *   lora-delta-segmented.ts): a shrink and an expand dispatch whose workgroups each take up to ROW_TILE rows of one slot, so A
 *   and B are loaded once per ROW_TILE rows of a slot, not once per row;
 * - `wide` (more rows than MAX_SEGMENT_ROWS): the sliced kernel with one slice and tiles of 4096
 *   columns (16 a thread): a workgroup per row and wide tile, the rows themselves giving the
 *   parallelism.
 * Every schedule reads a row's slot only, and only its first `rank` rows of A and columns of B: a
 * step reads the adapters its rows name, never the other slots of the stacks.
 */
import type { TensorDesc } from '../backends/backend.js';
import type { Capabilities } from '../backends/webgpu/capabilities.js';
import { bytesPerElement } from '../tensor/dtype.js';
import { type LoraDeltaAttrs, type LoraDeltaGeometry, loraDeltaGeometry } from './lora-delta.js';
import { MAX_SEGMENT_ROWS, ROW_TILE, SEG_WG, segmentSliceLength } from './lora-delta-segmented.js';
import { SLICED_WG, slicedScratchWords, sliceLength, WIDE_COLS, wholeK } from './lora-delta-sliced.js';

/**
 * The largest slice workspace a call takes (WebGPU guarantees 128 MiB storage bindings): past it,
 * one slice. At the 8B shape the largest is 29 MB (16 rows, gate/up at rank 64).
 */
const MAX_WORKSPACE_BYTES = 64 * 1024 * 1024;

/** Rows up to which the sliced schedule runs (decode); above it, wide tiles of one slice. */
export const DECODE_ROWS = 16;

/**
 * The largest stack rank at which decode rows (2 to DECODE_ROWS) keep the sliced schedule when the
 * call does not say. On the H100 at the 8B shape (docs/notes/2026-12-07-h100-run-6836224.md), a
 * step's LoRA terms took, sliced against segmented: rank 16, 1 row 2.56 / 2.30 ms, 16 rows 6.04 /
 * 7.76 ms; rank 64, 1 row 13.1 / 8.19 ms, 16 rows 128.9 / 34.4 ms. The sliced schedule re-reads a
 * row's A once per output tile, which grows with the rank; the segmented one reads it once per row
 * tile at the cost of a second dispatch, which only pays back at 16 rows once the rank passes 16.
 */
export const SLICED_MAX_RANK = 16;

/**
 * Whether a call of `rows` rows over stacks of rank `rmax` runs the segmented schedule (up to
 * MAX_SEGMENT_ROWS; past it, wide tiles). The `segmentedFromRows` attribute, when set, is the
 * threshold (1: every call); otherwise past DECODE_ROWS, at one row, and at decode rows above
 * SLICED_MAX_RANK.
 */
export function segmentedAt(attrs: LoraDeltaAttrs, rows: number, rmax: number): boolean {
  const v = attrs.segmentedFromRows;
  if (v !== undefined) {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1)
      throw new Error(`lora_delta: segmentedFromRows must be a positive integer, got ${String(v)}`);
    return rows >= v;
  }
  return rows > DECODE_ROWS || rows === 1 || rmax > SLICED_MAX_RANK;
}

export type LoraDeltaSchedule = 'sliced' | 'segmented' | 'wide';

/**
 * Expand workgroups the segmented schedule aims at when every slot's rows fill whole row tiles (one
 * adapter): about two an SM on an H100. Wider tiles than that reach would leave SMs idle.
 */
const SEGMENT_EXPAND_WORKGROUPS = 256;

export interface LoraDeltaDispatchPlan {
  readonly schedule: LoraDeltaSchedule;
  /** The members (indices into the call's) this dispatch computes. */
  readonly members: readonly number[];
  /** Its geometry: the call's with only these members' widths. */
  readonly g: LoraDeltaGeometry;
  /** Slices of K per tile and the length of one (a multiple of 256). */
  readonly slices: number;
  readonly sliceLen: number;
  /** Output columns per thread: a tile is 256 · cols columns. */
  readonly cols: number;
}

/** GPU dispatches a plan entry encodes: the segmented schedule's shrink and expand, else one. */
export const dispatchesOf = (d: LoraDeltaDispatchPlan) => (d.schedule === 'segmented' ? 2 : 1);

/**
 * Members per segmented dispatch pair: the shrink binds x, [nw], the row slots, A and rank per
 * member and the workspace; the expand the row slots, scale, B, rank and output per member and the
 * workspace.
 */
export function segmentMembersPerDispatch(
  caps: Pick<Capabilities, 'maxStorageBuffersPerShaderStage'>,
  normed: boolean,
): number {
  const limit = caps.maxStorageBuffersPerShaderStage;
  return Math.min(Math.floor((limit - (normed ? 3 : 2) - 1) / 2), Math.floor((limit - 3) / 3));
}

/** Members per dispatch within the device's storage bindings (each adds A, B, rank and its output; a sliced schedule of several slices adds its workspace). */
export function membersPerDispatch(
  caps: Pick<Capabilities, 'maxStorageBuffersPerShaderStage'>,
  normed: boolean,
  workspace: boolean,
): number {
  return Math.floor((caps.maxStorageBuffersPerShaderStage - (normed ? 4 : 3) - (workspace ? 1 : 0)) / 4);
}

/**
 * The schedule and slicing of a call: `segmented` where segmentedAt says so, up to MAX_SEGMENT_ROWS,
 * `wide` past them (or past DECODE_ROWS); else `sliced`, in
 * slices of sliceLength(g) whenever the workspace fits, even where its binding costs a dispatch
 * more (Q/K/V's three normalised members take 17 bindings with it, 16 without: at a 16-binding
 * limit they go out as two dispatches). One slice of the whole K leaves Q/K/V 24 workgroups at
 * batch 1 that each walk K = 4096 serially: 76 µs a layer on the H100, where the sliced o (64
 * workgroups) took 8 µs — a second dispatch costs a few µs, the serial walk tens.
 */
function scheduleOf(
  caps: Pick<Capabilities, 'maxStorageBuffersPerShaderStage'>,
  g: LoraDeltaGeometry,
  segmented: boolean,
): { schedule: LoraDeltaSchedule; slices: number; sliceLen: number; cols: number } {
  if (segmented && g.n <= MAX_SEGMENT_ROWS) {
    const sliceLen = segmentSliceLength(g.k);
    // the widest tiles (least re-reading of v) that still give enough workgroups at one adapter
    const chunks = Math.ceil(g.n / ROW_TILE);
    const tilesAt = (cols: number) => g.widths.reduce((s, N) => s + Math.ceil(N / (SEG_WG * cols)), 0);
    let cols = 1;
    for (const c of [2, 4, 8, 16]) if (tilesAt(c) * chunks >= SEGMENT_EXPAND_WORKGROUPS) cols = c;
    return { schedule: 'segmented', slices: Math.ceil(g.k / sliceLen), sliceLen, cols };
  }
  if (g.n > DECODE_ROWS) {
    // columns a thread: the widest member's, up to WIDE_COLS, past 4 in the kernel's groups of 4
    const need = Math.ceil(Math.max(...g.widths) / SLICED_WG);
    const cols = need <= 4 ? need : Math.min(WIDE_COLS, Math.ceil(need / 4) * 4);
    return { schedule: 'wide', slices: 1, sliceLen: wholeK(g.k), cols };
  }
  const sliceLen = sliceLength(g);
  const slices = Math.ceil(g.k / sliceLen);
  // a row's tiles each read its whole A: with more rows, wider tiles keep those reads near one a SM
  const cols = g.n <= 1 ? 1 : g.n <= 3 ? 2 : 4;
  const normed = g.normDtype !== undefined;
  if (
    slices > 1 &&
    slicedScratchWords(g, slices, cols) * 4 <= MAX_WORKSPACE_BYTES &&
    membersPerDispatch(caps, normed, true) >= 1
  )
    return { schedule: 'sliced', slices, sliceLen, cols };
  return { schedule: 'sliced', slices: 1, sliceLen: wholeK(g.k), cols };
}

export function loraDeltaPlan(
  caps: Pick<Capabilities, 'maxStorageBuffersPerShaderStage'>,
  attrs: LoraDeltaAttrs,
  inputs: readonly TensorDesc[],
): LoraDeltaDispatchPlan[] {
  const whole = loraDeltaGeometry(attrs, inputs);
  if (whole.n === 0) return [];
  const { schedule, slices, sliceLen, cols } = scheduleOf(caps, whole, segmentedAt(attrs, whole.n, whole.rmax));
  const normed = whole.normDtype !== undefined;
  const per =
    schedule === 'segmented' ? segmentMembersPerDispatch(caps, normed) : membersPerDispatch(caps, normed, slices > 1);
  const plan: LoraDeltaDispatchPlan[] = [];
  for (let first = 0; first < attrs.count; first += per) {
    const members = Array.from({ length: Math.min(per, attrs.count - first) }, (_, j) => first + j);
    plan.push({
      schedule,
      members,
      g: { ...whole, widths: members.map((i) => whole.widths[i]!) },
      slices,
      sliceLen,
      cols,
    });
  }
  return plan;
}

export interface LoraDeltaReads {
  /** Bytes of A and B of the distinct (slot, member) pairs the rows name, up to each slot's rank: what must come from memory. */
  readonly distinct: number;
  /** Bytes of A and B the plan's workgroups load, repeats included (served by the cache where they repeat). */
  readonly loaded: number;
}

/**
 * The A/B bytes `plan` reads for rows of slots `rowSlots` (−1: none), `ranks[member][slot]` the
 * rank of each slot in each member (as the kernel clamps it: to [0, rmax]).
 */
export function loraDeltaReads(
  plan: readonly LoraDeltaDispatchPlan[],
  rowSlots: ArrayLike<number>,
  ranks: readonly ArrayLike<number>[],
): LoraDeltaReads {
  let distinct = 0;
  let loaded = 0;
  for (const d of plan) {
    const { g } = d;
    const e = bytesPerElement(g.weight);
    d.members.forEach((m, i) => {
      const N = g.widths[i]!;
      // rows of each slot the rows name, and the slot's rank in this member
      const rowsOf = new Map<number, number>();
      for (let row = 0; row < g.n; row++) {
        const s = rowSlots[row]!;
        const r = s >= 0 && s < g.slots ? Math.min(Math.max(ranks[m]![s]!, 0), g.rmax) : 0;
        if (r > 0) rowsOf.set(s, (rowsOf.get(s) ?? 0) + 1);
      }
      for (const [s, count] of rowsOf) {
        const r = Math.min(Math.max(ranks[m]![s]!, 0), g.rmax);
        distinct += r * (g.k + N) * e;
        if (d.schedule === 'segmented') {
          // each row tile of the slot: its shrink's slices read A once, its expand's tiles B once
          loaded += Math.ceil(count / ROW_TILE) * r * (g.k + N) * e;
        } else {
          // every tile reads a row's A (its slices between them), every slice the tile's B
          const tiles = Math.ceil(N / (SLICED_WG * d.cols));
          loaded += count * (tiles * r * g.k + d.slices * r * N) * e;
        }
      }
    });
  }
  return { distinct, loaded };
}
