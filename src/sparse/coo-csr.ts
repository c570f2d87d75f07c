/**
 * COO ↔ CSR on the device. Canonical COO and CSR store the same column and value arrays in the
 * same order, so a conversion rebuilds only the row structure:
 *
 * - `coo_to_csr` (attribute `m`): rows i32[nnz] (sorted) → indptr i32[m+1], a thread per i with
 *   indptr[i] = the number of entries whose row is below i (a binary search over the rows);
 * - `csr_to_coo`: indptr i32[m+1], indices i32[nnz] → rows i32[nnz], a thread per entry e with
 *   rows[e] = the i where indptr[i] ≤ e < indptr[i+1] (a binary search over indptr, so one huge
 *   row costs no more than many short ones). `indices` only gives the entry count.
 *
 * Each has its float64 reference and a CPU kernel; both are exact (integer outputs).
 */
import type { Attrs, TensorDesc } from '../backends/backend.js';
import type { CpuKernel } from '../backends/cpu/cpu-kernel-registry.js';
import type { OpImpl } from '../backends/cpu/cpu-op-context.js';
import { grid2d } from '../backends/webgpu/grid.js';
import { type GpuKernel, whyNot } from '../backends/webgpu/kernel.js';
import { uniformDecl } from '../kernels/wgsl-dtype.js';
import { defineOp } from '../ops/op-spec.js';
import type { Rng } from '../util/rng.js';
import { csrFromCoo } from './convert.js';
import { caseMatrices } from './ops.js';

const WORKGROUP = 64;

export interface CooToCsrAttrs {
  readonly m: number;
  readonly [key: string]: unknown;
}

function fail(op: string, msg: string): never {
  throw new Error(`${op}: ${msg}`);
}

export function cooToCsrGeometry(attrs: Attrs, inputs: readonly TensorDesc[]): { m: number; nnz: number } {
  const op = 'coo_to_csr';
  if (inputs.length !== 1) fail(op, `takes 1 input (rows), ${inputs.length} given`);
  const rows = inputs[0]!;
  if (rows.dtype !== 'i32' || rows.shape.length !== 1) fail(op, 'rows must be 1-D i32');
  const m = (attrs as { m?: unknown }).m;
  if (typeof m !== 'number' || !Number.isInteger(m) || m < 0)
    fail(op, `attrs.m must be a non-negative integer, got ${String(m)}`);
  return { m, nnz: rows.shape[0]! };
}

export function csrToCooGeometry(inputs: readonly TensorDesc[]): { m: number; nnz: number } {
  const op = 'csr_to_coo';
  if (inputs.length !== 2) fail(op, `takes 2 inputs (indptr, indices), ${inputs.length} given`);
  const [indptr, indices] = inputs as [TensorDesc, TensorDesc];
  if (indptr.dtype !== 'i32' || indptr.shape.length !== 1 || indptr.shape[0]! < 1)
    fail(op, 'indptr must be a non-empty 1-D i32 tensor');
  if (indices.dtype !== 'i32' || indices.shape.length !== 1) fail(op, 'indices must be 1-D i32');
  return { m: indptr.shape[0]! - 1, nnz: indices.shape[0]! };
}

export function cooToCsrReference(rows: ArrayLike<number>, m: number): Float64Array {
  const indptr = new Float64Array(m + 1);
  for (let e = 0; e < rows.length; e++) indptr[rows[e]! + 1]!++;
  for (let i = 0; i < m; i++) indptr[i + 1]! += indptr[i]!;
  return indptr;
}

export function csrToCooReference(indptr: ArrayLike<number>, nnz: number): Float64Array {
  const rows = new Float64Array(nnz);
  for (let i = 0; i + 1 < indptr.length; i++) rows.fill(i, indptr[i]!, indptr[i + 1]!);
  return rows;
}

export function cooToCsrWgsl(): string {
  return `@group(0) @binding(0) var<storage, read> rows: array<i32>;
@group(0) @binding(1) var<storage, read_write> indptr: array<i32>;
${uniformDecl(2, 4)}
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * ${WORKGROUP}u + lid;
  if (i > uw(0u)) { return; }
  // the first entry whose row is not below i
  var lo = 0u;
  var hi = uw(1u);
  while (lo < hi) {
    let mid = (lo + hi) / 2u;
    if (u32(rows[mid]) < i) { lo = mid + 1u; } else { hi = mid; }
  }
  indptr[i] = i32(lo);
}`;
}

