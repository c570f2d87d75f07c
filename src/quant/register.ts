/**
 * Hands the quantized ops and their WebGPU and CPU kernels to the registries of the layers below
 * (`src/ops/registry.ts`, `src/backends/webgpu/kernel-registry.ts`, `src/backends/cpu/cpu-kernel-registry.ts`). Called once from the composition root.
 */
import { registerCpuKernels } from '../backends/cpu/cpu-kernel-registry.js';
import { registerGpuKernels } from '../backends/webgpu/kernel-registry.js';
import { registerOps } from '../ops/registry.js';
import { QUANT_KERNELS } from './kernels.js';
import { QUANT_OPS } from './ops.js';
import { quantMatmulCpuKernel } from './quant-cpu.js';
import { ATOM_CPU_KERNELS } from './w4a4-cpu.js';
import { ATOM_KERNELS } from './w4a4-kernels.js';
import { ATOM_OPS } from './w4a4-ops.js';

export function registerQuant(): void {
  registerOps([...QUANT_OPS, ...ATOM_OPS]);
  registerGpuKernels([...QUANT_KERNELS, ...ATOM_KERNELS]);
  registerCpuKernels([quantMatmulCpuKernel, ...ATOM_CPU_KERNELS]);
}
