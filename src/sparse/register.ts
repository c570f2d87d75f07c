/**
 * Hands the sparse ops and their WebGPU kernels to the registries of the layers below
 * (`src/ops/registry.ts`, `src/backends/webgpu/kernel-registry.ts`). Called once from `src/register-all.ts`.
 */
import { registerGpuKernels } from '../backends/webgpu/kernel-registry.js';
import { registerOps } from '../ops/registry.js';
import { csrToEllKernel, csrToEllOp } from './csr-to-ell.js';
import { edgeSoftmaxCsrOp } from './edge-softmax.js';
import { GNN_KERNELS } from './gnn-kernels.js';
import { SPARSE_KERNELS } from './kernels.js';
import { SPARSE_OPS } from './ops.js';
import { rgcnCsrOp } from './rgcn.js';

export function registerSparse(): void {
  registerOps([...SPARSE_OPS, rgcnCsrOp, edgeSoftmaxCsrOp, csrToEllOp]);
  registerGpuKernels([...SPARSE_KERNELS, ...GNN_KERNELS, csrToEllKernel]);
}
