/**
 * The skinny GEMM's parameters per M bucket: the first bucket whose `maxM` ≥ M applies; `params`
 * null leaves that M to the other matmul kernels. `sgmat` entries apply where the device has f16
 * subgroup matrices, `simt` everywhere else. Written by bench/skinny-tune.ts from its winners
 * (the sweeps behind it: bench/tuning/skinny-tune-2026-12-07-h100-05db75a.json for M ≤ 32,
 * bench/tuning/skinny-tune-2026-12-07-h100-6836224.json for the mid-M sets at 64–256).
 */
import type { SkinnyTable } from './skinny-gemm-params.js';

export const SKINNY_TABLE: SkinnyTable = {
  source: 'bench/skinny-tune.ts on NVIDIA H100 80GB HBM3, 2026-12-07, commit 6836224',
  buckets: [
    {
      maxM: 1,
      simt: null,
      sgmat: null,
    },
    {
      maxM: 2,
      simt: {
        variant: 'simt',
        KL: 64,
        MT: 2,
        RL: 4,
        RG: 2,
      },
      sgmat: null,
    },
    {
      maxM: 4,
      simt: null,
      sgmat: null,
    },
    {
      maxM: 8,
      simt: null,
      sgmat: null,
    },
    {
      maxM: 16,
      simt: {
        variant: 'simt',
        KL: 32,
        MT: 2,
        RL: 8,
        RG: 1,
      },
      sgmat: {
        variant: 'sgmat',
        S: 4,
        TN: 1,
        BK: 32,
        D: 2,
      },
    },
    {
      maxM: 32,
      simt: {
        variant: 'simt',
        KL: 32,
        MT: 2,
        RL: 8,
        RG: 1,
      },
      sgmat: {
        variant: 'sgmat',
        S: 8,
        TN: 2,
        BK: 16,
        D: 2,
      },
    },
    {
      maxM: 64,
      simt: {
        variant: 'simt',
        KL: 8,
        MT: 8,
        RL: 4,
        RG: 2,
      },
      sgmat: {
        variant: 'mid',
        WM: 2,
        WN: 4,
        TM: 4,
        TN: 2,
        BK: 16,
        D: 4,
        SK: 8,
      },
    },
    {
      maxM: 128,
      simt: null,
      sgmat: {
        variant: 'mid',
        WM: 4,
        WN: 2,
        TM: 4,
        TN: 4,
        BK: 16,
        D: 2,
        SK: 8,
      },
    },
    {
      maxM: 256,
      simt: null,
      sgmat: {
        variant: 'mid',
        WM: 4,
        WN: 2,
        TM: 4,
        TN: 4,
        BK: 16,
        D: 2,
        SK: 8,
      },
    },
  ],
};
