import { describe, expect, it } from 'vitest';
import type { Capabilities } from '../../src/backends/webgpu/capabilities.js';
import { WebGpuBackend } from '../../src/backends/webgpu/webgpu-backend.js';
import { planMatmul } from '../../src/kernels/matmul-common.js';
import {
  type SkinnyParams,
  skinnyParams,
  skinnyParamsProblem,
  skinnySharedBytes,
  skinnyShapeProblem,
  skinnyTuning,
} from '../../src/kernels/skinny-gemm-params.js';
import { skinnySgmatWgsl } from '../../src/kernels/skinny-gemm-sgmat.js';
import { SKINNY_TABLE } from '../../src/kernels/skinny-gemm-table.js';
import { skinnyGemmKernel } from '../../src/kernels/skinny-gemm.js';
import { type MatmulAttrs, matmulOp } from '../../src/ops/matmul.js';
import type { OpCase } from '../../src/ops/op-spec.js';
import { randomInput } from '../../src/ops/test-data.js';
import type { DType } from '../../src/tensor/dtype.js';
import { runCase } from '../../src/testing/conformance.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { Rng } from '../../src/util/rng.js';
import { gpuBackend, gpuSkipReason } from '../gpu-setup.js';

const seed = testSeed();
const rng = new Rng(seed);
const gpu = await gpuBackend();

function makeCase(
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
  return { label: `${M}x${N}x${K} ${ad}·${bd} ${JSON.stringify(attrs)}`, attrs: { transB: true, ...attrs }, inputs };
}

/** Runs the case on the skinny kernel (forced) against the float64 oracle, with `t` or the table. */
async function expectOk(b: WebGpuBackend, c: OpCase, t: SkinnyParams | null = null): Promise<void> {
  skinnyTuning.override = t;
  try {
    const r = await runCase(b, matmulOp, { ...c, attrs: { ...c.attrs, path: 'skinny' } });
    expect(r.skipped ?? '', `${c.label} ${JSON.stringify(t)}`).toBe('');
    expect(r.message ?? 'ok', `${c.label} ${JSON.stringify(t)}`).toBe('ok');
  } finally {
    skinnyTuning.override = null;
  }
}

const H100_LIKE = {
  f16: true,
  subgroups: true,
  subgroupMinSize: 32,
  subgroupMaxSize: 32,
  subgroupMatrix: [{ componentType: 'f16', resultComponentType: 'f32', M: 16, N: 16, K: 16 }],
  maxComputeWorkgroupStorageSize: 49152,
  maxComputeInvocationsPerWorkgroup: 1024,
  maxComputeWorkgroupSizeX: 1024,
  maxStorageBufferBindingSize: 2 ** 31,
} as unknown as Capabilities;

