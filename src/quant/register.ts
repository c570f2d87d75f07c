/**
 * Hands the quantized ops and their WebGPU kernels to the registries of the layers below
 * (`src/ops/registry.ts`, `src/backends/webgpu/kernel-registry.ts`). Called once from the composition root.
 */
import { registerGpuKernels } from '../backends/webgpu/kernel-registry.js';
import { registerOps } from '../ops/registry.js';
import { QUANT_KERNELS } from './kernels.js';
import { QUANT_OPS } from './ops.js';

export function registerQuant(): void {
  registerOps(QUANT_OPS);
  registerGpuKernels(QUANT_KERNELS);
}
