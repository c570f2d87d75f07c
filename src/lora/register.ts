/**
 * Hands the LoRA ops and their WebGPU and CPU kernels to the registries of the layers below. Called once
 * from `src/register-all.ts`.
 */
import { registerCpuKernels } from '../backends/cpu/cpu-kernel-registry.js';
import { registerGpuKernels } from '../backends/webgpu/kernel-registry.js';
import { registerOps } from '../ops/registry.js';
import { LORA_CPU_KERNELS } from './lora-cpu.js';
import { loraDeltaOp } from './lora-delta.js';
import { loraDeltaKernel } from './lora-delta-kernel.js';
import { LORA_KERNELS } from './lora-kernels.js';
import { LORA_OPS } from './lora-ops.js';

export function registerLora(): void {
  registerOps([...LORA_OPS, loraDeltaOp]);
  registerGpuKernels([...LORA_KERNELS, loraDeltaKernel]);
  registerCpuKernels(LORA_CPU_KERNELS);
}
