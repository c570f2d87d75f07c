import { sgmatTuning } from '../../src/attention/attention-sgmat.js';
import { useSgmat } from '../../src/attention/kernels.js';
import type { PagedAttentionAttrs } from '../../src/attention/ops.js';
import type { WebGpuBackend } from '../../src/backends/webgpu/webgpu-backend.js';
import type { OpCase } from '../../src/ops/op-spec.js';

export { sgmatTuning };

/** Whether the case would take the tensor-core template on this backend (as tuned now). */
export function useSgmatForTest(be: WebGpuBackend, c: OpCase<PagedAttentionAttrs>): boolean {
  return useSgmat(
    be.caps,
    c.attrs,
    c.inputs.map((x) => x.desc),
  );
}
