/**
 * The mid-M tensor-core skinny GEMM (skinny-gemm-mid.ts) against the float64 oracle on a device
 * without subgroup matrices (lavapipe), the builtins emulated in plain WGSL (sgmat-emulation.ts):
 * M = 64, 96, 128, 256 (one M tile with pruned matrices, several M tiles), ragged N and K, K split
 * across workgroups with a ragged last split, register depths 1, 2, 4, f16/bf16 activations and
 * weights, output dtypes and epilogues; f32 activations are refused and served by another kernel;
 * the table routes M up to 256 to the family.
 */
import { describe, expect, it, vi } from 'vitest';
import type { SkinnyMidParams, SkinnyTable } from '../../src/kernels/skinny-gemm-params.js';
import type { MatmulAttrs } from '../../src/ops/matmul.js';
import type { OpCase } from '../../src/ops/op-spec.js';
import type { DType } from '../../src/tensor/dtype.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { Rng } from '../../src/util/rng.js';
import { gpuBackend, gpuSkipReason } from '../gpu-setup.js';
import { HEAVY, heavyTitle } from '../heavy.js';
import { skinnyCase } from './skinny-case.js';
import { dispatchLabels, emulatedBackend } from './emulated-backend.js';
import { EMULATED_CFG, LANES, emulate } from './sgmat-emulation.js';

const mid = (WM: number, WN: number, TM: number, TN: number, BK: number, D: number, SK = 8): SkinnyMidParams => ({
  variant: 'mid',
  WM,
  WN,
  TM,
  TN,
  BK,
  D,
  SK,
});

/** A table that sends 65 ≤ M ≤ 256 to a mid set, so routing is checked without forcing parameters. */
const ROUTED = mid(2, 1, 4, 1, 16, 2);
const TEST_TABLE: SkinnyTable = {
  source: 'test',
  buckets: [
    { maxM: 64, simt: null, sgmat: null },
    { maxM: 256, simt: null, sgmat: ROUTED },
  ],
};

// the setup files have loaded the kernels already: mock, then load fresh copies of what uses them
vi.doMock('../../src/kernels/skinny-gemm-table.js', () => ({ SKINNY_TABLE: TEST_TABLE }));
vi.doMock('../../src/kernels/skinny-gemm-mid.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/kernels/skinny-gemm-mid.js')>();
  return {
    ...real,
    skinnyMidWgsl: (...args: Parameters<typeof real.skinnyMidWgsl>) => emulate(real.skinnyMidWgsl(...args)),
  };
});

vi.resetModules();
await import('../../src/register-all.js');
const { WebGpuBackend } = await import('../../src/backends/webgpu/webgpu-backend.js');
const { skinnyTuning } = await import('../../src/kernels/skinny-gemm-params.js');
const { matmulOp } = await import('../../src/ops/matmul.js');
const { runCase } = await import('../../src/testing/conformance.js');

const seed = testSeed();
const rng = new Rng(seed);
const gpu = await gpuBackend();

