/**
 * The WebGPU kernel library of the core ops: for each op, candidate kernels in order of
 * preference. The backend picks the first whose `whyUnsupported` is null (e.g. subgroup-matrix
 * GEMM, then tiled f32 GEMM). `src/register-all.ts` registers them with the backend's registry
 * (`src/backends/webgpu/kernel-registry.ts`); feature modules register their own kernels the same way.
 */
import type { GpuKernel } from '../backends/webgpu/kernel.js';
import { registerGpuKernels } from '../backends/webgpu/kernel-registry.js';
import { elementwiseKernel } from './elementwise.js';
import { MATMUL_KERNELS } from './matmul.js';
import { linearKernel } from './linear.js';
import { linearGroupKernel } from './linear-group.js';
import { reduceKernel } from './reduce.js';
import { softmaxKernel } from './softmax.js';
import { rmsnormKernel } from './rmsnorm.js';
import { layernormKernel } from './layernorm.js';
import { embeddingKernel } from './embedding.js';
import { ropeKernel } from './rope.js';
import { argmaxKernel } from './argmax.js';
import { sampleKernel } from './sample.js';

export const CORE_GPU_KERNELS: readonly GpuKernel[] = [
  elementwiseKernel,
  ...MATMUL_KERNELS,
  linearKernel,
  linearGroupKernel,
  reduceKernel,
  softmaxKernel,
  rmsnormKernel,
  layernormKernel,
  embeddingKernel,
  ropeKernel,
  argmaxKernel,
  sampleKernel,
];

export function registerCoreGpuKernels(): void {
  registerGpuKernels(CORE_GPU_KERNELS);
}