describe('skinny GEMM parameters and tensor-core generator (no GPU needed)', () => {
  it('leaves M = 1 to GEMV and picks tensor cores where the device has them', () => {
    const simt = { variant: 'simt', KL: 32, MT: 4, RL: 4, RG: 1 } as const;
    const table = {
      source: 'test',
      buckets: [
        { maxM: 1, simt: null, sgmat: null },
        { maxM: 64, simt, sgmat: { variant: 'sgmat', S: 4, TN: 1, BK: 32 } as const },
      ],
    };
    expect(skinnyParams(table, 1, H100_LIKE)).toBeNull();
    expect(skinnyParams(table, 64, H100_LIKE)?.variant).toBe('sgmat');
    expect(skinnyParams(table, 64, { ...H100_LIKE, subgroupMatrix: [] })?.variant).toBe('simt');
    expect(skinnyParams(table, 65, H100_LIKE)).toBeNull();
    expect(skinnyParams(SKINNY_TABLE, 1, H100_LIKE)).toBeNull();
  });
  it('refuses parameter sets that do not fit the device, saying why', () => {
    const simt = { variant: 'simt', KL: 32, MT: 4, RL: 4, RG: 1 } as const;
    expect(skinnyParamsProblem(simt, 64, H100_LIKE)).toMatch(/workgroup memory/);
    expect(skinnyParamsProblem({ ...simt, KL: 8 }, 8, H100_LIKE)).toMatch(/subgroup size/);
    expect(skinnyParamsProblem({ ...simt, RL: 3 }, 8, H100_LIKE)).toMatch(/even/);
    expect(skinnyParamsProblem(simt, 8, { ...H100_LIKE, subgroups: false })).toMatch(/subgroups/);
    expect(skinnyParamsProblem({ variant: 'sgmat', S: 4, TN: 1, BK: 24 }, 8, H100_LIKE)).toMatch(/BK/);
    expect(
      skinnyParamsProblem({ variant: 'sgmat', S: 4, TN: 1, BK: 32 }, 8, { ...H100_LIKE, subgroupMatrix: [] }),
    ).toMatch(/subgroup-matrix/);
  });
  it('gives every tensor-core matrix load a constant offset and stages all of M once', () => {
    for (const M of [2, 17, 64]) {
      const p = planMatmul(
        { transB: true },
        [
          { dtype: 'f16', shape: [M, 264] },
          { dtype: 'bf16', shape: [200, 264] },
        ],
        'bf16',
        H100_LIKE,
      );
      const wgsl = skinnySgmatWgsl(p, H100_LIKE, H100_LIKE.subgroupMatrix[0]!, {
        variant: 'sgmat',
        S: 4,
        TN: 2,
        BK: 32,
      });
      const loads = [...wgsl.matchAll(/subgroupMatrixLoad<[^(]*>\(&\w+, ([^,]+), (\d+)u\)/g)];
      expect(loads.length).toBe(2 * 4 * 2 * (Math.ceil(M / 16) + 2));
      for (const l of loads) expect(l[1]).toMatch(/^\d+u$/);
      expect(wgsl).not.toMatch(/splitk|wg\.z/);
    }
  });
  it('sizes and refuses register-depth and in-place-activation sets, and stops at M = 128', () => {
    const ag = { variant: 'sgmat', S: 4, TN: 2, BK: 32, D: 2, AG: true } as const;
    expect(skinnyParamsProblem({ ...ag, D: 3 }, 16, H100_LIKE)).toMatch(/D 3/);
    expect(skinnyParamsProblem(ag, 128, H100_LIKE)).toBeNull();
    // in place, workgroup memory holds the double-buffered weights and the reduction only
    expect(skinnySharedBytes(ag, 128, H100_LIKE)).toBe(2 * 32 * 136 * 2 + 4 * 256 * 4);
    expect(skinnySharedBytes({ ...ag, AG: false }, 128, H100_LIKE)).toBe(2 * (128 + 32) * 136 * 2 + 4 * 256 * 4);
    expect(skinnyShapeProblem(ag, 48, 4096, 'f16', H100_LIKE)).toBeNull();
    expect(skinnyShapeProblem(ag, 20, 4096, 'f16', H100_LIKE)).toMatch(/multiple of 16/);
    expect(skinnyShapeProblem(ag, 32, 4100, 'f16', H100_LIKE)).toMatch(/S·BK = 128/);
    expect(skinnyShapeProblem(ag, 32, 4096, 'bf16', H100_LIKE)).toMatch(/f16 activations/);
    expect(skinnyShapeProblem({ ...ag, AG: false }, 20, 4100, 'bf16', H100_LIKE)).toBeNull();
    const table = { source: 'test', buckets: [{ maxM: 128, simt: null, sgmat: ag }] };
    expect(skinnyParams(table, 128, H100_LIKE)).toEqual(ag);
    expect(skinnyParams(table, 129, H100_LIKE)).toBeNull();
    // without a bucket reaching M = 100 (the table as committed on 2026-12-07), M = 65–128 stays with the GEMM
    const why = skinnyGemmKernel.whyUnsupported(H100_LIKE, { transB: true }, [
      { dtype: 'f16', shape: [100, 4096] },
      { dtype: 'bf16', shape: [4096, 4096] },
    ]);
    if (!SKINNY_TABLE.buckets.some((b) => b.maxM >= 100)) expect(why).toMatch(/leaves M = 100/);
  });
  it('loads activations in place with AG and keeps D register sets of weights', () => {
    const p = planMatmul(
      { transB: true },
      [
        { dtype: 'f16', shape: [48, 512] },
        { dtype: 'bf16', shape: [200, 512] },
      ],
      'f16',
      H100_LIKE,
    );
    const t = { variant: 'sgmat', S: 4, TN: 2, BK: 32, D: 4, AG: true } as const;
    const wgsl = skinnySgmatWgsl(p, H100_LIKE, H100_LIKE.subgroupMatrix[0]!, t);
    expect(wgsl).not.toMatch(/var<workgroup> As/);
    expect(wgsl).toMatch(/var<storage, read> a: array<f16>/);
    // the loop body is unrolled to 4 slices: 4 × S × BK/16 steps × MT (3) in-place activation loads
    expect([...wgsl.matchAll(/subgroupMatrixLoad<subgroup_matrix_left<[^>]*>, row_major>\(&a, /g)].length).toBe(
      4 * 4 * 2 * 3,
    );
    for (const d of [0, 1, 2, 3]) expect(wgsl).toMatch(new RegExp(`var rb${d}_0: vec4<u32>;`));
    expect(wgsl).not.toMatch(/rb4_0/);
    // bf16 is re-rounded where it is stored, never where it is loaded
    expect(wgsl).not.toMatch(/= b\[[^;]*pack2x16float/);
  });
  it('turns down operands it cannot read, with a reason', () => {
    const why = (ad: DType, bd: DType, K: number, attrs: MatmulAttrs = { transB: true }, M = 16) =>
      skinnyGemmKernel.whyUnsupported(H100_LIKE, attrs, [
        { dtype: ad, shape: [M, K] },
        { dtype: bd, shape: [64, K] },
      ]);
    expect(why('f16', 'bf16', 100)).toMatch(/multiple of 8/);
    expect(why('f16', 'f32', 64)).toMatch(/half weights/);
    expect(why('f16', 'f16', 64, {})).toMatch(/transB/);
    // f32 activations and precise bf16 take the SIMT variant; forced onto tensor cores they are refused
    expect(why('f32', 'bf16', 64, { transB: true }, 16)).toBeNull();
    expect(skinnyParams(SKINNY_TABLE, 16, H100_LIKE, false)?.variant).toBe('simt');
    skinnyTuning.override = { variant: 'sgmat', S: 4, TN: 1, BK: 32 };
    try {
      expect(why('f32', 'bf16', 64)).toMatch(/f32 activations/);
      expect(why('f16', 'bf16', 64, { transB: true, precise: true })).toMatch(/precise/);
    } finally {
      skinnyTuning.override = null;
    }
    expect(why('f16', 'bf16', 64)).toBeNull();
  });
});

describe.skipIf(!gpu)(
  `skinny GEMM against the float64 oracle (${seedNote(seed)})${gpu ? '' : ` (skipped: ${gpuSkipReason()})`}`,
  () => {
    it('M ∈ {10, 12, 14, 16, 17, 33, 64} (the table gives M ≤ 8 to the GEMV), N and K off the tiles, mixed dtypes and epilogues (table parameters)', async () => {
      const shapes: [number, number, number, DType, DType, MatmulAttrs, number[][]][] = [
        [10, 66, 200, 'f16', 'bf16', {}, []],
        [12, 34, 264, 'bf16', 'f16', { outDtype: 'f16' }, []],
        [14, 301, 520, 'f32', 'bf16', { outDtype: 'bf16' }, []],
        [16, 130, 8, 'f16', 'f16', { epilogue: 'x0 + x1' }, [[130]]],
        [17, 99, 776, 'bf16', 'bf16', { epilogue: 'silu(x0) * x1', outDtype: 'f32' }, [[17, 99]]],
        [33, 72, 136, 'f16', 'bf16', { epilogue: 'x0 * x1', outDtype: 'bf16' }, [[33, 1]]],
        [64, 45, 1032, 'f16', 'bf16', { outDtype: 'bf16' }, []],
      ];
      for (const [M, N, K, ad, bd, attrs, extra] of shapes)
        await expectOk(gpu!, makeCase(M, N, K, ad, bd, attrs, extra));
    });

    it('every SIMT register blocking agrees with the oracle', async () => {
      const sg = gpu!.caps.subgroupMaxSize;
      const sets: SkinnyParams[] = [
        { variant: 'simt', KL: sg, MT: 1, RL: 2, RG: 1 },
        { variant: 'simt', KL: sg, MT: 3, RL: 1, RG: 2 },
        { variant: 'simt', KL: 2 * sg, MT: 2, RL: 6, RG: 1 },
        { variant: 'simt', KL: sg, MT: 8, RL: 4, RG: 2 },
      ];
      for (const t of sets) {
        for (const M of [2, 5, 17])
          await expectOk(gpu!, makeCase(M, 38, 8 * (2 * sg + 3), 'bf16', 'bf16', { outDtype: 'bf16' }), t);
      }
    });

    it('takes decode-sized M by default and splits weights over a lowered binding limit', async () => {
      // M = 12: past the GEMV's rows in the table (M ≤ 8), inside the skinny GEMM's
      const a = gpu!.alloc({ dtype: 'f16', shape: [12, 64] }, 'skinny.a');
      const w = gpu!.alloc({ dtype: 'bf16', shape: [64, 64] }, 'skinny.w');
      const out = gpu!.alloc({ dtype: 'f16', shape: [12, 64] }, 'skinny.c');
      const rec = gpu!.record(() => gpu!.run('matmul', { transB: true }, [a, w], [out]));
      expect(rec.dispatches.map((d) => d.label).join(' ')).toMatch(/matmul\.skinny\.simt/);
      rec.destroy();
      for (const t of [a, w, out]) gpu!.free(t);
      const b = new WebGpuBackend({ ...gpu!.ctx, caps: { ...gpu!.caps, maxStorageBufferBindingSize: 64 * 1024 } });
      const big = makeCase(12, 301, 136, 'f16', 'bf16', { epilogue: 'x0 + x1' }, [[301]]);
      expect(big.inputs[1]!.data.byteLength).toBeGreaterThan(64 * 1024);
      const before = b.dispatchCount;
      await expectOk(b, big);
      expect(b.dispatchCount - before).toBeGreaterThan(1);
    });
  },
);

if (!gpu) it.skip(`skinny GEMM on WebGPU (skipped: ${gpuSkipReason()})`, () => {});
