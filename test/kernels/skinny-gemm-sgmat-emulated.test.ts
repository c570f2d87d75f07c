/**
 * The tensor-core skinny GEMM's data movement — staging through workgroup memory, the D-deep
 * register pipeline, in-place activation loads (AG), ragged K, M up to 128 and the staged fallback
 * for an M the in-place set cannot take — checked against the float64 oracle on a device without
 * subgroup matrices (lavapipe). The three subgroup-matrix builtins are replaced in the generated
 * WGSL by plain WGSL with the same semantics (a matrix "load" keeps its offset and stride, the
 * multiply-accumulate reads the operands from memory there and then, each lane owning 8 of the
 * 16×16 result elements), so everything else in the shader runs as generated. The builtins
 * themselves are checked on the H100 by the conformance run and by bench/skinny-tune.ts.
 */
import { describe, expect, it, vi } from 'vitest';
import type { SkinnySgmatParams, SkinnyTable } from '../../src/kernels/skinny-gemm-params.js';
import type { MatmulAttrs } from '../../src/ops/matmul.js';
import type { OpCase } from '../../src/ops/op-spec.js';
import type { DType } from '../../src/tensor/dtype.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { Rng } from '../../src/util/rng.js';
import { gpuBackend, gpuSkipReason } from '../gpu-setup.js';
import { HEAVY, heavyTitle } from '../heavy.js';
import { skinnyCase } from './skinny-case.js';
import { dispatchLabels, emulatedBackend } from './emulated-backend.js';
import { emulate } from './sgmat-emulation.js';

/** A table whose M ≤ 128 bucket is an in-place set, so an M off the matrix tiles takes the staged fallback. */
const TEST_TABLE: SkinnyTable = {
  source: 'test',
  buckets: [{ maxM: 128, simt: null, sgmat: { variant: 'sgmat', S: 2, TN: 1, BK: 32, D: 2, AG: true } }],
};

// the setup files have loaded the kernels already: mock, then load fresh copies of what uses them
vi.doMock('../../src/kernels/skinny-gemm-table.js', () => ({ SKINNY_TABLE: TEST_TABLE }));
vi.doMock('../../src/kernels/skinny-gemm-sgmat.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/kernels/skinny-gemm-sgmat.js')>();
  return {
    ...real,
    skinnySgmatWgsl: (...args: Parameters<typeof real.skinnySgmatWgsl>) => emulate(real.skinnySgmatWgsl(...args)),
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
  `tensor-core skinny GEMM, subgroup matrices emulated (${seedNote(seed)})${gpu ? '' : ` (skipped: ${gpuSkipReason()})`}`,
  () => {
    // the device as the generator sees it: 16×16×16 f16 matrices, subgroups of 32
    const emu = () => emulatedBackend(WebGpuBackend, gpu!);
    /** Which kernel and parameter set served the case. */
    const labelOf = (b: InstanceType<typeof WebGpuBackend>, c: OpCase) => dispatchLabels(b, matmulOp, c);
    type Case = [SkinnySgmatParams, number, number, number, DType, DType, MatmulAttrs, number[][]];
    const check = async (cases: readonly Case[]) => {
      const b = emu();
      for (const [t, M, N, K, ad, bd, attrs, extra] of cases) {
        skinnyTuning.override = t;
        try {
          const c = skinnyCase(rng, M, N, K, ad, bd, attrs, extra);
          expect(labelOf(b, c)).toContain(`.s${t.S}.tn${t.TN}.bk${t.BK}.d${t.D ?? 1}${t.AG ? '.ag' : ''}`);
          const r = await runCase(b, matmulOp, c);
          expect(r.skipped ?? '', `${c.label} ${JSON.stringify(t)}`).toBe('');
          expect(r.message ?? 'ok', `${c.label} ${JSON.stringify(t)}`).toBe('ok');
        } finally {
          skinnyTuning.override = null;
        }
      }
    };

    // each emulated multiply is inlined where it is called, so software compile time grows with
    // S · BK/16 · MT · TN · unrolled slices: the CI cases keep that product small
    it('register depths 1, 2, 4, staged and in-place activations, ragged K', async () => {
      await check([
        [{ variant: 'sgmat', S: 4, TN: 1, BK: 16 }, 16, 50, 776, 'f16', 'f16', { outDtype: 'f16' }, []],
        [{ variant: 'sgmat', S: 2, TN: 1, BK: 16, D: 4 }, 17, 40, 200, 'bf16', 'bf16', { outDtype: 'f32' }, []],
        [{ variant: 'sgmat', S: 2, TN: 1, BK: 16, D: 2 }, 33, 35, 168, 'f16', 'bf16', { epilogue: 'x0 + x1' }, [[35]]],
        [{ variant: 'sgmat', S: 2, TN: 1, BK: 32, D: 2, AG: true }, 32, 72, 512, 'f16', 'bf16', {}, []],
        [{ variant: 'sgmat', S: 4, TN: 2, BK: 16, D: 1, AG: true }, 16, 64, 192, 'f16', 'f16', {}, []],
      ]);
    }, 300_000);

    it.skipIf(!HEAVY)(
      heavyTitle('two weight tiles at D = 4, in place at M = 48 and M = 128'),
      async () => {
        await check([
          [{ variant: 'sgmat', S: 2, TN: 2, BK: 16, D: 4 }, 17, 40, 200, 'bf16', 'bf16', { outDtype: 'f32' }, []],
          [
            { variant: 'sgmat', S: 2, TN: 1, BK: 64, D: 4, AG: true },
            48,
            33,
            384,
            'f16',
            'bf16',
            { outDtype: 'bf16' },
            [],
          ],
          [{ variant: 'sgmat', S: 2, TN: 1, BK: 16, D: 2, AG: true }, 128, 24, 128, 'f16', 'bf16', {}, []],
        ]);
      },
      900_000,
    );

    it('serves an M off the matrix tiles from a staged set when the table holds an in-place one', async () => {
      const b = emu();
      for (const M of [20, 32]) {
        const c = skinnyCase(rng, M, 40, 256, 'f16', 'bf16', {});
        const label = labelOf(b, c).trim();
        expect(label).toMatch(M === 20 ? /\.s4\.tn1\.bk32\.d1$/ : /\.s2\.tn1\.bk32\.d2\.ag/);
        const r = await runCase(b, matmulOp, c);
        expect(r.message ?? 'ok', c.label).toBe('ok');
      }
    }, 300_000);
  },
);

if (!gpu) it.skip(`tensor-core skinny GEMM emulated (skipped: ${gpuSkipReason()})`, () => {});
