import { useSgmat } from '../../src/attention/kernels.js';
import type { PagedAttentionAttrs } from '../../src/attention/ops.js';
import type { AttentionTuning } from '../../src/attention/tuning.js';
import type { WebGpuBackend } from '../../src/backends/webgpu/webgpu-backend.js';
import type { OpCase } from '../../src/ops/op-spec.js';

/** The case with `tuning` on its attrs, the path BatchAttention's tuning option takes to the kernel. */
export function withTuning(c: OpCase<PagedAttentionAttrs>, tuning: AttentionTuning): OpCase<PagedAttentionAttrs> {
  return { ...c, attrs: { ...c.attrs, tuning } };
}

/** Whether the case would take the tensor-core template on this backend (with its attrs' tuning). */
export function useSgmatForTest(be: WebGpuBackend, c: OpCase<PagedAttentionAttrs>): boolean {
  return useSgmat(
    be.caps,
    c.attrs,
    c.inputs.map((x) => x.desc),
  );
}
