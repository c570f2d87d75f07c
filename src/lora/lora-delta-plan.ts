/**
 * How the WebGPU `lora_delta` kernel runs a call (its dispatches, each one schedule over some
 * members) and the bytes of A and B that plan reads for given row slots and ranks. The kernel
 * encodes exactly this plan (lora-delta-kernel.ts), so what a test counts here is what runs.
 *
 * Schedules:
 * - `tiled` (decode rows, small A): a workgroup per row and 256-column tile, each recomputing the
 *   row's whole shrink (A read once per tile, from the cache after the first);
 * - `member` (more rows than DECODE_ROWS): a workgroup per row and member, A and B read once per row;
 * - `chunked` (decode rows, large A: lora-delta-chunked.ts): a workgroup per row, tile and chunk of
 *   eight ranks, the tile's chunks summed by the last to finish.
 * Every schedule reads a row's slot only, and only its first `rank` rows of A and columns of B: a
 * step reads the adapters its rows name, never the other slots of the stacks.
 */
import type { TensorDesc } from '../backends/backend.js';
import type { Capabilities } from '../backends/webgpu/capabilities.js';
import { bytesPerElement } from '../tensor/dtype.js';
import { type LoraDeltaAttrs, type LoraDeltaGeometry, loraDeltaGeometry } from './lora-delta.js';
import { CHUNK_WG, CHUNKED_BYTES } from './lora-delta-chunked.js';

/** Rows up to which a tile is 256 columns (decode); above it, a whole member. */
export const DECODE_ROWS = 16;
/** Columns of a `tiled` workgroup. */
export const TILE = 256;

export type LoraDeltaSchedule = 'tiled' | 'member' | 'chunked';

export interface LoraDeltaDispatchPlan {
  readonly schedule: LoraDeltaSchedule;
  /** The members (indices into the call's) this dispatch computes. */
  readonly members: readonly number[];
  /** Its geometry: the call's with only these members' widths. */
  readonly g: LoraDeltaGeometry;
}

/** Members per dispatch within the device's storage bindings (each adds A, B, rank and its output; chunked adds its scratch). */
export function membersPerDispatch(
  caps: Pick<Capabilities, 'maxStorageBuffersPerShaderStage'>,
  normed: boolean,
  chunked: boolean,
): number {
  return Math.floor((caps.maxStorageBuffersPerShaderStage - (normed ? 4 : 3) - (chunked ? 1 : 0)) / 4);
}

/**
 * The schedule of a call: `member` for more rows than DECODE_ROWS; for decode rows whose slot A
 * passes CHUNKED_BYTES, `chunked` unless its extra binding would cost a dispatch more than `tiled`
 * (Q/K/V's three normalised members need 17 bindings chunked, 16 tiled: at a 16-binding limit the
 * one-SM stream of a rank-64 f16 A, 512 KiB at K = 4096, is taken over a second launch).
 */
function scheduleOf(
  caps: Pick<Capabilities, 'maxStorageBuffersPerShaderStage'>,
  g: LoraDeltaGeometry,
): LoraDeltaSchedule {
  if (g.n > DECODE_ROWS) return 'member';
  if (g.k * g.rmax * bytesPerElement(g.weight) <= CHUNKED_BYTES) return 'tiled';
  const normed = g.normDtype !== undefined;
  const chunked = membersPerDispatch(caps, normed, true);
  const dispatches = (per: number) => Math.ceil(g.widths.length / per);
  return chunked >= 1 && dispatches(chunked) <= dispatches(membersPerDispatch(caps, normed, false))
    ? 'chunked'
    : 'tiled';
}

export function loraDeltaPlan(
  caps: Pick<Capabilities, 'maxStorageBuffersPerShaderStage'>,
  attrs: LoraDeltaAttrs,
  inputs: readonly TensorDesc[],
): LoraDeltaDispatchPlan[] {
  const whole = loraDeltaGeometry(attrs, inputs);
  if (whole.n === 0) return [];
  const schedule = scheduleOf(caps, whole);
  const per = membersPerDispatch(caps, whole.normDtype !== undefined, schedule === 'chunked');
  const plan: LoraDeltaDispatchPlan[] = [];
  for (let first = 0; first < attrs.count; first += per) {
    const members = Array.from({ length: Math.min(per, attrs.count - first) }, (_, j) => first + j);
    plan.push({ schedule, members, g: { ...whole, widths: members.map((i) => whole.widths[i]!) } });
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
      const seen = new Set<number>();
      for (let row = 0; row < g.n; row++) {
        const s = rowSlots[row]!;
        const r = s >= 0 && s < g.slots ? Math.min(Math.max(ranks[m]![s]!, 0), g.rmax) : 0;
        if (r === 0) continue;
        if (!seen.has(s)) distinct += r * (g.k + N) * e;
        seen.add(s);
        // tiled and chunked: every tile reads the row's A (chunked: each chunk its ranks of it); B once
        const tiles = d.schedule === 'member' ? 1 : Math.ceil(N / (d.schedule === 'tiled' ? TILE : CHUNK_WG));
        loaded += (tiles * r * g.k + r * N) * e;
      }
    });
  }
  return { distinct, loaded };
}
