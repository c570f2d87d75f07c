/**
 * Hands the sparse ops and their WebGPU kernels, and the graph ops' and conversions' CPU kernels, to the registries of
 * the layers below (`src/ops/registry.ts`, `src/backends/webgpu/kernel-registry.ts`,
 * `src/backends/cpu/cpu-kernel-registry.ts`; the CPU backend has its own SpMM and SDDMM).
 * Called once from `src/register-all.ts`.
 */
import { registerCpuKernels } from '../backends/cpu/cpu-kernel-registry.js';
import { registerGpuKernels } from '../backends/webgpu/kernel-registry.js';
import { registerOps } from '../ops/registry.js';
import { COO_CSR_CPU_KERNELS, COO_CSR_KERNELS, cooToCsrOp, csrToCooOp } from './coo-csr.js';
import { csrToEllKernel, csrToEllOp } from './csr-to-ell.js';
import { edgeSoftmaxCsrOp } from './edge-softmax.js';
import { GNN_CPU_KERNELS } from './gnn-cpu.js';
import { GNN_KERNELS } from './gnn-kernels.js';
import { SPARSE_KERNELS } from './kernels.js';
import { SPARSE_OPS } from './ops.js';
import { rgcnCsrOp } from './rgcn.js';

export function registerSparse(): void {
  registerOps([...SPARSE_OPS, rgcnCsrOp, edgeSoftmaxCsrOp, csrToEllOp, cooToCsrOp, csrToCooOp]);
  registerGpuKernels([...SPARSE_KERNELS, ...GNN_KERNELS, csrToEllKernel, ...COO_CSR_KERNELS]);
  registerCpuKernels([...GNN_CPU_KERNELS, ...COO_CSR_CPU_KERNELS]);
}
