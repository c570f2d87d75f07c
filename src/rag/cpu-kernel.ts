/**
 * The CPU kernel of `ivf_scan`: the dense [queries, vectors] distance matrix through the CPU
 * backend's `l2Distances` (wasm SIMD, split by queries across its pool); f16 vectors are widened
 * to f32 scratch first. Registered with the CPU backend's registry of feature-op kernels
 * (`register.ts`). The search does not go through it (see cpu-scan.ts): it fuses the scan with a top-k.
 */
import type { Tensor } from '../backends/backend.js';
import type { CpuKernel } from '../backends/cpu/cpu-kernel-registry.js';
import { ivfScanGeometry, ivfScanPlacement } from './ivf-scan.js';

export const ivfScanCpuKernel: CpuKernel = {
  op: 'ivf_scan',
  supports: (attrs, inputs) => {
    try {
      const { nq, m } = ivfScanGeometry(inputs);
      ivfScanPlacement(attrs, nq, m);
      return true;
    } catch {
      return false;
    }
  },
  run: (ctx, attrs, inputs, [out]) => {
    const { nq, m, d } = ivfScanGeometry(inputs);
    const { at } = ivfScanPlacement(attrs, nq, m);
    const [q, x] = inputs as [Tensor, Tensor];
    ctx.pool.run('l2Distances', [ctx.addr(q), ctx.f32(x), ctx.addr(out!) + 4 * at, m, d], nq, nq * m * d);
  },
};
