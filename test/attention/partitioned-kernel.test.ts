/**
 * The partitioned kernel (GEMM on workgroups [0, nA), decode attention on [nA, nA + nB)) against
 * the float64 oracle, at odd sizes (K and N off the tile, head dims below and above one
 * workgroup, context lengths around the key block and page boundaries), with several shares,
 * outputs poisoned with NaN first so an unwritten element fails.
 */
import { describe, expect, it } from 'vitest';
import type { WebGpuBackend } from '../../src/backends/webgpu/webgpu-backend.js';
import {
  type PartitionedShape,
  partitionedKernelWgsl,
  partitionedUniforms,
} from '../../src/attention/partitioned-kernel.js';
import { packPageTable, referenceDecodeAttention, referenceGemm } from '../../src/attention/partitioned-reference.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { Rng } from '../../src/util/rng.js';
import { gpuBackend, gpuSkipReason } from '../gpu-setup.js';

const seed = testSeed();
const gpu = await gpuBackend();

interface Case {
  shape: PartitionedShape;
  kvLens: number[];
}

function randoms(rng: Rng, n: number): Float32Array {
  return Float32Array.from({ length: n }, () => rng.uniform(-1, 1));
}

async function runCase(b: WebGpuBackend, c: Case, rng: Rng): Promise<void> {
  const s = c.shape;
  const x = randoms(rng, s.rowsA * s.K);
  const w = randoms(rng, s.K * s.N);
  const q = randoms(rng, s.reqsB * s.heads * s.headDim);
  // a pool with spare pages, handed out in a shuffled order so a wrong page index shows
  const pagesNeeded = c.kvLens.map((l) => Math.ceil(l / s.pageSize));
  const poolPages = pagesNeeded.reduce((a, p) => a + p, 0) + 3;
  const order = Array.from({ length: poolPages }, (_, i) => i).sort(() => rng.next() - 0.5);
  let next = 0;
  const pages = pagesNeeded.map((n) => Array.from({ length: n }, () => order[next++]!));
  const kv = randoms(rng, poolPages * 2 * s.pageSize * s.kvHeads * s.headDim);
  const meta = packPageTable(pages, c.kvLens);
  const alloc = (dtype: 'f32' | 'u32', n: number, data: Float32Array | Uint32Array) => {
    const t = b.alloc({ dtype, shape: [Math.max(n, 1)] }, 'partitioned.test', 'activations');
    b.write(t, data.length ? data : new (data.constructor as typeof Float32Array)(1));
    return t;
  };
  const nan = (n: number) => new Float32Array(n).fill(NaN);
  const tensors = [
    alloc('f32', x.length, x),
    alloc('f32', w.length, w),
    alloc('f32', s.rowsA * s.N, nan(s.rowsA * s.N)),
    alloc('f32', q.length, q),
    alloc('f32', kv.length, kv),
    alloc('u32', meta.length, meta),
    alloc('f32', q.length, nan(q.length)),
  ];
  try {
    b.runProgram(
      { wgsl: partitionedKernelWgsl({ headDim: s.headDim }), entryPoint: 'main', workgroups: [s.nA + s.nB, 1, 1] },
      tensors,
      partitionedUniforms(s),
    );
    const y = (await b.read(tensors[2]!)) as Float32Array;
    const o = (await b.read(tensors[6]!)) as Float32Array;
    if (s.nA > 0) {
      const want = referenceGemm(x, w, s.rowsA, s.K, s.N);
      // f32 accumulation of K products of magnitude ≤ 1: λ·√K·u·K bounds the error (λ = 8)
      const tol = 8 * Math.sqrt(s.K) * 2 ** -24 * s.K;
      const err = Math.max(...want.map((v, i) => Math.abs(v - y[i]!)));
      expect(y.every(Number.isFinite), 'every GEMM output written').toBe(true);
      expect(err, `GEMM max error (tolerance ${tol.toExponential(2)})`).toBeLessThanOrEqual(tol);
    } else expect(y.every(Number.isNaN), 'no GEMM workgroup: y untouched').toBe(true);
    if (s.nB > 0) {
      const want = referenceDecodeAttention(q, kv, meta, s);
      const err = Math.max(...want.map((v, i) => Math.abs(v - o[i]!)));
      expect(o.every(Number.isFinite), 'every attention output written').toBe(true);
      // a convex combination of |v| ≤ 1: f32 dot products and exp leave ~1e-6; a wrong page or mask moves it by ~0.1
      expect(err, 'attention max error').toBeLessThanOrEqual(2e-5);
    } else expect(o.every(Number.isNaN), 'no attention workgroup: o untouched').toBe(true);
  } finally {
    for (const t of tensors) b.free(t);
  }
}

const base = { rowsA: 13, K: 70, N: 100, reqsB: 5, heads: 4, kvHeads: 2, pageSize: 16 };
const kvLens = [1, 17, 64, 65, 130];

describe.skipIf(!gpu)(
  `partitioned GEMM + decode attention kernel (${seedNote(seed)})${gpu ? '' : ` (skipped: ${gpuSkipReason()})`}`,
  () => {
    for (const headDim of [40, 96])
      for (const [nA, nB] of [
        [3, 7],
        [1, 1],
        [0, 5],
        [4, 0],
        [30, 30],
      ] as const)
        it(`head dim ${headDim}, ${nA} GEMM + ${nB} attention workgroups`, async () => {
          const rng = new Rng(seed + headDim * 100 + nA * 10 + nB);
          await runCase(gpu!, { shape: { ...base, headDim, nA, nB }, kvLens }, rng);
        });
    it('GQA group 4, page size 8, one request longer than three key blocks', async () => {
      const shape = { ...base, heads: 8, kvHeads: 2, pageSize: 8, reqsB: 2, headDim: 64, nA: 2, nB: 3 };
      await runCase(gpu!, { shape, kvLens: [200, 9] }, new Rng(seed + 7));
    });
  },
);

describe.skipIf(gpu)(`partitioned kernel on WebGPU (skipped: ${gpuSkipReason()})`, () => {
  it('needs a WebGPU adapter', () => {});
});
