/**
 * Each `quant_matmul` kernel forced in turn (`attrs.path`) against the float64 oracle of the
 * dequantized weights (the op's check: the f32 summation bound per output). The batched GEMM is
 * taken through every tile size (M at the 4 / 8 / 16 / 32 / 64 boundaries and past 64, where it re-reads
 * the weights per 64 rows), N not a multiple of its 32 weight rows, and K with a partial last step
 * (Q8_0/Q4_0 at 32 · odd). The conformance suite covers the kernel each M gets by default; this
 * keeps the GEMV above one row and the tiled GEMM below 257 rows checked too.
 */
import { describe, expect, it } from 'vitest';
import type { Capabilities } from '../../src/backends/webgpu/capabilities.js';
import type { OpCase } from '../../src/ops/op-spec.js';
import { randomInput } from '../../src/ops/test-data.js';
import {
  batchedSharedBytes,
  batchedSplit,
  batchedThreads,
  batchedTile,
  batchedTuning,
} from '../../src/quant/batched-wgsl.js';
import { encodeWeights } from '../../src/quant/codec.js';
import { QUANT_FORMATS, type QuantFormat, quantLayout } from '../../src/quant/formats.js';
import { QUANT_KERNELS } from '../../src/quant/kernels.js';
import { type QuantMatmulAttrs, type QuantMatmulPath, quantMatmulOp } from '../../src/quant/ops.js';
import { runCase } from '../../src/testing/conformance.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { Rng } from '../../src/util/rng.js';
import { gpuBackends, gpusOrSkip } from '../gpu-setup.js';

const seed = testSeed();
const gpus = (await gpuBackends()).slice(0, 1);

function makeCase(rng: Rng, format: QuantFormat, m: number, n: number, k: number, path?: QuantMatmulPath) {
  const bytes = encodeWeights(format, rng.normals(n * k, 0.5), n, k);
  const c: OpCase<QuantMatmulAttrs> = {
    label: `${format} M${m} N${n} K${k}${path ? ` path ${path}` : ''}`,
    attrs: { format, n, k, ...(path ? { path } : {}) },
    inputs: [randomInput(rng, 'f32', [m, k]), { desc: { dtype: 'u8', shape: [bytes.length] }, data: bytes }],
  };
  return c;
}

/** K of `blocks` whole blocks (for Q8_0/Q4_0 an odd count leaves a partial last 64-value step). */
function kOf(format: QuantFormat, blocks: number): number {
  return quantLayout(format).block * blocks;
}

describe('quant_matmul kernel choice (no GPU needed)', () => {
  const caps = {
    maxComputeWorkgroupStorageSize: 49152,
    maxComputeInvocationsPerWorkgroup: 1024,
    maxComputeWorkgroupSizeX: 1024,
  } as Capabilities;
  const chosen = (m: number, path?: QuantMatmulPath) => {
    const attrs = { format: 'w4', n: 40, k: 256, ...(path ? { path } : {}) };
    const inputs = [
      { dtype: 'f32', shape: [m, 256] },
      { dtype: 'u8', shape: [40 * 128 + 40 * 2 * 4] },
    ] as const;
    return QUANT_KERNELS.findIndex((kn) => kn.whyUnsupported(caps, attrs, inputs) === null);
  };
  // QUANT_KERNELS: 0 GEMV, 1 tensor-core GEMM (f16 operands, f16 subgroup matrices), 2 batched, 3 tiled
  it('gives one row to the GEMV, 2..256 rows to the batched GEMM, more to the tiled GEMM', () => {
    expect([1, 2, 16, 64, 256, 257].map((m) => chosen(m))).toEqual([0, 2, 2, 2, 2, 3]);
  });
  it('serves a forced path where that kernel takes the shape, and nothing else', () => {
    expect(chosen(12, 'gemv')).toBe(0);
    expect(chosen(17, 'gemv')).toBe(-1);
    expect(chosen(1, 'batched')).toBe(2);
    expect(chosen(3, 'gemm')).toBe(3);
    expect(chosen(16, 'sgmat')).toBe(-1);
  });
});

describe('batched GEMM tiles (no GPU needed)', () => {
  it('fits the K groups to the workgroup limits, down to the WebGPU defaults', () => {
    const big = {
      maxComputeWorkgroupStorageSize: 49152,
      maxComputeInvocationsPerWorkgroup: 1024,
      maxComputeWorkgroupSizeX: 1024,
    };
    const small = {
      maxComputeWorkgroupStorageSize: 16384,
      maxComputeInvocationsPerWorkgroup: 256,
      maxComputeWorkgroupSizeX: 256,
    };
    for (const m of [2, 4, 5, 8, 9, 16, 17, 32, 33, 64, 256]) {
      for (const caps of [big, small]) {
        const t = batchedTile(m, caps)!;
        expect(t.BM >= Math.min(m, 64), `M ${m}`).toBe(true);
        expect(batchedSharedBytes(t)).toBeLessThanOrEqual(caps.maxComputeWorkgroupStorageSize);
        expect(batchedThreads(t)).toBeLessThanOrEqual(caps.maxComputeInvocationsPerWorkgroup);
      }
    }
    expect([4, 8, 16, 32, 64].map((m) => batchedTile(m, big)!.KG)).toEqual([4, 4, 4, 4, 2]);
    expect(batchedTile(64, { ...big, maxComputeWorkgroupStorageSize: 8192 })).toBeNull();
  });
});

