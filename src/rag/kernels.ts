/** The WebGPU kernel of `ivf_scan`: a thread per (query, vector) distance, a 2-D grid past the per-dimension limit. */
import { grid2d } from '../backends/webgpu/grid.js';
import { type GpuKernel, whyNot } from '../backends/webgpu/kernel.js';
import { IVF_SCAN_WORKGROUP, ivfScanGeometry, ivfScanWgsl } from './ivf-scan.js';

const ivfScanKernel: GpuKernel = {
  op: 'ivf_scan',
  whyUnsupported: (_caps, _attrs, inputs) => whyNot(() => ivfScanGeometry(inputs)),
  encode(ctx, _attrs, inputs, [out]) {
    const { nq, m, d, f16 } = ivfScanGeometry(inputs);
    ctx.dispatch(
      { label: `ivf_scan.${f16 ? 'f16' : 'f32'}`, wgsl: ivfScanWgsl(f16), access: ['read', 'read', 'rw', 'uniform'] },
      [...inputs, out!],
      new Uint32Array([nq, m, d, 0]),
      grid2d(Math.ceil((nq * m) / IVF_SCAN_WORKGROUP), ctx.caps.maxComputeWorkgroupsPerDimension),
    );
  },
};

export const RAG_KERNELS: readonly GpuKernel[] = [ivfScanKernel];
