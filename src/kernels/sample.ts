/**
 * `sample`: one workgroup per row, no sort. Passes over the row (re-read from cache):
 * 1. max and first argmax (greedy rows stop here);
 * 2. top-k / top-p thresholds by radix select on the logits' order-preserving u32 keys, 4 bits
 *    per step from the top: each step histograms the candidates still matching the chosen prefix
 *    (by count for top-k, by weight exp((x − max)/T) for top-p) and descends into the bin where
 *    the running total reaches the goal; 8 passes give the threshold logit exactly;
 * 3. min-p as the threshold max + T·ln(minP);
 * 4. the draw: each thread sums the kept weights of a contiguous chunk, thread 0 scans the chunk
 *    sums in order (so the chunks' intervals tile [0, Z) exactly), and the thread whose interval
 *    holds u·Z walks its chunk to the token.
 * Semantics and the params layout: `ops/sample.ts`.
 */
import type { Attrs, TensorDesc } from '../backends/backend.js';
import type { Capabilities } from '../backends/webgpu/capabilities.js';
import { SAMPLE_PARAM_WORDS } from '../ops/sample.js';
import { type DType, isFloat } from '../tensor/dtype.js';
import { argmaxReduceWgsl } from './argmax.js';
import { grid2d } from './elementwise.js';
import type { GpuKernel } from '../backends/webgpu/kernel.js';
import { ROW_INDEX, rowEnables, rowInit, rowParams, rowReduceWgsl, rowWorkgroupSize } from './row-reduce.js';
import { enables, loadF32, storageDecl, uniformDecl } from './wgsl-dtype.js';
import { RNG_WGSL } from './wgsl-rng.js';

type Caps = Pick<Capabilities, 'f16' | 'subgroups'>;

/**
 * Radix histograms: thread t owns column t of `bins` (16 × wg floats in workgroup memory, so no
 * private array indexed by a runtime digit, which compilers turn into slow code), and a tree sums
 * the columns into `fin`.
 */
function binsWgsl(wg: number): string {
  return `var<workgroup> bins: array<f32, ${16 * wg}>;
var<workgroup> fin: array<f32, 16>;
fn clear_bins() {
  for (var d = 0u; d < uw(3u); d++) { bins[d * ${wg}u + tess_lid] = 0.0; }
}
fn reduce_bins() {
  workgroupBarrier();
  // two levels with few barrier sites (each one is costly for some shader compilers, e.g. lavapipe):
  // thread t sums 1/16 of bin t/16's column, then 16 threads add the 16 partial sums
  let d = tess_lid / ${wg / 16}u;
  let part = tess_lid % ${wg / 16}u;
  var t = 0.0;
  for (var i = 0u; i < uw(3u); i++) { t += bins[d * ${wg}u + part * 16u + i]; }
  workgroupBarrier();
  bins[tess_lid] = t;
  workgroupBarrier();
  if (tess_lid < 16u) {
    var f = 0.0;
    for (var i = 0u; i < uw(4u); i++) { f += bins[tess_lid * ${wg / 16}u + i]; }
    fin[tess_lid] = f;
  }
  workgroupBarrier();
}`;
}

/** Reads logit `i` of the row as f32. */
type Load = (i: string) => string;

/** Bindings, the shared reductions and the module-scope state the passes share. */
function moduleDecls(dtype: DType, wg: number, caps: Caps): string {
  return `${enables([dtype], caps)}${rowEnables(caps)}
${storageDecl(0, 'x', dtype, caps, 'read')}
${storageDecl(1, 'prm', 'u32', caps, 'read')}
${storageDecl(2, 'y', 'i32', caps, 'read_write')}
${uniformDecl(3, 5)}
${RNG_WGSL}
${rowReduceWgsl(caps, wg)}
${argmaxReduceWgsl(caps, wg)}
${binsWgsl(wg)}
const NONE = 0xffffffffu;
var<workgroup> sp: array<u32, ${SAMPLE_PARAM_WORDS}>;
var<workgroup> scan: array<f32, ${wg}>;
var<workgroup> chosen: u32;
var<private> gbase: u32;
var<private> gV: u32;
var<private> mx: f32;
var<private> temp: f32;`;
}

