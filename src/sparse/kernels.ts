/**
 * WebGPU kernels of the sparse ops: each generates its WGSL from the format's row iteration and
 * the schedule in the attributes (`spmm-wgsl.ts`, `sddmm-wgsl.ts`); the pipeline cache keeps one
 * pipeline per distinct shader, so matrices of one format and schedule share it.
 */
import type { Attrs, TensorDesc } from '../backends/backend.js';
import type { Capabilities } from '../backends/webgpu/capabilities.js';
import { grid2d } from '../backends/webgpu/grid.js';
import { type GpuKernel, whyNot } from '../backends/webgpu/kernel.js';
import type { BindingAccess } from '../backends/webgpu/pipeline-cache.js';
import type { SpmmOpName } from './device-layout.js';
import { type SddmmAttrs, type SpmmAttrs, sddmmGeometry, spmmGeometry } from './ops.js';
import { sddmmWgsl } from './sddmm-wgsl.js';
import { scheduleName } from './schedule.js';
import {
  type RowIteration,
  bsrIteration,
  cooIteration,
  csrIteration,
  ellIteration,
  hybUniforms,
  hybWgsl,
  spmmWgsl,
} from './spmm-wgsl.js';

function iterationOf(op: Exclude<SpmmOpName, 'spmm_hyb'>, attrs: SpmmAttrs): RowIteration {
  switch (op) {
    case 'spmm_coo':
      return cooIteration();
    case 'spmm_csr':
      return csrIteration();
    case 'spmm_ell':
      return ellIteration();
    case 'spmm_bsr':
      return bsrIteration(attrs.block!);
  }
}

/** The format word of the uniforms: COO's nonzero count, ELL's width. */
function formatWord(op: SpmmOpName, inputs: readonly TensorDesc[]): number {
  if (op === 'spmm_coo') return inputs[0]!.shape[0]!;
  if (op === 'spmm_ell') return inputs[0]!.shape[1]!;
  return 0;
}

function spmmKernel(op: Exclude<SpmmOpName, 'spmm_hyb'>): GpuKernel {
  return {
    op,
    whyUnsupported: (_caps: Capabilities, attrs: Attrs, inputs: readonly TensorDesc[]) =>
      whyNot(() => spmmGeometry(op, attrs as SpmmAttrs, inputs)),
    encode(ctx, rawAttrs, inputs, [y]) {
      const attrs = rawAttrs as SpmmAttrs;
      const { m, k, f } = spmmGeometry(op, attrs, inputs);
      const s = attrs.schedule;
      const it = iterationOf(op, attrs);
      const fv = s.vec4 ? f / 4 : f;
      const access: BindingAccess[] = [...it.decls.map(() => 'read' as const), 'read', 'rw', 'uniform'];
      const block = op === 'spmm_bsr' ? `.b${attrs.block}` : '';
      ctx.dispatch(
        { label: `${op}${block}.${scheduleName(s)}`, wgsl: spmmWgsl(it, s), access },
        [...inputs, y!],
        new Uint32Array([m, fv, k, formatWord(op, inputs)]),
        grid2d(Math.ceil(m / s.rowsPerWorkgroup), ctx.caps.maxComputeWorkgroupsPerDimension),
      );
    },
  };
}

const spmmHybKernel: GpuKernel = {
  op: 'spmm_hyb',
  whyUnsupported: (_caps, attrs, inputs) => whyNot(() => spmmGeometry('spmm_hyb', attrs as SpmmAttrs, inputs)),
  encode(ctx, rawAttrs, inputs, [y]) {
    const attrs = rawAttrs as SpmmAttrs;
    const { f } = spmmGeometry('spmm_hyb', attrs, inputs);
    const s = attrs.schedule;
    const layout = attrs.layout!;
    const { words, workgroups } = hybUniforms(layout, s, s.vec4 ? f / 4 : f);
    ctx.dispatch(
      {
        label: `spmm_hyb.p${layout.parts.length}.${scheduleName(s)}`,
        wgsl: hybWgsl(layout, s),
        access: ['read', 'read', 'read', 'rw', 'uniform'],
      },
      [...inputs, y!],
      words,
      grid2d(workgroups, ctx.caps.maxComputeWorkgroupsPerDimension),
    );
  },
};

const sddmmCsrKernel: GpuKernel = {
  op: 'sddmm_csr',
  whyUnsupported: (_caps, attrs, inputs) => whyNot(() => sddmmGeometry(attrs as SddmmAttrs, inputs)),
  encode(ctx, rawAttrs, inputs, [out]) {
    const attrs = rawAttrs as SddmmAttrs;
    const { m, d, nnz } = sddmmGeometry(attrs, inputs);
    const s = attrs.schedule;
    ctx.dispatch(
      {
        label: `sddmm_csr.l${s.lanes}n${s.nnzPerWorkgroup}${s.vec4 ? 'v4' : ''}`,
        wgsl: sddmmWgsl(s),
        access: ['read', 'read', 'read', 'read', 'rw', 'uniform'],
      },
      [...inputs, out!],
      new Uint32Array([nnz, m, s.vec4 ? d / 4 : d, 0]),
      grid2d(Math.ceil(nnz / s.nnzPerWorkgroup), ctx.caps.maxComputeWorkgroupsPerDimension),
    );
  },
};

export const SPARSE_KERNELS: readonly GpuKernel[] = [
  spmmKernel('spmm_coo'),
  spmmKernel('spmm_csr'),
  spmmKernel('spmm_ell'),
  spmmKernel('spmm_bsr'),
  spmmHybKernel,
  sddmmCsrKernel,
];
