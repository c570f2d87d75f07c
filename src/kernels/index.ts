/**
 * The WebGPU kernel library: for each op, candidate kernels in order of preference. The backend
 * picks the first whose `whyUnsupported` is null (e.g. subgroup-matrix GEMM, then tiled f32 GEMM).
 */
import type { GpuKernel } from '../gpu/kernel.js';
import { elementwiseKernel } from './elementwise.js';
import { MATMUL_KERNELS } from './matmul.js';
import { reduceKernel } from './reduce.js';
import { softmaxKernel } from './softmax.js';
import { rmsnormKernel } from './rmsnorm.js';
import { layernormKernel } from './layernorm.js';
import { embeddingKernel } from './embedding.js';
import { ropeKernel } from './rope.js';
import { ATTENTION_KERNELS } from '../attention/kernels.js';
import { argmaxKernel } from './argmax.js';
import { sampleKernel } from './sample.js';
import { attentionKernel } from './attention.js';

export const GPU_KERNELS: readonly GpuKernel[] = [
  elementwiseKernel,
  ...MATMUL_KERNELS,
  reduceKernel,
  softmaxKernel,
  rmsnormKernel,
  layernormKernel,
  embeddingKernel,
  ropeKernel,
  ...ATTENTION_KERNELS,
  argmaxKernel,
  sampleKernel,
  attentionKernel,
];
