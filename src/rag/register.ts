/**
 * Hands the RAG op and its WebGPU kernel to the registries of the layers below
 * (`src/ops/registry.ts`, `src/backends/webgpu/kernel-registry.ts`). Called once from `src/register-portable.ts`.
 */
import { registerGpuKernels } from '../backends/webgpu/kernel-registry.js';
import { registerOps } from '../ops/registry.js';
import { ivfScanOp } from './ivf-scan.js';
import { RAG_KERNELS } from './kernels.js';

export function registerRag(): void {
  registerOps([ivfScanOp]);
  registerGpuKernels(RAG_KERNELS);
}
