/**
 * The matmul kernels in order of preference: the skinny GEMM for decode batches (the M its tuned
 * table claims), GEMV for decode-sized M against [N, K] weights, tensor cores through subgroup
 * matrices when the device has them (f16/bf16 operands), and the tiled f32 kernel that runs
 * everywhere. The backend takes the first whose `whyUnsupported` is null.
 */
import { gemvKernel } from './gemv.js';
import type { GpuKernel } from '../backends/webgpu/kernel.js';
import { matmulSubgroupMatrixKernel } from './matmul-subgroup-matrix.js';
import { matmulTiledKernel } from './matmul-tiled.js';
import { skinnyGemmKernel } from './skinny-gemm.js';

export const MATMUL_KERNELS: readonly GpuKernel[] = [
  skinnyGemmKernel,
  gemvKernel,
  matmulSubgroupMatrixKernel,
  matmulTiledKernel,
];
