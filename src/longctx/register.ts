/**
 * Hands the long-context op (`simhash_pack`) and its WebGPU and CPU kernels to the registries of
 * the layers below. Called once from `src/register-portable.ts`.
 */
import { registerCpuKernels } from '../backends/cpu/cpu-kernel-registry.js';
import { registerGpuKernels } from '../backends/webgpu/kernel-registry.js';
import { registerOps } from '../ops/registry.js';
import { simhashPackOp } from './simhash-pack.js';
import { simhashPackCpuKernel, simhashPackGpuKernel } from './simhash-pack-kernels.js';

export function registerLongctx(): void {
  registerOps([simhashPackOp]);
  registerGpuKernels([simhashPackGpuKernel]);
  registerCpuKernels([simhashPackCpuKernel]);
}
