/**
 * `lora_delta` in two dispatches, for decode rows whose shrink is large (K·rmax past
 * SPLIT_ELEMENTS): the one-dispatch kernel recomputes a row's shrink in every tile, each time
 * reading the slot's whole A [r, K] from one workgroup, which a single SM streams at a fraction of
 * the device's bandwidth (a rank-64 A at K = 14336 is 3.7 MB). Here the shrink spreads over
 * workgroups of eight ranks each and writes v [n, members, rmax] (f32, normalised rows), and the
 * expand's tiles read v instead of recomputing it.
 */
import type { Capabilities } from '../backends/webgpu/capabilities.js';
import { enables, loadF32, storageDecl, uniformDecl } from '../kernels/wgsl-dtype.js';
import type { LoraDeltaGeometry } from './lora-delta.js';

export const SPLIT_WG = 256;
export const SPLIT_RANKS = 8;
const LANES = SPLIT_WG / SPLIT_RANKS;
/** K·rmax above which decode rows take the two dispatches (a rank-16 A at K = 4096 stays in one). */
export const SPLIT_ELEMENTS = 65536;

const pickOf = (M: number) => (f: (i: number) => string) =>
  Array.from({ length: M }, (_, i) => (i + 1 < M ? `if (seg == ${i}u) { ${f(i)} }` : `{ ${f(i)} }`)).join(' else ');

/** Bindings: x, [nw], slots, A and rank per member, v (rw); uniforms [n, K, rmax, slots, eps]. Grid [chunks·members, n]. */
export function splitShrinkWgsl(g: LoraDeltaGeometry, caps: Pick<Capabilities, 'f16'>): string {
  const norm = g.normDtype !== undefined;
  const M = g.widths.length;
  const pick = pickOf(M);
  let b = 0;
  const decl = [storageDecl(b++, 'x', g.act, caps, 'read')];
  if (norm) decl.push(storageDecl(b++, 'nw', g.normDtype!, caps, 'read'));
  decl.push(`@group(0) @binding(${b++}) var<storage, read> row_slot: array<i32>;`);
  for (let i = 0; i < M; i++) decl.push(storageDecl(b++, `a${i}`, g.weight, caps, 'read'));
  for (let i = 0; i < M; i++) decl.push(`@group(0) @binding(${b++}) var<storage, read> rank${i}: array<i32>;`);
  decl.push(`@group(0) @binding(${b++}) var<storage, read_write> v: array<f32>;`);
  const chunks = Math.ceil(g.rmax / SPLIT_RANKS);
  const x = (i: string) => loadF32(g.act, caps, 'x', i);
  const xn = norm ? `${x('xb + k')} * ${loadF32(g.normDtype!, caps, 'nw', 'k')}` : x('xb + k');
  const normWgsl = `  var ss = 0.0;
  for (var k = lid; k < K; k += ${SPLIT_WG}u) { let xv = ${x('xb + k')}; ss += xv * xv; }
  red[lid] = ss;
  workgroupBarrier();
  for (var w = ${SPLIT_WG / 2}u; w > 0u; w = w / 2u) {
    if (lid < w) { red[lid] += red[lid + w]; }
    workgroupBarrier();
  }
  rs = inverseSqrt(red[0] / f32(K) + uf(4u));
  workgroupBarrier();`;
  return `${enables([g.act, g.weight, ...(norm ? [g.normDtype!] : [])], caps)}${decl.join('\n')}
${uniformDecl(b, 5)}
var<workgroup> red: array<f32, ${SPLIT_WG}>;
var<workgroup> wrank: u32;
fn a_at(seg: u32, i: u32) -> f32 { ${pick((i) => `return ${loadF32(g.weight, caps, `a${i}`, 'i')};`)} }
fn rank_at(seg: u32, s: u32) -> i32 { ${pick((i) => `return rank${i}[s];`)} }
@compute @workgroup_size(${SPLIT_WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let K = uw(1u);
  let rmax = uw(2u);
  let row = wid.y;
  let seg = wid.x / ${chunks}u;
  let r0 = (wid.x % ${chunks}u) * ${SPLIT_RANKS}u;
  if (lid == 0u) {
    let s0 = row_slot[row];
    var r = 0;
    if (s0 >= 0 && u32(s0) < uw(3u)) { r = rank_at(seg, u32(s0)); }
    wrank = min(u32(max(r, 0)), rmax);
  }
  // ranks past the slot's are never read by the expand
  let rk = workgroupUniformLoad(&wrank);
  if (r0 >= rk) { return; }
  let s = u32(row_slot[row]);
  let xb = row * K;
  var rs = 1.0;
${norm ? normWgsl : ''}
  let lane = lid % ${LANES}u;
  let r = r0 + lid / ${LANES}u;
  var p = 0.0;
  if (r < rk) {
    let ab = (s * rmax + r) * K;
    for (var k = lane; k < K; k += ${LANES}u) { p += ${xn} * a_at(seg, ab + k); }
  }
  red[lid] = p;
  workgroupBarrier();
  for (var w = ${LANES / 2}u; w > 0u; w = w / 2u) {
    if (lane < w) { red[lid] += red[lid + w]; }
    workgroupBarrier();
  }
  if (lane == 0u && r < rk) { v[(row * ${M}u + seg) * rmax + r] = red[lid] * rs; }
}`;
}

