/**
 * Op `ivf_scan`: squared L2 distances between a batch of queries and the vectors of one IVF
 * cluster, out[i, r] = Σ_j (q[i, j] − x[r, j])². Inputs: queries f32 [nq, d], vectors f32 or f16
 * [m, d]; output f32 [nq, m]. The datastore keeps a cluster's vectors contiguous, so a cluster
 * resident on the GPU is one tensor and one dispatch scans it for every query of the batch.
 * f16 vectors are read as packed u32 pairs (`unpack2x16float`), which every WebGPU device has, so
 * the kernel needs no shader-f16 feature; that is why d must be even for f16.
 *
 * Attrs `{ at, outLength }` (both or neither): the output is a flat f32 [outLength] and the
 * distances land at elements [at, at + nq·m), the rest untouched. A search scanning many resident
 * clusters writes them all into one buffer and reads it back once, instead of a readback per cluster.
 */
import type { Attrs, TensorDesc } from '../backends/backend.js';
import { uniformDecl } from '../kernels/wgsl-dtype.js';
import { defineOp } from '../ops/op-spec.js';
import { randomInput } from '../ops/test-data.js';
import type { Rng } from '../util/rng.js';

const OP = 'ivf_scan';

export function ivfScanGeometry(inputs: readonly TensorDesc[]): { nq: number; m: number; d: number; f16: boolean } {
  if (inputs.length !== 2) throw new Error(`${OP}: takes 2 inputs (queries, vectors), ${inputs.length} given`);
  const [q, x] = inputs as [TensorDesc, TensorDesc];
  if (q.dtype !== 'f32' || q.shape.length !== 2)
    throw new Error(`${OP}: queries must be 2-D f32, got ${q.dtype} [${q.shape}]`);
  if ((x.dtype !== 'f32' && x.dtype !== 'f16') || x.shape.length !== 2)
    throw new Error(`${OP}: vectors must be 2-D f32 or f16, got ${x.dtype} [${x.shape}]`);
  const d = q.shape[1]!;
  if (x.shape[1] !== d) throw new Error(`${OP}: queries have d=${d}, vectors d=${x.shape[1]}`);
  const f16 = x.dtype === 'f16';
  if (f16 && d % 2 !== 0) throw new Error(`${OP}: f16 vectors are read in pairs, so d must be even (got ${d})`);
  return { nq: q.shape[0]!, m: x.shape[0]!, d, f16 };
}

/** Where the distances go: element `at` of a flat output of `outLength`, or a [nq, m] output of their own. */
export function ivfScanPlacement(
  attrs: Attrs,
  nq: number,
  m: number,
): { at: number; outLength: number; shape: number[] } {
  const { at, outLength } = attrs as { at?: unknown; outLength?: unknown };
  if (at === undefined && outLength === undefined) return { at: 0, outLength: nq * m, shape: [nq, m] };
  if (!Number.isInteger(at) || !Number.isInteger(outLength) || (at as number) < 0)
    throw new Error(`${OP}: attrs at and outLength must both be non-negative integers (got ${at}, ${outLength})`);
  if ((at as number) + nq * m > (outLength as number))
    throw new Error(`${OP}: ${nq}×${m} distances at ${at} overrun an output of ${outLength}`);
  return { at: at as number, outLength: outLength as number, shape: [outLength as number] };
}

/** Float64 distances of the decoded inputs. */
export function ivfScanReference(
  q: ArrayLike<number>,
  x: ArrayLike<number>,
  nq: number,
  m: number,
  d: number,
): Float64Array {
  const out = new Float64Array(nq * m);
  for (let i = 0; i < nq; i++)
    for (let r = 0; r < m; r++) {
      let s = 0;
      for (let j = 0; j < d; j++) {
        const t = q[i * d + j]! - x[r * d + j]!;
        s += t * t;
      }
      out[i * m + r] = s;
    }
  return out;
}

/** Threads summing one distance, and distances per workgroup (256 threads). */
export const IVF_SCAN_LANES = 32;
export const IVF_SCAN_ROWS = 8;

