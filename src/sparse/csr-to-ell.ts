/**
 * CSR → ELL on the device (op `csr_to_ell`, attribute `width`): a thread per row copies the row's
 * (column, value) pairs into its `width` slots and pads the rest with column −1 (`ELL_PAD`) and
 * value 0, exactly the layout `ellFromCoo` builds on the host. A kernel cannot throw, so a row
 * longer than `width` keeps its first `width` entries and reports how many it dropped in the third
 * output, `dropped` i32[m] (all zero when the width fits; the caller checks).
 *
 * Inputs: indptr i32[m+1], indices i32[nnz], vals f32[nnz]. Outputs: cols i32[m, width],
 * vals f32[m, width], dropped i32[m].
 */
import type { Attrs, TensorDesc } from '../backends/backend.js';
import { grid2d } from '../backends/webgpu/grid.js';
import { type GpuKernel, whyNot } from '../backends/webgpu/kernel.js';
import { uniformDecl } from '../kernels/wgsl-dtype.js';
import { defineOp } from '../ops/op-spec.js';
import type { Rng } from '../util/rng.js';
import { toFormat } from './convert.js';
import { ELL_PAD } from './formats.js';
import { caseMatrices } from './ops.js';

const OP = 'csr_to_ell';
const WORKGROUP = 64;

export interface CsrToEllAttrs {
  readonly width: number;
  readonly [key: string]: unknown;
}

export function csrToEllGeometry(attrs: Attrs, inputs: readonly TensorDesc[]): { m: number; width: number } {
  const fail = (msg: string): never => {
    throw new Error(`${OP}: ${msg}`);
  };
  if (inputs.length !== 3) fail(`takes 3 inputs (indptr, indices, vals), ${inputs.length} given`);
  const [indptr, indices, vals] = inputs as [TensorDesc, TensorDesc, TensorDesc];
  if (indptr.dtype !== 'i32' || indptr.shape.length !== 1 || indptr.shape[0]! < 1)
    fail('indptr must be a non-empty 1-D i32 tensor');
  if (indices.dtype !== 'i32' || indices.shape.length !== 1) fail('indices must be 1-D i32');
  if (vals.dtype !== 'f32' || vals.shape.join() !== indices.shape.join())
    fail('vals must be f32 of the length of indices');
  const width = (attrs as CsrToEllAttrs).width;
  if (!Number.isInteger(width) || width < 1) fail(`attrs.width must be a positive integer, got ${width}`);
  return { m: indptr.shape[0]! - 1, width };
}

export function csrToEllReference(
  indptr: ArrayLike<number>,
  indices: ArrayLike<number>,
  vals: ArrayLike<number>,
  width: number,
): [Float64Array, Float64Array, Float64Array] {
  const m = indptr.length - 1;
  const cols = new Float64Array(m * width).fill(ELL_PAD);
  const out = new Float64Array(m * width);
  const dropped = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    const len = indptr[i + 1]! - indptr[i]!;
    for (let s = 0; s < Math.min(len, width); s++) {
      cols[i * width + s] = indices[indptr[i]! + s]!;
      out[i * width + s] = vals[indptr[i]! + s]!;
    }
    dropped[i] = Math.max(0, len - width);
  }
  return [cols, out, dropped];
}

export function csrToEllWgsl(): string {
  return `@group(0) @binding(0) var<storage, read> indptr: array<i32>;
@group(0) @binding(1) var<storage, read> indices: array<i32>;
@group(0) @binding(2) var<storage, read> vals: array<f32>;
@group(0) @binding(3) var<storage, read_write> ecols: array<i32>;
@group(0) @binding(4) var<storage, read_write> evals: array<f32>;
@group(0) @binding(5) var<storage, read_write> dropped: array<i32>;
${uniformDecl(6, 4)}
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * ${WORKGROUP}u + lid;
  if (i >= uw(0u)) { return; }
  let width = uw(1u);
  let start = u32(indptr[i]);
  let len = u32(indptr[i + 1u]) - start;
  for (var s = 0u; s < width; s += 1u) {
    let at = i * width + s;
    if (s < len) {
      ecols[at] = indices[start + s];
      evals[at] = vals[start + s];
    } else {
      ecols[at] = ${ELL_PAD};
      evals[at] = 0.0;
    }
  }
  dropped[i] = i32(max(len, width) - width);
}`;
}

function cases(rng: Rng) {
  return caseMatrices(rng).map(({ label, coo }, i) => {
    const csr = toFormat(coo, { kind: 'csr' });
    if (csr.kind !== 'csr') throw new Error('expected CSR');
    let longest = 0;
    for (let r = 0; r < csr.m; r++) longest = Math.max(longest, csr.indptr[r + 1]! - csr.indptr[r]!);
    // the first case is too narrow on purpose: truncation and the dropped counts are checked too
    const width = i === 0 ? Math.max(1, longest - 2) : longest + i;
    const i32 = (a: Int32Array) => ({ desc: { dtype: 'i32' as const, shape: [a.length] }, data: a });
    return {
      label: `${label} width ${width} (longest row ${longest})`,
      attrs: { width },
      inputs: [
        i32(csr.indptr),
        i32(csr.indices),
        { desc: { dtype: 'f32' as const, shape: [csr.vals.length] }, data: csr.vals },
      ],
    };
  });
}

export const csrToEllOp = defineOp<CsrToEllAttrs>({
  name: OP,
  outputs(attrs, inputs) {
    const { m, width } = csrToEllGeometry(attrs, inputs);
    return [
      { dtype: 'i32', shape: [m, width] },
      { dtype: 'f32', shape: [m, width] },
      { dtype: 'i32', shape: [m] },
    ];
  },
  reference: (attrs, [indptr, indices, vals]) => csrToEllReference(indptr!, indices!, vals!, attrs.width),
  cases,
  // a copy: bit-exact
  tolerance: () => ({ abs: 0, rel: 0 }),
});

export const csrToEllKernel: GpuKernel = {
  op: OP,
  whyUnsupported: (_caps, attrs, inputs) => whyNot(() => csrToEllGeometry(attrs, inputs)),
  encode(ctx, attrs, inputs, outputs) {
    const { m, width } = csrToEllGeometry(attrs, inputs);
    ctx.dispatch(
      { label: 'csr_to_ell', wgsl: csrToEllWgsl(), access: ['read', 'read', 'read', 'rw', 'rw', 'rw', 'uniform'] },
      [...inputs, ...outputs],
      new Uint32Array([m, width, 0, 0]),
      grid2d(Math.ceil(m / WORKGROUP), ctx.caps.maxComputeWorkgroupsPerDimension),
    );
  },
};