/** Pass 2: the radix select over the logits' order-preserving keys, 4 bits per step. */
function radixSelectFns(wg: number, x: Load): string {
  return `// order-preserving key of a float (−0 folded onto +0 so equal floats share a key)
fn key(v: f32) -> u32 {
  let b = select(bitcast<u32>(v), 0u, bitcast<u32>(v) == 0x80000000u);
  return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}
fn unkey(k: u32) -> f32 { return bitcast<f32>(select(~k, k & 0x7fffffffu, (k & 0x80000000u) != 0u)); }
fn wt(v: f32) -> f32 { return exp((v - mx) / temp); }

// Loop bounds (8 digit steps, 16 bins, wg/16 partials) come from uniforms: constant trip counts
// get unrolled by some compilers (lavapipe: seconds per pipeline), for nothing on a real GPU.
// The logit K with total(x > K) < goal <= total(x >= K) over x >= floor; total counts (byCount) or weights.
fn radix_select(byCount: bool, goal: f32, floor: f32) -> f32 {
  var prefix = 0u;
  var pmask = 0u;
  var above = 0.0;
  for (var step = 0u; step < uw(2u); step++) {
    let shift = 28u - 4u * step;
    clear_bins();
    for (var c = tess_lid; c < gV; c += ${wg}u) {
      let v = ${x('c')};
      let k = key(v);
      if (v >= floor && (k & pmask) == prefix) {
        let d = (k >> shift) & 15u;
        bins[d * ${wg}u + tess_lid] += select(wt(v), 1.0, byCount);
      }
    }
    reduce_bins();
    // every thread takes the same decision from the same 16 sums
    var pick = 16u;
    var acc = above;
    for (var d = i32(uw(3u)) - 1i; d >= 0i; d--) {
      if (acc + fin[d] >= goal) { pick = u32(d); break; }
      acc += fin[d];
    }
    if (pick == 16u) {
      // rounding left the goal above the total: the lowest non-empty bin holds the last kept value
      acc = above;
      for (var d = i32(uw(3u)) - 1i; d >= 0i; d--) { if (fin[d] > 0.0) { pick = u32(d); } }
      for (var d = 15u; d > pick; d--) { acc += fin[d]; }
    }
    above = acc;
    prefix |= pick << shift;
    pmask |= 15u << shift;
  }
  return unkey(prefix);
}`;
}

/** The row's sampling params into workgroup memory, then read back as uniform locals. */
function readParams(): string {
  return `if (lid < ${SAMPLE_PARAM_WORDS}u) { sp[lid] = prm[row * ${SAMPLE_PARAM_WORDS}u + lid]; }
  let P = workgroupUniformLoad(&sp);
  // branch on locals: WGSL treats module-scope private reads as non-uniform
  let T = bitcast<f32>(P[0]);
  temp = T;
  let topk = P[1];
  let topp = bitcast<f32>(P[2]);
  let minp = bitcast<f32>(P[3]);`;
}

/** Pass 1: max and first argmax; a greedy row (T ≤ 0 or NaN) writes the argmax and returns. */
function maxOrGreedy(wg: number, x: Load): string {
  return `var bv = tess_ninf();
  var bi = NONE;
  for (var c = lid; c < gV; c += ${wg}u) {
    let v = ${x('c')};
    if (v > bv || (bi == NONE && v == v)) { bv = v; bi = c; }
  }
  if (!(T > 0.0)) {
    let best = tess_argmax(bv, bi);
    if (lid == 0u) { y[row] = i32(select(best, 0u, best == NONE)); }
    return;
  }
  mx = tess_max(select(tess_ninf(), bv, bi != NONE));`;
}

