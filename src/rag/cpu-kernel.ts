/**
 * The CPU kernel of `ivf_scan`: the dense [queries, vectors] distance matrix through the CPU
 * backend's `l2Distances` (wasm SIMD, split by queries across its pool); f16 vectors are widened
 * to f32 scratch first. Shaped as a CPU-backend kernel registration (op, supports, run over the
 * backend's OpContext), for the backend's registry of feature-op kernels. The search does not go
 * through it (see cpu-scan.ts): it fuses the scan with a top-k.
 */
import type { Attrs, Tensor, TensorDesc } from '../backends/backend.js';
import type { OpContext } from '../backends/cpu/cpu-ops.js';
import { ivfScanGeometry } from './ivf-scan.js';

export interface IvfScanCpuKernel {
  readonly op: 'ivf_scan';
  readonly supports: (attrs: Attrs, inputs: readonly TensorDesc[]) => boolean;
  readonly run: (ctx: OpContext, attrs: Attrs, inputs: readonly Tensor[], outputs: readonly Tensor[]) => void;
}

export const ivfScanCpuKernel: IvfScanCpuKernel = {
  op: 'ivf_scan',
  supports: (_attrs, inputs) => {
    try {
      ivfScanGeometry(inputs);
      return true;
    } catch {
      return false;
    }
  },
  run: (ctx, _attrs, inputs, [out]) => {
    const { nq, m, d } = ivfScanGeometry(inputs);
    const [q, x] = inputs as [Tensor, Tensor];
    ctx.pool.run('l2Distances', [ctx.addr(q), ctx.f32(x), ctx.addr(out!), m, d], nq, nq * m * d);
  },
};
