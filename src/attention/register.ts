/**
 * Hands the attention ops and their WebGPU kernels to the registries of the layers below
 * (`src/ops/registry.ts`, `src/backends/webgpu/kernel-registry.ts`). Called once from `src/register-all.ts`.
 */
import { registerGpuKernels } from '../backends/webgpu/kernel-registry.js';
import { registerOps } from '../ops/registry.js';
import { ATTENTION_KERNELS } from './kernels.js';
import { ATTENTION_OPS } from './ops.js';

export function registerAttention(): void {
  registerOps(ATTENTION_OPS);
  registerGpuKernels(ATTENTION_KERNELS);
}
