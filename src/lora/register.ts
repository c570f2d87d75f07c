/**
 * Hands the LoRA ops and their WebGPU kernels to the registries of the layers below. Called once
 * from `src/register-all.ts`.
 */
import { registerGpuKernels } from '../backends/webgpu/kernel-registry.js';
import { registerOps } from '../ops/registry.js';
import { LORA_KERNELS } from './lora-kernels.js';
import { LORA_OPS } from './lora-ops.js';

export function registerLora(): void {
  registerOps(LORA_OPS);
  registerGpuKernels(LORA_KERNELS);
}
