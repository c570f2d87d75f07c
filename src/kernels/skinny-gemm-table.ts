/**
 * The skinny GEMM's parameters per M bucket: the first bucket whose `maxM` ≥ M applies; `params`
 * null leaves that M to the other matmul kernels (GEMV at M = 1). `sgmat` entries apply where the
 * device has f16 subgroup matrices, `simt` everywhere else. `bench/skinny-tune.ts` measures the
 * variants on the H100 and writes this file with the winners.
 */
import type { SkinnyTable } from './skinny-gemm-params.js';

export const SKINNY_TABLE: SkinnyTable = {
  // untuned: the tensor-core entries stay empty until the sweep has checked that variant on a device with subgroup matrices
  source: 'untuned defaults: register blocking sized by M (SIMT); no tensor-core entries yet',
  buckets: [
    { maxM: 1, simt: null, sgmat: null },
    { maxM: 4, simt: { variant: 'simt', KL: 32, MT: 4, RL: 4, RG: 2 }, sgmat: null },
    { maxM: 8, simt: { variant: 'simt', KL: 32, MT: 4, RL: 4, RG: 2 }, sgmat: null },
    {
      maxM: 16,
      simt: { variant: 'simt', KL: 32, MT: 4, RL: 4, RG: 1 },
      sgmat: null,
    },
    {
      maxM: 32,
      simt: { variant: 'simt', KL: 16, MT: 4, RL: 4, RG: 1 },
      sgmat: null,
    },
    {
      maxM: 64,
      simt: { variant: 'simt', KL: 8, MT: 8, RL: 4, RG: 2 },
      sgmat: null,
    },
  ],
};
