/**
 * The hand-written WGSL template of SDDMM, kept only as the baseline of `sparse-tir-vs-template.ts`.
 *
 * SDDMM on CSR: out[e] = ⟨A[i,:], B[j,:]⟩ for each stored (i, j) = nonzero e. A group of `lanes`
 * threads owns one nonzero: it finds the row by binary search over indptr (so empty rows and one
 * huge row cost nothing extra), splits the dot product over the lanes (vec4 loads when the row
 * length allows) and sums the lanes' parts in workgroup memory. The output is in nonzero order,
 * the values array of a CSR matrix with A's sparsity.
 *
 * Uniform words: [nnz, m, dv (row length ÷ vector width), 0].
 */
import { uniformDecl } from '../src/kernels/wgsl-dtype.js';
import type { SddmmSchedule } from '../src/sparse/schedule.js';

export function sddmmWgsl(s: SddmmSchedule): string {
  const ty = s.vec4 ? 'vec4<f32>' : 'f32';
  const wg = s.lanes * s.nnzPerWorkgroup;
  const product = s.vec4 ? 'dot(a[ar + c], b[br + c])' : 'a[ar + c] * b[br + c]';
  const reduce: string[] = [];
  for (let w = s.lanes / 2; w >= 1; w /= 2)
    reduce.push(`if (lane < ${w}u) { part[lid] += part[lid + ${w}u]; }\n  workgroupBarrier();`);
  return `@group(0) @binding(0) var<storage, read> indptr: array<i32>;
@group(0) @binding(1) var<storage, read> indices: array<i32>;
@group(0) @binding(2) var<storage, read> a: array<${ty}>;
@group(0) @binding(3) var<storage, read> b: array<${ty}>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
${uniformDecl(5, 4)}
var<workgroup> part: array<f32, ${wg}>;
@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let nnz = uw(0u);
  let m = uw(1u);
  let dv = uw(2u);
  let e = (wid.x + wid.y * nwg.x) * ${s.nnzPerWorkgroup}u + lid / ${s.lanes}u;
  let lane = lid % ${s.lanes}u;
  var sum = 0.0;
  if (e < nnz) {
    // the row owning e: the first i with indptr[i + 1] > e
    var lo = 0u;
    var hi = m;
    loop {
      if (lo >= hi) { break; }
      let mid = (lo + hi) / 2u;
      if (u32(indptr[mid + 1u]) <= e) { lo = mid + 1u; } else { hi = mid; }
    }
    let ar = lo * dv;
    let br = u32(indices[e]) * dv;
    for (var c = lane; c < dv; c += ${s.lanes}u) { sum += ${product}; }
  }
  part[lid] = sum;
  workgroupBarrier();
  ${reduce.join('\n  ')}
  if (lane == 0u && e < nnz) { out[e] = part[lid]; }
}`;
}
