import { describe, expect, it } from 'vitest';
import type { Capabilities } from '../../src/backends/webgpu/capabilities.js';
import { WebGpuBackend } from '../../src/backends/webgpu/webgpu-backend.js';
import { gemvKernel } from '../../src/kernels/gemv.js';
import { DEFAULT_SGMAT, sgmatParams, sgmatTuning, splitLength } from '../../src/kernels/matmul-sgmat-params.js';
import { sgmatWgsl } from '../../src/kernels/matmul-sgmat-wgsl.js';
import { matmulSubgroupMatrixKernel } from '../../src/kernels/matmul-subgroup-matrix.js';
import { matmulTiledKernel } from '../../src/kernels/matmul-tiled.js';
import { planMatmul, weightRanges } from '../../src/kernels/matmul-common.js';
import type { GpuTensor } from '../../src/backends/webgpu/kernel.js';
import { type MatmulAttrs, matmulGeometry, matmulOp } from '../../src/ops/matmul.js';
import type { OpCase } from '../../src/ops/op-spec.js';
import { randomInput } from '../../src/ops/test-data.js';
import type { DType } from '../../src/tensor/dtype.js';
import { runCase } from '../../src/testing/conformance.js';
import { Rng } from '../../src/util/rng.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { gpuBackend, gpuSkipReason } from '../gpu-setup.js';

const seed = testSeed();
const rng = new Rng(seed);
const gpu = await gpuBackend();
const hasSgmat =
  !!gpu && gpu.caps.subgroupMatrix.some((c) => c.componentType === 'f16' && c.resultComponentType === 'f32');

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
    randomInput(rng, bd, attrs.transB ? [N, K] : [K, N]),
    ...extra.map((s) => randomInput(rng, 'f32', s)),
  ];
  return { label: `${M}x${N}x${K} ${ad}·${bd} ${JSON.stringify(attrs)}`, attrs, inputs };
}

/** The same device with some capabilities changed (the backend checks bindings against its caps, so a lowered limit is enforced). */
function withCaps(b: WebGpuBackend, caps: Partial<Capabilities>): WebGpuBackend {
  return new WebGpuBackend({ ...b.ctx, caps: { ...b.caps, ...caps } });
}

async function expectOk(b: WebGpuBackend, c: OpCase): Promise<void> {
  const r = await runCase(b, matmulOp, c);
  expect(r.skipped ?? '', c.label).toBe('');
  expect(r.message ?? 'ok', c.label).toBe('ok');
}

describe(`matmul spec (${seedNote(seed)})`, () => {
  it('rejects mismatched K and unfoldable batches with clear errors', () => {
    expect(() =>
      matmulOp.outputs({}, [
        { dtype: 'f32', shape: [3, 4] },
        { dtype: 'f32', shape: [5, 6] },
      ]),
    ).toThrow(/disagree on K/);
    expect(() =>
      matmulOp.outputs({}, [
        { dtype: 'f32', shape: [2, 3, 4] },
        { dtype: 'f32', shape: [3, 4, 6] },
      ]),
    ).toThrow(/broadcast|batch/);
    expect(() =>
      matmulOp.outputs({ epilogue: 'x0 + x1' }, [
        { dtype: 'f32', shape: [3, 4] },
        { dtype: 'f32', shape: [4, 6] },
      ]),
    ).toThrow(/extra inputs/);
  });
  it('folds a shared weight into M', () => {
    const g = matmulGeometry({ transB: true }, { dtype: 'f16', shape: [2, 3, 8] }, { dtype: 'f16', shape: [5, 8] });
    expect([g.M, g.N, g.K, g.batch]).toEqual([6, 5, 8, 1]);
  });
  it('its check fails a dropped term and NaN', () => {
    const c = makeCase(3, 4, 64, 'f32', 'f32', {});
    const ins = c.inputs.map((i) => Float64Array.from(i.data as Float32Array));
    const want = matmulOp.reference(
      c.attrs,
      ins,
      c.inputs.map((i) => i.desc),
      [{ dtype: 'f32', shape: [3, 4] }],
    );
    const bad = Float64Array.from(want[0]!);
    bad[5] = bad[5]! - ins[0]![1 * 64 + 7]! * ins[1]![7 * 4 + 1]!;
    expect(
      matmulOp.check!(
        c.attrs,
        ins,
        [bad],
        want,
        c.inputs.map((i) => i.desc),
      ),
    ).toMatch(/\[1, 1\]/);
    bad[5] = NaN;
    expect(
      matmulOp.check!(
        c.attrs,
        ins,
        [bad],
        want,
        c.inputs.map((i) => i.desc),
      ),
    ).toMatch(/NaN/);
  });
});