/** Passes 2 and 3: the keep threshold `thr` from top-k, top-p and min-p. */
function keepThreshold(wg: number, x: Load): string {
  return `var thr = tess_ninf();
  // top-k then top-p through one call site of radix_select (each inlined copy costs compile time)
  for (var phase = 0u; phase < 2u; phase++) {
    let byCount = phase == 0u;
    if (select((topp > 0.0) && (1.0 > topp), (topk > 0u) && (V > topk), byCount)) {
      var goal = f32(topk);
      if (!byCount) {
        var z = 0.0;
        for (var c = lid; c < gV; c += ${wg}u) { let v = ${x('c')}; if (v >= thr) { z += wt(v); } }
        goal = topp * tess_sum(z);
      }
      thr = max(thr, radix_select(byCount, goal, thr));
    }
  }
  if (minp > 0.0) { thr = max(thr, mx + temp * log(minp)); }`;
}

/** Pass 4: chunk sums, their in-order scan, and the walk of the chunk that holds u·Z. */
function draw(wg: number, x: Load): string {
  return `let chunk = (gV + ${wg - 1}u) / ${wg}u;
  let c0 = min(lid * chunk, gV);
  let c1 = min(c0 + chunk, gV);
  var s = 0.0;
  var last = NONE;
  for (var c = c0; c < c1; c++) { let v = ${x('c')}; if (v >= thr) { s += wt(v); last = c; } }
  scan[lid] = s;
  if (lid == 0u) { chosen = NONE; }
  workgroupBarrier();
  if (lid == 0u) {
    // sequential inclusive scan: interval t is [scan[t−1], scan[t]), monotone, empty for empty chunks
    var acc = 0.0;
    for (var t = 0u; t < ${wg}u; t++) { acc += scan[t]; scan[t] = acc; }
  }
  workgroupBarrier();
  let hi = scan[lid];
  let lo = select(0.0, scan[max(lid, 1u) - 1u], lid > 0u);
  let goal = tess_uniform_at(P[4], P[5], P[6]) * scan[${wg - 1}u];
  if (last != NONE && lo <= goal && goal < hi) {
    var acc = lo;
    var pick = last;
    for (var c = c0; c < c1; c++) {
      let v = ${x('c')};
      if (v >= thr) { acc += wt(v); if (goal < acc) { pick = c; break; } }
    }
    chosen = pick;
  }
  // goal ≥ the total only by rounding: the last kept token
  let lastKept = tess_max(select(-1.0, f32(last), last != NONE));
  let ch = workgroupUniformLoad(&chosen);
  if (lid == 0u) { y[row] = i32(select(ch, u32(max(lastKept, 0.0)), ch == NONE)); }`;
}

export function sampleWgsl(dtype: DType, wg: number, caps: Caps): string {
  const x: Load = (i) => loadF32(dtype, caps, 'x', `gbase + ${i}`);
  return `${moduleDecls(dtype, wg, caps)}

${radixSelectFns(wg, x)}

@compute @workgroup_size(${wg})
fn main(${rowParams(caps)}) {
  ${rowInit(caps)}
  ${ROW_INDEX}
  let V = cols;
  gV = V;
  gbase = base;
  ${readParams()}

  ${maxOrGreedy(wg, x)}

  ${keepThreshold(wg, x)}

  ${draw(wg, x)}
}`;
}

export const sampleKernel: GpuKernel = {
  op: 'sample',
  whyUnsupported(_caps: Capabilities, _attrs: Attrs, inputs: readonly TensorDesc[]) {
    return inputs[0] && isFloat(inputs[0].dtype) && inputs[1]?.dtype === 'u32'
      ? null
      : 'needs float logits and u32 params';
  },
  encode(ctx, _attrs, [logits, params], [y]) {
    const [R, V] = logits!.shape as [number, number];
    const wg = rowWorkgroupSize(V);
    ctx.dispatch(
      {
        label: `sample.${logits!.dtype}.wg${wg}`,
        key: `sample.${logits!.dtype}.wg${wg}`,
        wgsl: () => sampleWgsl(logits!.dtype, wg, ctx.caps),
        access: ['read', 'read', 'rw', 'uniform'],
      },
      [logits!, params!, y!],
      new Uint32Array([R, V, 8, 16, wg / 16]),
      grid2d(R, ctx.caps.maxComputeWorkgroupsPerDimension),
    );
  },
};
