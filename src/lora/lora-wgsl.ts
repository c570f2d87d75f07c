/**
 * WGSL of the LoRA ops in Punica's two phases, each a dispatch:
 *
 * - shrink: v[i, r] = x[i]·A[a]_r for r < rank[a], f32 into a scratch [n, rmax]. A workgroup owns one
 *   row and 8 ranks; 32 lanes per rank stride over `in` (reads of x and A coalesced) and reduce in
 *   workgroup memory.
 * - expand: out[i, j] = y[i, j] + scale[a]·Σ_r v[i, r]·B[a]_{j,r}. A thread owns two adjacent columns
 *   of one row (a whole word where f16 is stored packed).
 *
 * The two ops differ only in how a row finds its slot: an index per row (BGMV) or a binary search
 * over segment starts (SGMV).
 */
import type { Capabilities } from '../backends/webgpu/capabilities.js';
import { elemsPerWord, enables, loadF32, storageDecl, storeWord, uniformDecl } from '../kernels/wgsl-dtype.js';
import type { LoraGeometry } from './lora-ops.js';

export const SHRINK_RANKS = 8;
export const SHRINK_LANES = 32;
export const EXPAND_WORKGROUP = 64;

export type SlotLookup = 'index' | 'segments';

/** Bindings that tell a row its slot, and `slot_of(row) -> i32` (−1: no adapter). */
function lookupWgsl(lookup: SlotLookup, first: number): string {
  if (lookup === 'index')
    return `@group(0) @binding(${first}) var<storage, read> row_slot: array<i32>;
fn slot_of(row: u32, slots: u32) -> i32 {
  let s = row_slot[row];
  if (s < 0 || u32(s) >= slots) { return -1; }
  return s;
}`;
  return `@group(0) @binding(${first}) var<storage, read> seg_start: array<i32>;
@group(0) @binding(${first + 1}) var<storage, read> seg_slot: array<i32>;
fn slot_of(row: u32, slots: u32) -> i32 {
  // the segment k with seg_start[k] <= row < seg_start[k + 1]
  var lo = 0u;
  // buffers may be padded past their tensor, so the count comes as a uniform, not arrayLength
  let count = uw(4u);
  var hi = count;
  while (lo < hi) {
    let mid = (lo + hi) / 2u;
    if (u32(seg_start[mid + 1u]) <= row) { lo = mid + 1u; } else { hi = mid; }
  }
  if (lo >= count) { return -1; }
  let s = seg_slot[lo];
  if (s < 0 || u32(s) >= slots) { return -1; }
  return s;
}`;
}

export const lookupBindings = (lookup: SlotLookup) => (lookup === 'index' ? 1 : 2);

/** Bindings: x, A, rank, lookup…, v (rw), uniforms [n, in, rmax, slots, segments]. */
export function shrinkWgsl(g: LoraGeometry, caps: Pick<Capabilities, 'f16'>, lookup: SlotLookup): string {
  const lb = lookupBindings(lookup);
  const wg = SHRINK_RANKS * SHRINK_LANES;
  return `${enables([g.act, g.weight], caps)}${storageDecl(0, 'x', g.act, caps, 'read')}
${storageDecl(1, 'a', g.weight, caps, 'read')}
@group(0) @binding(2) var<storage, read> rank: array<i32>;
${lookupWgsl(lookup, 3)}
@group(0) @binding(${3 + lb}) var<storage, read_write> v: array<f32>;
${uniformDecl(4 + lb, 5)}
var<workgroup> red: array<f32, ${wg}>;
@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let n = uw(0u);
  let inn = uw(1u);
  let rmax = uw(2u);
  let row = wid.y;
  let lane = lid % ${SHRINK_LANES}u;
  let r = wid.x * ${SHRINK_RANKS}u + lid / ${SHRINK_LANES}u;
  var p = 0.0;
  if (row < n) {
    let s = slot_of(row, uw(3u));
    if (s >= 0 && r < u32(rank[s])) {
      let ab = (u32(s) * rmax + r) * inn;
      let xb = row * inn;
      for (var k = lane; k < inn; k += ${SHRINK_LANES}u) {
        p += ${loadF32(g.act, caps, 'x', 'xb + k')} * ${loadF32(g.weight, caps, 'a', 'ab + k')};
      }
    }
  }
  red[lid] = p;
  workgroupBarrier();
  for (var w = ${SHRINK_LANES / 2}u; w > 0u; w = w / 2u) {
    if (lane < w) { red[lid] += red[lid + w]; }
    workgroupBarrier();
  }
  if (lane == 0u && row < n && r < rmax) { v[row * rmax + r] = red[lid]; }
}`;
}

/** Bindings: y, B, scale, rank, lookup…, v, out (rw), uniforms [n, out, rmax, slots, segments]. */
export function expandWgsl(g: LoraGeometry, caps: Pick<Capabilities, 'f16'>, lookup: SlotLookup): string {
  const lb = lookupBindings(lookup);
  const packed = elemsPerWord(g.act, caps) === 2;
  const y = (j: string) => loadF32(g.act, caps, 'y', `row * cols + ${j}`);
  const store = packed
    ? storeWord(g.act, caps, 'o', '(row * cols + j0) / 2u', ['acc0', 'acc1'])
    : `${storeWord(g.act, caps, 'o', 'row * cols + j0', ['acc0'])}
  if (j0 + 1u < cols) { ${storeWord(g.act, caps, 'o', 'row * cols + j0 + 1u', ['acc1'])} }`;
  return `${enables([g.act, g.weight], caps)}${storageDecl(0, 'y', g.act, caps, 'read')}
${storageDecl(1, 'b', g.weight, caps, 'read')}
@group(0) @binding(2) var<storage, read> scale: array<f32>;
@group(0) @binding(3) var<storage, read> rank: array<i32>;
${lookupWgsl(lookup, 4)}
@group(0) @binding(${4 + lb}) var<storage, read> v: array<f32>;
${storageDecl(5 + lb, 'o', g.act, caps, 'read_write')}
${uniformDecl(6 + lb, 5)}
@compute @workgroup_size(${EXPAND_WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let n = uw(0u);
  let cols = uw(1u);
  let rmax = uw(2u);
  let row = wid.y;
  let j0 = (wid.x * ${EXPAND_WORKGROUP}u + lid) * 2u;
  if (row >= n || j0 >= cols) { return; }
  let two = j0 + 1u < cols;
  var acc0 = ${y('j0')};
  var acc1 = 0.0;
  if (two) { acc1 = ${y('j0 + 1u')}; }
  let s = slot_of(row, uw(3u));
  if (s >= 0) {
    let rk = u32(rank[s]);
    let b0 = (u32(s) * cols + j0) * rmax;
    var d0 = 0.0;
    var d1 = 0.0;
    for (var r = 0u; r < rk; r += 1u) {
      let vr = v[row * rmax + r];
      d0 += vr * ${loadF32(g.weight, caps, 'b', 'b0 + r')};
      if (two) { d1 += vr * ${loadF32(g.weight, caps, 'b', 'b0 + rmax + r')}; }
    }
    acc0 += scale[s] * d0;
    acc1 += scale[s] * d1;
  }
  ${store}
}`;
}