describe.skipIf(!gpu)(
  `mid-M tensor-core skinny GEMM, subgroup matrices emulated (${seedNote(seed)})${gpu ? '' : ` (skipped: ${gpuSkipReason()})`}`,
  () => {
    const emu = () => emulatedBackend(WebGpuBackend, gpu!);
    /** Which kernels served the case. */
    const labelOf = (b: InstanceType<typeof WebGpuBackend>, c: OpCase) => dispatchLabels(b, matmulOp, c);

    /** [params, M, N, K, a dtype, b dtype, attrs, epilogue input shapes, K splits expected]. */
    type Case = [SkinnyMidParams, number, number, number, DType, DType, MatmulAttrs, number[][], number];
    const check = async (cases: readonly Case[]) => {
      const b = emu();
      for (const [t, M, N, K, ad, bd, attrs, extra, split] of cases) {
        skinnyTuning.override = t;
        try {
          const c = skinnyCase(rng, M, N, K, ad, bd, attrs, extra);
          const label = labelOf(b, c);
          const shape = `.w${t.WM}x${t.WN}.t${t.TM}x${t.TN}.bk${t.BK}.d${t.D}.sk${t.SK}`;
          const want = `matmul.skinny.mid.${ad}.${bd}.m${M}${shape}${split > 1 ? `.k${split}` : ''}`;
          expect(label.split(' '), label).toContain(want);
          expect(label.includes('splitk-sum'), label).toBe(split > 1);
          const r = await runCase(b, matmulOp, c);
          expect(r.skipped ?? '', `${c.label} ${JSON.stringify(t)}`).toBe('');
          expect(r.message ?? 'ok', `${c.label} ${JSON.stringify(t)}`).toBe('ok');
        } finally {
          skinnyTuning.override = null;
        }
      }
    };

    // each emulated multiply is inlined where it is called, so software compile time grows with
    // subgroups · BK/16 · live TM · TN · unrolled slices: the cases keep that product small
    it('M = 64 and 96 in one M tile, ragged N and K, K split with a ragged last split, depths 1, 2, 4', async () => {
      await check([
        // 776 = 24·32 + 8: the last slice holds one chunk
        [mid(2, 1, 2, 1, 32, 2), 64, 50, 776, 'f16', 'bf16', { outDtype: 'f16' }, [], 1],
        // K 1160 in two splits of 608 and 552 (17¼ slices); M 96 in a 128-row tile, two matrices pruned
        [mid(2, 1, 4, 1, 16, 4), 96, 40, 1160, 'bf16', 'bf16', { outDtype: 'f32' }, [], 2],
        // M 64 in a 128-row tile: the second subgroup row holds no rows of M and multiplies nothing
        [mid(2, 1, 4, 1, 16, 1), 64, 20, 264, 'f16', 'f16', {}, [], 1],
        [mid(1, 2, 4, 1, 16, 1), 64, 36, 1032, 'f16', 'f16', { epilogue: 'x0 + x1', outDtype: 'bf16' }, [[36]], 2],
      ]);
    }, 600_000);

    it('M = 128 and 256 (two M tiles sharing weights), epilogues through the split-K sum and in place', async () => {
      await check([
        // N odd with an f16 output and K split: the reduction pass writes the f32 scratch that is then packed
        [mid(2, 1, 4, 1, 16, 2), 128, 35, 1040, 'bf16', 'f16', {}, [], 2],
        // N odd with an f16 output: packed through f32 scratch
        [mid(2, 2, 4, 1, 16, 1), 128, 33, 512, 'f16', 'f16', { epilogue: 'silu(x0) * x1' }, [[128, 33]], 1],
        [
          mid(2, 1, 4, 1, 16, 2, 4),
          256,
          24,
          1096,
          'f16',
          'bf16',
          { epilogue: 'gelu(x0 * 0.5) + x1 * x2', outDtype: 'bf16' },
          [[256, 1], [24]],
          2,
        ],
      ]);
    }, 600_000);

    it.skipIf(!HEAVY)(
      // lavapipe gives 32 KB of workgroup memory, so the swept tiles run at BK 16 here
      heavyTitle('the swept tile shapes: 128×128 with 4 and 8 subgroups at D 2 and 4, split K'),
      async () => {
        await check([
          [mid(2, 2, 4, 4, 16, 2), 128, 200, 1040, 'f16', 'bf16', {}, [], 2],
          [mid(2, 4, 4, 2, 16, 4, 4), 256, 136, 1096, 'f16', 'bf16', { outDtype: 'f32' }, [], 2],
          [mid(4, 2, 2, 4, 16, 2), 96, 264, 1024, 'bf16', 'bf16', { epilogue: 'x0 + x1' }, [[264]], 2],
        ]);
      },
      1_800_000,
    );

    it('the table routes M up to 256 to the family; f32 activations go to another kernel', async () => {
      const b = emu();
      const routed = skinnyCase(rng, 200, 40, 256, 'f16', 'bf16', {});
      expect(labelOf(b, routed)).toContain('matmul.skinny.mid.f16.bf16.m200.w2x1.t4x1.bk16.d2.sk8');
      const r = await runCase(b, matmulOp, routed);
      expect(r.message ?? 'ok', routed.label).toBe('ok');
      // a forced mid set still refuses f32 activations (f16 rounding would lose 2⁻¹¹ per product)
      skinnyTuning.override = mid(2, 1, 2, 1, 32, 2);
      try {
        const f32 = skinnyCase(rng, 64, 40, 256, 'f32', 'bf16', { path: 'auto' });
        expect(labelOf(b, f32)).not.toContain('skinny.mid');
        const r32 = await runCase(b, matmulOp, f32);
        expect(r32.message ?? 'ok', f32.label).toBe('ok');
      } finally {
        skinnyTuning.override = null;
      }
    }, 600_000);
  },
);

describe('mid-M multiply-only probe', () => {
  it('keeps only the loads before the K loop (the loop multiplies whatever is staged)', async () => {
    const { skinnyMidWgsl } = await import('../../src/kernels/skinny-gemm-mid.js');
    const { planMatmul } = await import('../../src/kernels/matmul-common.js');
    const desc = (dtype: DType, shape: number[]) => ({ dtype, shape });
    const p = planMatmul({ transB: true }, [desc('f16', [128, 512]), desc('bf16', [256, 512])], 'f16', { f16: true });
    const caps = { f16: true, subgroupMaxSize: LANES };
    const weightLoads = (t: SkinnyMidParams) =>
      skinnyMidWgsl(p, caps, EMULATED_CFG, t, false).split('b[(n * K + k) / 8u]').length - 1;
    const t = mid(2, 2, 4, 1, 32, 2);
    const perLoad = 1; // BN·BK/8 chunks over 128 lanes: one weight chunk per lane per slice
    // the first slice, D prefetched, and one per unrolled slice of the loop (lcm(2, D) = 2)
    expect(weightLoads(t)).toBe(perLoad * (1 + 2 + 2));
    expect(weightLoads({ ...t, probe: 'compute-only' })).toBe(perLoad * (1 + 2));
  });
});

if (!gpu) it.skip(`mid-M tensor-core skinny GEMM emulated (skipped: ${gpuSkipReason()})`, () => {});
