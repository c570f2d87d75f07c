/**
 * `lora_delta` in one dispatch for decode rows whose shrink is large (A past CHUNKED_BYTES): the
 * plain kernel (lora-delta-kernel.ts) recomputes a row's whole shrink in every tile, each time
 * streaming the slot's A [r, K] through one workgroup, which a single SM reads at a fraction of the
 * device's bandwidth (a rank-64 f16 A at K = 14336 is 1.8 MB). Here a workgroup owns one row, one
 * tile of a member's columns and one chunk of eight ranks: it computes those ranks of v from eight
 * rows of A and their part of the tile, Σ_{r in chunk} v_r·B[c, r]. The chunks of a tile meet
 * through a workspace buffer: each stores its part and counts itself in the tile's counter, and the
 * last of them sums the parts in chunk order (so the result does not depend on which finished
 * last), scales it and writes d. Chunks past the row's rank return at once; a row whose rank fits
 * one chunk writes d directly; a row with no adapter has its zeros written by chunk 0.
 *
 * The parts and counters are atomics, written with read-modify-writes (which complete at the
 * device's point of coherence before the workgroup passes its barrier) and read with atomic loads,
 * so the last chunk reads what the others stored. The last one resets its counter, so the buffer
 * is zero again for the next run (chunk-workspace.ts keeps one such buffer per size). Nothing waits on
 * another workgroup: no schedule can deadlock.
 */
import type { Capabilities } from '../backends/webgpu/capabilities.js';
import { uniformDecl } from '../kernels/wgsl-dtype.js';
import type { LoraDeltaGeometry } from './lora-delta.js';
import {
  loraDeltaBindings,
  loraDeltaEnables,
  memberAccessorsWgsl,
  ROW_RANK_WGSL,
  rmsScaleWgsl,
  segmentWalkWgsl,
  shrinkPassWgsl,
} from './lora-delta-wgsl.js';

export const CHUNK_WG = 256;
/** Ranks per chunk (the shrink's 256 lanes: eight ranks of 32 lanes). */
export const CHUNK_RANKS = 8;
const LANES = CHUNK_WG / CHUNK_RANKS;
/**
 * Bytes of one slot's A above which decode rows take the chunked schedule: 256 KiB, a rank-16 f32
 * (or rank-32 f16) A at K = 4096, which one workgroup streams in about a launch's time.
 */
export const CHUNKED_BYTES = 256 * 1024;

/** Chunks of a slot of rank up to rmax. */
export const chunksOf = (rmax: number) => Math.ceil(rmax / CHUNK_RANKS);

/** Tiles of CHUNK_WG columns over all members. */
export const chunkedTiles = (g: LoraDeltaGeometry) => g.widths.reduce((s, N) => s + Math.ceil(N / CHUNK_WG), 0);

/** The scratch: a counter per (row, tile), then each chunk's part of each (row, tile), as u32 words. */
export const chunkedScratchWords = (g: LoraDeltaGeometry) => {
  const cells = g.n * chunkedTiles(g);
  return chunksOf(g.rmax) > 1 ? cells + cells * chunksOf(g.rmax) * CHUNK_WG : 1;
};

/**
 * Bindings: x, [nw], slots, scale, then A, B, rank per member, then each member's output, then the
 * scratch (rw atomics); uniforms [n, K, rmax, slots, eps]. Grid [chunks · tiles, n].
 */
export function chunkedWgsl(g: LoraDeltaGeometry, caps: Pick<Capabilities, 'f16'>): string {
  const C = chunksOf(g.rmax);
  const T = chunkedTiles(g);
  const { decl, next } = loraDeltaBindings(g, caps);
  let b = next;
  decl.push(`@group(0) @binding(${b++}) var<storage, read_write> sync: array<atomic<u32>>;`);
  return `${loraDeltaEnables(g, caps)}${decl.join('\n')}
${uniformDecl(b, 5)}
var<workgroup> red: array<f32, ${CHUNK_WG}>;
var<workgroup> vr: array<f32, ${CHUNK_RANKS}>;
var<workgroup> wrank: u32;
var<workgroup> wlast: u32;
${memberAccessorsWgsl(g, caps)}
@compute @workgroup_size(${CHUNK_WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let K = uw(1u);
  let rmax = uw(2u);
  let row = wid.y;
  let chunk = wid.x % ${C}u;
  let ti = wid.x / ${C}u;
  var seg = 0u;
  var t = ti;
${segmentWalkWgsl(g, CHUNK_WG)}
  let N = width(seg);
  let c = t * ${CHUNK_WG}u + lid;
${ROW_RANK_WGSL}
  if (rk == 0u) {
    if (chunk == 0u && c < N) { put(seg, row * N + c, 0.0); }
    return;
  }
  // the chunks this row reads: ranks past the slot's own are never loaded
  let live = (rk + ${CHUNK_RANKS - 1}u) / ${CHUNK_RANKS}u;
  if (chunk >= live) { return; }
  let r0 = chunk * ${CHUNK_RANKS}u;
  let nr = min(${CHUNK_RANKS}u, rk - r0);
  let s = u32(row_slot[row]);
  let xb = row * K;
  var rs = 1.0;
${rmsScaleWgsl(g, caps, CHUNK_WG)}
  let lane = lid % ${LANES}u;
  let j = lid / ${LANES}u;
${shrinkPassWgsl(g, caps, LANES, { rank: 'j', aRow: '(s * rmax + r0 + j)', live: 'j < nr', indent: '  ' })}
  var part = 0.0;
  if (c < N) {
    let bb = (s * N + c) * rmax + r0;
    for (var q = 0u; q < nr; q++) { part += vr[q] * b_at(seg, bb + q); }
  }
  let sc = scale[s];
  if (live == 1u) {
    if (c < N) { put(seg, row * N + c, sc * part); }
    return;
  }
  let cell = row * ${T}u + ti;
  let parts = uw(0u) * ${T}u;
  _ = atomicExchange(&sync[parts + (cell * ${C}u + chunk) * ${CHUNK_WG}u + lid], bitcast<u32>(part));
  storageBarrier();
  workgroupBarrier();
  if (lid == 0u) { wlast = select(0u, 1u, atomicAdd(&sync[cell], 1u) + 1u == live); }
  if (workgroupUniformLoad(&wlast) == 0u) { return; }
  if (lid == 0u) { atomicStore(&sync[cell], 0u); }
  var sum = 0.0;
  for (var q = 0u; q < live; q++) {
    sum += bitcast<f32>(atomicLoad(&sync[parts + (cell * ${C}u + q) * ${CHUNK_WG}u + lid]));
  }
  if (c < N) { put(seg, row * N + c, sc * sum); }
}`;
}
