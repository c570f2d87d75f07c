/** The WebGPU kernel of `ivf_scan`: a lane group per (query, vector) distance, a 2-D grid past the per-dimension limit. */
import { grid2d } from '../backends/webgpu/grid.js';
import { type GpuKernel, whyNot } from '../backends/webgpu/kernel.js';
import { IVF_SCAN_ROWS, ivfScanGeometry, ivfScanPlacement, ivfScanWgsl } from './ivf-scan.js';

const ivfScanKernel: GpuKernel = {
  op: 'ivf_scan',
  whyUnsupported: (_caps, attrs, inputs) =>
    whyNot(() => {
      const { nq, m } = ivfScanGeometry(inputs);
      ivfScanPlacement(attrs, nq, m);
    }),
  encode(ctx, attrs, inputs, [out]) {
    const { nq, m, d, f16 } = ivfScanGeometry(inputs);
    const { at } = ivfScanPlacement(attrs, nq, m);
    ctx.dispatch(
      { label: `ivf_scan.${f16 ? 'f16' : 'f32'}`, wgsl: ivfScanWgsl(f16), access: ['read', 'read', 'rw', 'uniform'] },
      [...inputs, out!],
      new Uint32Array([nq, m, d, at]),
      grid2d(Math.ceil((nq * m) / IVF_SCAN_ROWS), ctx.caps.maxComputeWorkgroupsPerDimension),
    );
  },
};

export const RAG_KERNELS: readonly GpuKernel[] = [ivfScanKernel];