describe('batched GEMM K split (no GPU needed)', () => {
  const h100 = {
    maxComputeWorkgroupStorageSize: 49152,
    maxComputeInvocationsPerWorkgroup: 1024,
    maxComputeWorkgroupSizeX: 1024,
  };
  const at = (m: number, n: number, k: number) => batchedSplit(batchedTile(m, h100)!, m, n, k);
  it('splits K where the row tiles are few, never below four turns a slice, and covers K exactly', () => {
    // the 8B layer at b16: K/V (1024 rows) and q/o/down (4096) split, gate/up (14336) do not
    expect(at(16, 1024, 4096).split).toBe(8);
    expect(at(16, 4096, 4096).split).toBe(4);
    expect(at(16, 14336, 4096).split).toBe(2);
    expect(at(64, 14336, 4096).split).toBe(2);
    expect(at(256, 14336, 4096).split).toBe(1);
    // short K: a slice keeps at least 4 turns of 4 groups × 32 values
    expect(at(2, 33, 384).split).toBe(1);
    for (const [m, n, k] of [
      [16, 1024, 4096],
      [3, 100, 14336],
      [40, 70, 160],
    ] as const) {
      const { split, kc } = at(m, n, k);
      expect(kc % (batchedTile(m, h100)!.KG * 32)).toBe(0);
      expect((split - 1) * kc).toBeLessThan(k);
      expect(split * kc).toBeGreaterThanOrEqual(k);
    }
  });
});

describe(`quant_matmul kernels forced one by one (${seedNote(seed)})`, () => {
  const rng = new Rng(seed);
  const cases: OpCase<QuantMatmulAttrs>[] = [];
  for (const format of QUANT_FORMATS) {
    const big = quantLayout(format).block >= 256;
    // batched: every tile size, N = 32·j ± odd, K with whole and partial 64-value steps
    for (const [m, n, blocks] of [
      [2, 33, big ? 1 : 3],
      [4, 35, big ? 1 : 2],
      [8, 31, big ? 2 : 1],
      [9, 65, big ? 1 : 2],
      [16, 17, big ? 1 : 3],
      [23, 40, big ? 2 : 1],
      [64, 33, big ? 1 : 3],
      [130, 19, big ? 1 : 2],
    ] as const)
      cases.push(makeCase(rng, format, m, n, kOf(format, blocks), 'batched'));
    cases.push(makeCase(rng, format, 11, 13, kOf(format, 2), 'gemv'));
    cases.push(makeCase(rng, format, 21, 19, kOf(format, big ? 1 : 3), 'gemm'));
  }
  for (const { name, backend } of gpusOrSkip(gpus, 'webgpu: quant_matmul kernels')) {
    for (const c of cases) {
      it(`${name}: ${c.label}`, async () => {
        const r = await runCase(backend, quantMatmulOp, c);
        expect(r.skipped ?? '', 'the forced kernel serves the case').toBe('');
        expect(r.message ?? 'ok').toBe('ok');
      });
    }
    // K cut into slices summed by a second pass, the last slice shorter (forced: these shapes are too small to split)
    for (const [format, m, n, k, kg, split] of [
      ['q8_0', 7, 45, 160, 1, 3],
      ['w4', 18, 37, 384, 2, 3],
      ['q4_k', 33, 20, 512, 1, 16],
    ] as const) {
      const c = makeCase(rng, format, m, n, k, 'batched');
      it(`${name}: ${c.label} in ${split} K slices of ${kg} K groups`, async () => {
        Object.assign(batchedTuning, { kg, split });
        try {
          const r = await runCase(backend, quantMatmulOp, c);
          expect(r.skipped ?? '', 'the forced kernel serves the case').toBe('');
          expect(r.message ?? 'ok').toBe('ok');
        } finally {
          Object.assign(batchedTuning, { kg: null, split: null });
        }
      });
    }
    // every K-group count; Q8_0 at K 160 is five 32-value steps, so the last turn leaves groups idle
    for (const kg of [1, 2, 4] as const) {
      for (const [format, m, n, k] of [
        ['w4', 5, 45, 384],
        ['q8_0', 40, 70, 160],
        ['q4_k', 19, 33, 256],
      ] as const) {
        const c = makeCase(rng, format, m, n, k, 'batched');
        batchedTuning.kg = kg;
        const fits = batchedTile(m, backend.caps) !== null;
        batchedTuning.kg = null;
        const why = fits ? '' : " (skipped: the tile exceeds this device's workgroup storage or invocations)";
        it.skipIf(!fits)(`${name}: ${c.label} with ${kg} K groups${why}`, async () => {
          batchedTuning.kg = kg;
          try {
            const r = await runCase(backend, quantMatmulOp, c);
            expect(r.skipped ?? '', 'the forced kernel serves the case').toBe('');
            expect(r.message ?? 'ok').toBe('ok');
          } finally {
            batchedTuning.kg = null;
          }
        });
      }
    }
  }
});