/**
 * A group of IVF_SCAN_LANES threads per (query, vector) distance: lane l sums the coordinates
 * j ≡ l (mod lanes), so the group's loads of a vector row are consecutive words (coalesced), and
 * the lanes' partial sums are added in workgroup memory. One thread per distance looping over d
 * would instead have neighbouring threads read words a row (d·4 bytes) apart, and a cluster of a
 * thousand rows would fill a few dozen workgroups of a GPU that runs thousands.
 */
export function ivfScanWgsl(f16: boolean): string {
  const xDecl = f16 ? 'array<u32>' : 'array<f32>';
  const body = f16
    ? `for (var p = lane; p < (d >> 1u); p += ${IVF_SCAN_LANES}u) {
      let v = unpack2x16float(x[((r * d) >> 1u) + p]);
      let a = q[qi * d + 2u * p] - v.x;
      let b = q[qi * d + 2u * p + 1u] - v.y;
      s += a * a + b * b;
    }`
    : `for (var j = lane; j < d; j += ${IVF_SCAN_LANES}u) {
      let a = q[qi * d + j] - x[r * d + j];
      s += a * a;
    }`;
  return `@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> x: ${xDecl};
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
${uniformDecl(3, 4)}
var<workgroup> partial: array<f32, ${IVF_SCAN_LANES * IVF_SCAN_ROWS}>;
@compute @workgroup_size(${IVF_SCAN_LANES * IVF_SCAN_ROWS})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let nq = uw(0u);
  let m = uw(1u);
  let d = uw(2u);
  let at = uw(3u);
  let lane = lid % ${IVF_SCAN_LANES}u;
  let i = (wid.x + wid.y * nwg.x) * ${IVF_SCAN_ROWS}u + lid / ${IVF_SCAN_LANES}u;
  let live = i < nq * m;
  var s = 0.0;
  if (live) {
    let qi = i / m;
    let r = i % m;
    ${body}
  }
  partial[lid] = s;
  workgroupBarrier();
  for (var w = ${IVF_SCAN_LANES / 2}u; w > 0u; w >>= 1u) {
    if (lane < w) { partial[lid] += partial[lid + w]; }
    workgroupBarrier();
  }
  if (live && lane == 0u) { out[at + i] = partial[lid]; }
}`;
}

function cases(rng: Rng) {
  const shapes: [number, number, number, 'f32' | 'f16'][] = [
    [1, 37, 10, 'f32'],
    [5, 130, 33, 'f32'],
    [3, 65, 24, 'f16'],
    [2, 1, 100, 'f16'],
  ];
  return shapes.map(([nq, m, d, dt]) => ({
    label: `nq${nq} m${m} d${d} ${dt}`,
    attrs: {},
    inputs: [randomInput(rng, 'f32', [nq, d]), randomInput(rng, dt, [m, d])],
  }));
}

export const ivfScanOp = defineOp({
  name: OP,
  outputs: (attrs, inputs) => {
    const { nq, m } = ivfScanGeometry(inputs);
    return [{ dtype: 'f32', shape: ivfScanPlacement(attrs, nq, m).shape }];
  },
  // with an offset, the elements outside [at, at + nq·m) are left as they were: the reference has them 0
  reference: (attrs, [q, x], inDescs) => {
    const { nq, m, d } = ivfScanGeometry(inDescs);
    const { at, outLength } = ivfScanPlacement(attrs, nq, m);
    const dist = ivfScanReference(q!, x!, nq, m, d);
    if (at === 0 && outLength === nq * m) return [dist];
    const out = new Float64Array(outLength);
    out.set(dist, at);
    return [out];
  },
  cases,
  // an f32 sum of d squared differences: each term rounds twice, the running sum d times
  tolerance: (_attrs, inDescs) => {
    const d = inDescs[0]!.shape[1]!;
    return { abs: 1e-5, rel: 1.5e-7 * (d + 4) };
  },
});
