/**
 * x · wᵀ through a backend's `matmul` op beside the op's float64 reference of the same inputs: the
 * check the CPU GEMV/GEMM tests and the decode bench's self-check make before comparing.
 */
import type { Backend } from '../backends/backend.js';
import type { CaseInput } from '../ops/op-spec.js';
import { getOp } from '../ops/registry.js';
import { toFloat64 } from '../tensor/dtype.js';

export interface MatmulResult {
  /** The backend's [M, N] output, f32 read back as float64. */
  readonly got: Float64Array;
  /** The float64 reference. */
  readonly want: Float64Array;
}

/** Runs `matmul` with transB on `x` [M, K] and `w` [N, K] (its tensors freed after), and the reference. */
export async function matmulTransBAgainstReference(b: Backend, x: CaseInput, w: CaseInput): Promise<MatmulResult> {
  const attrs = { transB: true };
  const tx = b.alloc(x.desc);
  const tw = b.alloc(w.desc);
  const ty = b.alloc({ dtype: 'f32', shape: [x.desc.shape[0]!, w.desc.shape[0]!] });
  b.write(tx, x.data);
  b.write(tw, w.data);
  b.run('matmul', attrs, [tx, tw], [ty]);
  const got = toFloat64('f32', await b.read(ty));
  const want = getOp('matmul').reference(
    attrs,
    [toFloat64(x.desc.dtype, x.data), toFloat64(w.desc.dtype, w.data)],
    [x.desc, w.desc],
    [ty],
  )[0]!;
  for (const t of [tx, tw, ty]) b.free(t);
  return { got, want };
}
