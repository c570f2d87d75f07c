/**
 * The hand-written WGSL template of RGCN, kept only as the baseline of `sparse-tir-vs-template.ts`.
 *
 * The fused RGCN kernel: every relation in one dispatch. A thread owns one output element (i, c)
 * and walks row i's edges segment by segment — a maximal run of one relation r (the generator and
 * converters sort a row's edges by relation, so each relation is one run; any order is still
 * correct, only slower). Per segment it aggregates Σ_e v_e·x[j_e, q] for each input feature q and
 * multiplies by W_r[q, c] once, so W is read once per (segment, q), not once per edge.
 * Threads of one row read the same x entries, which the cache serves.
 *
 * Uniform words: [m, fout, fin, 0].
 */
import { uniformDecl } from '../src/kernels/wgsl-dtype.js';

export const RGCN_WORKGROUP = 64;

export function rgcnWgsl(): string {
  return `@group(0) @binding(0) var<storage, read> indptr: array<i32>;
@group(0) @binding(1) var<storage, read> indices: array<i32>;
@group(0) @binding(2) var<storage, read> rel: array<i32>;
@group(0) @binding(3) var<storage, read> vals: array<f32>;
@group(0) @binding(4) var<storage, read> x: array<f32>;
@group(0) @binding(5) var<storage, read> w: array<f32>;
@group(0) @binding(6) var<storage, read_write> y: array<f32>;
${uniformDecl(7, 4)}
@compute @workgroup_size(${RGCN_WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let m = uw(0u);
  let fout = uw(1u);
  let fin = uw(2u);
  let o = (wid.x + wid.y * nwg.x) * ${RGCN_WORKGROUP}u + lid;
  if (o >= m * fout) { return; }
  let i = o / fout;
  let c = o % fout;
  let end = u32(indptr[i + 1u]);
  var acc = 0.0;
  var e = u32(indptr[i]);
  loop {
    if (e >= end) { break; }
    let r = rel[e];
    var segEnd = e + 1u;
    loop {
      if (segEnd >= end || rel[segEnd] != r) { break; }
      segEnd += 1u;
    }
    let wBase = u32(r) * fin;
    for (var q = 0u; q < fin; q += 1u) {
      var s = 0.0;
      for (var t = e; t < segEnd; t += 1u) { s += vals[t] * x[u32(indices[t]) * fin + q]; }
      acc += s * w[(wBase + q) * fout + c];
    }
    e = segEnd;
  }
  y[o] = acc;
}`;
}
