/**
 * Hands the RAG op and its WebGPU and CPU kernels to the registries of the layers below
 * (`src/ops/registry.ts`, `src/backends/webgpu/kernel-registry.ts`, `src/backends/cpu/cpu-kernel-registry.ts`). Called once from `src/register-portable.ts`.
 */
import { registerCpuKernels } from '../backends/cpu/cpu-kernel-registry.js';
import { registerGpuKernels } from '../backends/webgpu/kernel-registry.js';
import { registerOps } from '../ops/registry.js';
import { ivfScanCpuKernel } from './cpu-kernel.js';
import { ivfScanOp } from './ivf-scan.js';
import { RAG_KERNELS } from './kernels.js';

export function registerRag(): void {
  registerOps([ivfScanOp]);
  registerGpuKernels(RAG_KERNELS);
  registerCpuKernels([ivfScanCpuKernel]);
}