describe('subgroup-matrix generator (no GPU needed)', () => {
  const caps = { f16: true, subgroupMaxSize: 32, maxStorageBufferBindingSize: 2 ** 31 } as Capabilities;
  const cfg = { componentType: 'f16', resultComponentType: 'f32', M: 16, N: 16, K: 16 };
  it('gives every matrix load a constant offset (a run-time one is predicated by Dawn and ran 2.5× slower)', () => {
    for (const transB of [false, true]) {
      const p = planMatmul(
        { transB },
        [
          { dtype: 'f16', shape: [300, 264] },
          { dtype: 'bf16', shape: transB ? [200, 264] : [264, 200] },
        ],
        'f32',
        caps,
      );
      const wgsl = sgmatWgsl(p, caps, cfg, { ...DEFAULT_SGMAT, splitK: 2 });
      const loads = [...wgsl.matchAll(/subgroupMatrixLoad<[^(]*>\(&\w+, ([^,]+), (\d+)u\)/g)];
      expect(loads.length).toBeGreaterThan(0);
      for (const l of loads) expect(l[1]).toMatch(/^\d+u$/);
    }
  });
  it('splits K only when the tiles cannot fill the GPU, on slice boundaries', () => {
    expect(sgmatParams(4096, 4096, 4096, 1).splitK).toBe(1);
    const skinny = sgmatParams(16, 4096, 4096, 1);
    expect(skinny.splitK).toBeGreaterThan(1);
    expect(skinny.WM * skinny.TM * 16).toBe(16);
    expect(sgmatParams(16, 4096, 4096, 3).splitK).toBe(1);
    for (const K of [1000, 4096, 14336]) {
      const t = { ...DEFAULT_SGMAT, BK: 64, splitK: 5 };
      const len = splitLength(K, t);
      expect(len % 64).toBe(0);
      expect(len * 5).toBeGreaterThanOrEqual(K);
    }
  });
});

describe.skipIf(!gpu)(`matmul kernels (${seedNote(seed)})${gpu ? '' : ` (skipped: ${gpuSkipReason()})`}`, () => {
  it('GEMV and tiled kernels agree with the oracle on the same decode shapes', async () => {
    for (const path of ['gemv', 'tiled'] as const) {
      await expectOk(gpu!, makeCase(5, 66, 200, 'f16', 'bf16', { transB: true, path }));
      await expectOk(gpu!, makeCase(2, 34, 77, 'bf16', 'f32', { transB: true, path, outDtype: 'f16' }));
    }
  });

  it('GEMV reduces without subgroups too', async () => {
    const b = withCaps(gpu!, { subgroups: false });
    await expectOk(
      b,
      makeCase(3, 40, 96, 'f32', 'f16', { transB: true, path: 'gemv', epilogue: 'x0 * x1', outDtype: 'bf16' }, [
        [3, 1],
      ]),
    );
    await expectOk(b, makeCase(16, 18, 33, 'f16', 'f16', { transB: true, path: 'gemv' }));
  });

  it('splits weights over a lowered binding limit (GEMV, tiled, subgroup-matrix)', async () => {
    const limit = 64 * 1024;
    const b = withCaps(gpu!, { maxStorageBufferBindingSize: limit });
    const big = makeCase(3, 301, 136, 'f16', 'bf16', { transB: true, path: 'gemv' });
    expect(big.inputs[1]!.data.byteLength).toBeGreaterThan(limit);
    const plan = planMatmul(
      big.attrs as MatmulAttrs,
      big.inputs.map((i) => i.desc),
      undefined,
      b.caps,
    );
    const ranges = weightRanges(
      {
        buffer: {} as GPUBuffer,
        byteSize: big.inputs[1]!.data.byteLength,
        ...big.inputs[1]!.desc,
        backend: 'webgpu',
        label: 'w',
      } as GpuTensor,
      plan,
      b.caps,
      8,
    );
    expect(Array.isArray(ranges) && ranges.length).toBeGreaterThan(1);
    for (const r of ranges as Exclude<typeof ranges, string>) {
      expect((r.range.offset ?? 0) % 256).toBe(0);
      expect(r.range.size!).toBeLessThanOrEqual(limit);
    }
    const before = b.dispatchCount;
    await expectOk(b, big);
    expect(b.dispatchCount - before).toBe((ranges as unknown[]).length);
    await expectOk(
      b,
      makeCase(40, 301, 136, 'bf16', 'bf16', { transB: true, path: 'tiled', epilogue: 'x0 + x1' }, [[301]]),
    );
    if (hasSgmat) await expectOk(b, makeCase(70, 301, 136, 'f16', 'f16', { transB: true, path: 'subgroup-matrix' }));
    // [K, N] weights cannot be split by rows of b: the kernels say so instead of failing
    expect(
      matmulTiledKernel.whyUnsupported(b.caps, {}, [
        { dtype: 'f32', shape: [4, 136] },
        { dtype: 'f32', shape: [136, 301] },
      ]),
    ).toMatch(/not transposed/);
    expect(
      gemvKernel.whyUnsupported(b.caps, {}, [
        { dtype: 'f32', shape: [1, 8] },
        { dtype: 'f32', shape: [8, 8] },
      ]),
    ).toMatch(/transB/);
  });

  it.skipIf(!hasSgmat)(
    'subgroup-matrix GEMM: odd sizes, both layouts, f16 and bf16, epilogue, scalar and vector staging',
    async () => {
      const cases = [
        makeCase(129, 257, 33, 'f16', 'f16', { path: 'subgroup-matrix' }),
        makeCase(7, 129, 256, 'bf16', 'f16', { transB: true, path: 'subgroup-matrix', outDtype: 'bf16' }),
        makeCase(
          257,
          136,
          264,
          'f16',
          'bf16',
          { path: 'subgroup-matrix', outDtype: 'f32', epilogue: 'silu(x0) + x1' },
          [[136]],
        ),
        makeCase(300, 200, 520, 'bf16', 'bf16', { transB: true, path: 'subgroup-matrix', outDtype: 'f16' }),
        makeCase(1, 33, 7, 'f16', 'f16', { transB: true, path: 'subgroup-matrix', outDtype: 'bf16' }),
        // skinny tiles and split K with an epilogue applied after the partial sums
        makeCase(
          16,
          300,
          2048,
          'bf16',
          'bf16',
          { transB: true, path: 'subgroup-matrix', epilogue: 'x0 * x1', outDtype: 'bf16' },
          [[16, 1]],
        ),
      ];
      for (const override of [null, { smem: 'f16' as const }, { smem: 'vec4f16' as const, TM: 2, TN: 2 }]) {
        sgmatTuning.override = override;
        try {
          for (const c of cases) await expectOk(gpu!, c);
        } finally {
          sgmatTuning.override = null;
        }
      }
      expect(
        matmulSubgroupMatrixKernel.whyUnsupported(gpu!.caps, { precise: true }, [
          { dtype: 'bf16', shape: [4, 8] },
          { dtype: 'f16', shape: [8, 8] },
        ]),
      ).toMatch(/precise/);
    },
  );
});