/** Bindings: slots, scale, B and rank per member, v, then each member's output; uniforms as the shrink's. Grid [tiles, n]. */
export function splitExpandWgsl(g: LoraDeltaGeometry, caps: Pick<Capabilities, 'f16'>, tile: number): string {
  const M = g.widths.length;
  const pick = pickOf(M);
  let b = 0;
  const decl = [
    `@group(0) @binding(${b++}) var<storage, read> row_slot: array<i32>;`,
    `@group(0) @binding(${b++}) var<storage, read> scale: array<f32>;`,
  ];
  for (let i = 0; i < M; i++) decl.push(storageDecl(b++, `b${i}`, g.weight, caps, 'read'));
  for (let i = 0; i < M; i++) decl.push(`@group(0) @binding(${b++}) var<storage, read> rank${i}: array<i32>;`);
  decl.push(`@group(0) @binding(${b++}) var<storage, read> v: array<f32>;`);
  for (let i = 0; i < M; i++) decl.push(`@group(0) @binding(${b++}) var<storage, read_write> d${i}: array<f32>;`);
  const tiles = g.widths.map((N) => Math.ceil(N / tile));
  const segment = tiles
    .slice(0, -1)
    .map((t, i) => `  if (seg == ${i}u && t >= ${t}u) { seg = ${i + 1}u; t -= ${t}u; }`)
    .join('\n');
  return `${enables([g.weight], caps)}${decl.join('\n')}
${uniformDecl(b, 5)}
var<workgroup> vr: array<f32, ${Math.max(g.rmax, 1)}>;
var<workgroup> wrank: u32;
fn b_at(seg: u32, i: u32) -> f32 { ${pick((i) => `return ${loadF32(g.weight, caps, `b${i}`, 'i')};`)} }
fn rank_at(seg: u32, s: u32) -> i32 { ${pick((i) => `return rank${i}[s];`)} }
fn width(seg: u32) -> u32 { ${pick((i) => `return ${g.widths[i]}u;`)} }
fn put(seg: u32, i: u32, x: f32) { ${pick((i) => `d${i}[i] = x;`)} }
@compute @workgroup_size(${SPLIT_WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let rmax = uw(2u);
  let row = wid.y;
  var seg = 0u;
  var t = wid.x;
${segment}
  let N = width(seg);
  let c0 = t * ${tile}u;
  let c1 = min(N, c0 + ${tile}u);
  if (lid == 0u) {
    let s0 = row_slot[row];
    var r = 0;
    if (s0 >= 0 && u32(s0) < uw(3u)) { r = rank_at(seg, u32(s0)); }
    wrank = min(u32(max(r, 0)), rmax);
  }
  let rk = workgroupUniformLoad(&wrank);
  if (rk == 0u) {
    for (var c = c0 + lid; c < c1; c += ${SPLIT_WG}u) { put(seg, row * N + c, 0.0); }
    return;
  }
  for (var r = lid; r < rk; r += ${SPLIT_WG}u) { vr[r] = v[(row * ${M}u + seg) * rmax + r]; }
  workgroupBarrier();
  let s = u32(row_slot[row]);
  let sc = scale[s];
  for (var c = c0 + lid; c < c1; c += ${SPLIT_WG}u) {
    let bb = (s * N + c) * rmax;
    var acc = 0.0;
    for (var r = 0u; r < rk; r++) { acc += vr[r] * b_at(seg, bb + r); }
    put(seg, row * N + c, sc * acc);
  }
}`;
}
