/**
 * Hands the attention ops and their WebGPU and CPU kernels to the registries of the layers below
 * (`src/ops/registry.ts`, `src/backends/webgpu/kernel-registry.ts`, `src/backends/cpu/cpu-kernel-registry.ts`).
 * Called once from `src/register-all.ts`.
 */
import { registerCpuKernels } from '../backends/cpu/cpu-kernel-registry.js';
import { registerGpuKernels } from '../backends/webgpu/kernel-registry.js';
import { registerOps } from '../ops/registry.js';
import { ATTENTION_KERNELS } from './kernels.js';
import { ATTENTION_OPS } from './ops.js';
import { KV_QUANT_CPU_KERNELS } from './kv-quant-cpu.js';
import { qkvAppendCpuKernel } from './qkv-append-cpu.js';

export function registerAttention(): void {
  registerOps(ATTENTION_OPS);
  registerGpuKernels(ATTENTION_KERNELS);
  registerCpuKernels([qkvAppendCpuKernel, ...KV_QUANT_CPU_KERNELS]);
}
