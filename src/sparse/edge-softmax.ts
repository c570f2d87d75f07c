/**
 * Edge softmax over a CSR matrix's rows (GAT's attention normalization): out[e] = exp(s[e] − max_i)
 * / Σ_{e' in row i} exp(s[e'] − max_i) for the row i owning e. Inputs: indptr i32[m+1], scores
 * f32[nnz]; output f32[nnz] in nonzero order, the values of a CSR matrix with the same pattern.
 * On the GPU a thread owns a row (three passes over its edges: max, sum, write).
 */
import type { TensorDesc } from '../backends/backend.js';
import { defineOp } from '../ops/op-spec.js';
import { randomInput } from '../ops/test-data.js';
import type { Rng } from '../util/rng.js';
import { uniformDecl } from '../kernels/wgsl-dtype.js';
import { toFormat } from './convert.js';
import { caseMatrices } from './ops.js';

const OP = 'edge_softmax_csr';

export function edgeSoftmaxGeometry(inputs: readonly TensorDesc[]): { m: number; nnz: number } {
  if (inputs.length !== 2) throw new Error(`${OP}: takes 2 inputs (indptr, scores), ${inputs.length} given`);
  const [indptr, s] = inputs as [TensorDesc, TensorDesc];
  if (indptr.dtype !== 'i32' || indptr.shape.length !== 1 || indptr.shape[0]! < 1)
    throw new Error(`${OP}: indptr must be a non-empty 1-D i32 tensor, got ${indptr.dtype} [${indptr.shape}]`);
  if (s.dtype !== 'f32' || s.shape.length !== 1)
    throw new Error(`${OP}: scores must be 1-D f32, got ${s.dtype} [${s.shape}]`);
  return { m: indptr.shape[0]! - 1, nnz: s.shape[0]! };
}

/** Float64 edge softmax. */
export function edgeSoftmaxReference(indptr: ArrayLike<number>, s: ArrayLike<number>): Float64Array {
  const out = new Float64Array(s.length);
  for (let i = 0; i + 1 < indptr.length; i++) {
    const [a, b] = [indptr[i]!, indptr[i + 1]!];
    let mx = -Infinity;
    for (let e = a; e < b; e++) mx = Math.max(mx, s[e]!);
    let sum = 0;
    for (let e = a; e < b; e++) sum += Math.exp(s[e]! - mx);
    for (let e = a; e < b; e++) out[e] = Math.exp(s[e]! - mx) / sum;
  }
  return out;
}

export const EDGE_SOFTMAX_WORKGROUP = 64;

export function edgeSoftmaxWgsl(): string {
  return `@group(0) @binding(0) var<storage, read> indptr: array<i32>;
@group(0) @binding(1) var<storage, read> s: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
${uniformDecl(3, 4)}
@compute @workgroup_size(${EDGE_SOFTMAX_WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * ${EDGE_SOFTMAX_WORKGROUP}u + lid;
  if (i >= uw(0u)) { return; }
  let a = u32(indptr[i]);
  let b = u32(indptr[i + 1u]);
  var mx = -3.4028234663852886e38;
  for (var e = a; e < b; e += 1u) { mx = max(mx, s[e]); }
  var sum = 0.0;
  for (var e = a; e < b; e += 1u) { sum += exp(s[e] - mx); }
  let inv = 1.0 / sum;
  for (var e = a; e < b; e += 1u) { out[e] = exp(s[e] - mx) * inv; }
}`;
}

function cases(rng: Rng) {
  return caseMatrices(rng).map(({ label, coo }) => {
    const csr = toFormat(coo, { kind: 'csr' });
    if (csr.kind !== 'csr') throw new Error('expected CSR');
    // spread the scores so exp's range matters (max subtraction), not only values near 0
    const scores = randomInput(rng, 'f32', [csr.indices.length], 20);
    return {
      label: `${label} scores ×20`,
      attrs: {},
      inputs: [{ desc: { dtype: 'i32' as const, shape: [csr.indptr.length] }, data: csr.indptr }, scores],
    };
  });
}

export const edgeSoftmaxCsrOp = defineOp({
  name: OP,
  outputs: (_attrs, inputs) => [{ dtype: 'f32', shape: [edgeSoftmaxGeometry(inputs).nnz] }],
  reference: (_attrs, [indptr, s]) => [edgeSoftmaxReference(indptr!, s!)],
  cases,
  // f32 exp and a sum of row-length terms: a few ulp relative, values within [0, 1]
  tolerance: () => ({ abs: 2e-6, rel: 2e-5 }),
});
