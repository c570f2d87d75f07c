/**
 * WebGPU kernels of `quant_matmul`, in order of preference: the decode GEMV for M ≤ 16 (weights
 * read once for all rows), then the tiled GEMM for any M. Both generate their WGSL per format
 * (and the GEMV per M); the pipeline cache keeps one pipeline per distinct shader.
 */
import type { Attrs, TensorDesc } from '../backends/backend.js';
import { grid2d } from '../backends/webgpu/grid.js';
import type { GpuKernel } from '../backends/webgpu/kernel.js';
import { GEMM_TILE, quantGemmWgsl } from './gemm-wgsl.js';
import { GEMV_MAX_M, quantGemvWgsl } from './gemv-wgsl.js';
import { quantMatmulGeometry } from './ops.js';

function whyNot(attrs: Attrs, inputs: readonly TensorDesc[]): string | null {
  try {
    quantMatmulGeometry(attrs, inputs);
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}

export const quantGemvKernel: GpuKernel = {
  op: 'quant_matmul',
  whyUnsupported(_caps, attrs, inputs) {
    const why = whyNot(attrs, inputs);
    if (why) return why;
    const { m } = quantMatmulGeometry(attrs, inputs);
    return m >= 1 && m <= GEMV_MAX_M ? null : `the GEMV takes 1..${GEMV_MAX_M} rows, got ${m}`;
  },
  encode(ctx, attrs, inputs, [y]) {
    const { m, n, k, format } = quantMatmulGeometry(attrs, inputs);
    const [gx, gy] = grid2d(n, ctx.caps.maxComputeWorkgroupsPerDimension);
    ctx.dispatch(
      {
        label: `quant_matmul.gemv.${format}.m${m}`,
        wgsl: quantGemvWgsl(format, m),
        access: ['read', 'read', 'rw', 'uniform'],
      },
      [...inputs, y!],
      new Uint32Array([m, n, k, gx]),
      [gx, gy],
    );
  },
};

export const quantGemmKernel: GpuKernel = {
  op: 'quant_matmul',
  whyUnsupported: (_caps, attrs, inputs) => whyNot(attrs, inputs),
  encode(ctx, attrs, inputs, [y]) {
    const { m, n, k, format } = quantMatmulGeometry(attrs, inputs);
    if (m === 0) return;
    const tiles = Math.ceil(m / GEMM_TILE) * Math.ceil(n / GEMM_TILE);
    const [gx, gy] = grid2d(tiles, ctx.caps.maxComputeWorkgroupsPerDimension);
    ctx.dispatch(
      { label: `quant_matmul.gemm.${format}`, wgsl: quantGemmWgsl(format), access: ['read', 'read', 'rw', 'uniform'] },
      [...inputs, y!],
      new Uint32Array([m, n, k, gx]),
      [gx, gy],
    );
  },
};

export const QUANT_KERNELS: readonly GpuKernel[] = [quantGemvKernel, quantGemmKernel];