export function csrToCooWgsl(): string {
  return `@group(0) @binding(0) var<storage, read> indptr: array<i32>;
@group(0) @binding(1) var<storage, read> indices: array<i32>;
@group(0) @binding(2) var<storage, read_write> rows: array<i32>;
${uniformDecl(3, 4)}
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let e = (wid.x + wid.y * nwg.x) * ${WORKGROUP}u + lid;
  if (e >= uw(1u)) { return; }
  // the last i with indptr[i] <= e: empty rows share their indptr with the next row and are skipped
  var lo = 0u;
  var hi = uw(0u);
  while (lo < hi) {
    let mid = (lo + hi + 1u) / 2u;
    if (u32(indptr[mid]) <= e) { lo = mid; } else { hi = mid - 1u; }
  }
  rows[e] = i32(lo);
}`;
}

const i32 = (a: Int32Array) => ({ desc: { dtype: 'i32' as const, shape: [a.length] }, data: a });

export const cooToCsrOp = defineOp<CooToCsrAttrs>({
  name: 'coo_to_csr',
  outputs(attrs, inputs) {
    return [{ dtype: 'i32', shape: [cooToCsrGeometry(attrs, inputs).m + 1] }];
  },
  reference: (attrs, [rows]) => [cooToCsrReference(rows!, attrs.m)],
  cases: (rng: Rng) =>
    caseMatrices(rng).map(({ label, coo }) => ({ label, attrs: { m: coo.m }, inputs: [i32(coo.rows)] })),
  tolerance: () => ({ abs: 0, rel: 0 }),
});

export const csrToCooOp = defineOp({
  name: 'csr_to_coo',
  outputs(_attrs, inputs) {
    return [{ dtype: 'i32', shape: [csrToCooGeometry(inputs).nnz] }];
  },
  reference: (_attrs, [indptr], descs) => [csrToCooReference(indptr!, csrToCooGeometry(descs).nnz)],
  cases: (rng: Rng) =>
    caseMatrices(rng).map(({ label, coo }) => {
      const csr = csrFromCoo(coo);
      return { label, attrs: {}, inputs: [i32(csr.indptr), i32(csr.indices)] };
    }),
  tolerance: () => ({ abs: 0, rel: 0 }),
});

export const COO_CSR_KERNELS: readonly GpuKernel[] = [
  {
    op: 'coo_to_csr',
    whyUnsupported: (_caps, attrs, inputs) => whyNot(() => cooToCsrGeometry(attrs, inputs)),
    encode(ctx, attrs, inputs, outputs) {
      const { m, nnz } = cooToCsrGeometry(attrs, inputs);
      ctx.dispatch(
        { label: 'coo_to_csr', wgsl: cooToCsrWgsl(), access: ['read', 'rw', 'uniform'] },
        [...inputs, ...outputs],
        new Uint32Array([m, nnz, 0, 0]),
        grid2d(Math.ceil((m + 1) / WORKGROUP), ctx.caps.maxComputeWorkgroupsPerDimension),
      );
    },
  },
  {
    op: 'csr_to_coo',
    whyUnsupported: (_caps, _attrs, inputs) => whyNot(() => csrToCooGeometry(inputs)),
    encode(ctx, _attrs, inputs, outputs) {
      const { m, nnz } = csrToCooGeometry(inputs);
      if (nnz === 0) return;
      ctx.dispatch(
        { label: 'csr_to_coo', wgsl: csrToCooWgsl(), access: ['read', 'read', 'rw', 'uniform'] },
        [...inputs, ...outputs],
        new Uint32Array([m, nnz, 0, 0]),
        grid2d(Math.ceil(nnz / WORKGROUP), ctx.caps.maxComputeWorkgroupsPerDimension),
      );
    },
  },
];

const cooToCsrCpu: OpImpl = (ctx, attrs, inputs, [out]) => {
  const { m, nnz } = cooToCsrGeometry(attrs, inputs);
  const rows = ctx.heap.i32(ctx.addr(inputs[0]!), nnz);
  const indptr = ctx.heap.i32(ctx.addr(out!), m + 1);
  indptr.fill(0);
  for (let e = 0; e < nnz; e++) indptr[rows[e]! + 1]!++;
  for (let i = 0; i < m; i++) indptr[i + 1]! += indptr[i]!;
};

const csrToCooCpu: OpImpl = (ctx, _attrs, inputs, [out]) => {
  const { m, nnz } = csrToCooGeometry(inputs);
  const indptr = ctx.heap.i32(ctx.addr(inputs[0]!), m + 1);
  const rows = ctx.heap.i32(ctx.addr(out!), nnz);
  for (let i = 0; i < m; i++) rows.fill(i, indptr[i]!, indptr[i + 1]!);
};

export const COO_CSR_CPU_KERNELS: readonly CpuKernel[] = [
  { op: 'coo_to_csr', run: cooToCsrCpu },
  { op: 'csr_to_coo', run: csrToCooCpu },
];
