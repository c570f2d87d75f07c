/**
 * WebGPU kernels of the GNN ops that are not SpMM/SDDMM: the fused RGCN (a loop-nest program,
 * `rgcn-lower.ts`) and the edge softmax.
 */
import type { TensorDesc } from '../backends/backend.js';
import { grid2d } from '../backends/webgpu/grid.js';
import { type GpuKernel, whyNot } from '../backends/webgpu/kernel.js';
import { EDGE_SOFTMAX_WORKGROUP, edgeSoftmaxGeometry, edgeSoftmaxWgsl } from './edge-softmax.js';
import { rgcnGeometry } from './rgcn.js';
import { compiledLoopProgram, dispatchLoopProgram } from './kernels.js';
import { rgcnProgram } from './rgcn-lower.js';

const rgcnKernel: GpuKernel = {
  op: 'rgcn_csr',
  whyUnsupported: (_caps, _attrs, inputs: readonly TensorDesc[]) => whyNot(() => rgcnGeometry(inputs)),
  encode(ctx, _attrs, inputs, [y]) {
    const { m, k, nnz, relations, fin, fout } = rgcnGeometry(inputs);
    const c = compiledLoopProgram('rgcn_csr', rgcnProgram);
    dispatchLoopProgram(ctx, 'rgcn_csr', c, [...inputs, y!], { m, k, nnz, R: relations, fin, fout });
  },
};

const edgeSoftmaxKernel: GpuKernel = {
  op: 'edge_softmax_csr',
  whyUnsupported: (_caps, _attrs, inputs) => whyNot(() => edgeSoftmaxGeometry(inputs)),
  encode(ctx, _attrs, inputs, [out]) {
    const { m } = edgeSoftmaxGeometry(inputs);
    ctx.dispatch(
      { label: 'edge_softmax_csr', wgsl: edgeSoftmaxWgsl(), access: ['read', 'read', 'rw', 'uniform'] },
      [...inputs, out!],
      new Uint32Array([m, 0, 0, 0]),
      grid2d(Math.ceil(m / EDGE_SOFTMAX_WORKGROUP), ctx.caps.maxComputeWorkgroupsPerDimension),
    );
  },
};

export const GNN_KERNELS: readonly GpuKernel[] = [rgcnKernel, edgeSoftmaxKernel];
