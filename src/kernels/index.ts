/**
 * The WebGPU kernel library: for each op, candidate kernels in order of preference. The backend
 * picks the first whose `whyUnsupported` is null (e.g. subgroup-matrix GEMM, then tiled f32 GEMM).
 */
import type { GpuKernel } from './kernel.js';
import { elementwiseKernel } from './elementwise.js';
import { reduceKernel } from './reduce.js';

export const GPU_KERNELS: readonly GpuKernel[] = [
  elementwiseKernel,
  reduceKernel,
];
