/**
 * One matmul case for the skinny GEMM tests: A [M, K] and B [N, K] (B transposed, as the model's
 * weights are) of the given dtypes, f32 extras for epilogues, forced onto the skinny path.
 */
import type { MatmulAttrs } from '../../src/ops/matmul.js';
import type { OpCase } from '../../src/ops/op-spec.js';
import { randomInput } from '../../src/ops/test-data.js';
import type { DType } from '../../src/tensor/dtype.js';
import type { Rng } from '../../src/util/rng.js';

export function skinnyCase(
  rng: Rng,
  M: number,
  N: number,
  K: number,
  ad: DType,
  bd: DType,
  attrs: MatmulAttrs,
  extra: number[][] = [],
): OpCase {
  const inputs = [
    randomInput(rng, ad, [M, K]),
    randomInput(rng, bd, [N, K]),
    ...extra.map((s) => randomInput(rng, 'f32', s)),
  ];
  return {
    label: `${M}x${N}x${K} ${ad}·${bd} ${JSON.stringify(attrs)}`,
    attrs: { transB: true, path: 'skinny', ...attrs },
    inputs,
  } as OpCase;
}
