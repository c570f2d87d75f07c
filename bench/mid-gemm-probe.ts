/**
 * Where the mid-M skinny GEMM's time goes on the 8B shapes: each set runs whole (its output checked
 * at sampled entries against float64 dot products, a wrong set exits non-zero) and as its
 * multiply-only probe (the same K loop without global loads or staging stores: the MMA ceiling of
 * that schedule), beside the split-K tensor-core GEMM. Prints ms, weight TB/s and TFLOP/s of each;
 * where the probe's time is close to the whole run's, the multiplies and not the weights bound the
 * set at that M. Writes the rows as JSON under $BENCH_OUT.
 *
 * Usage: node .build/bench/mid-gemm-probe.js [--m 64,128,256] [--shapes 4096x4096,14336x4096]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Tensor } from '../src/backends/backend.js';
import { WebGpuBackend } from '../src/backends/webgpu/webgpu-backend.js';
import { type SkinnyMidParams, skinnyParamsProblem, skinnyTuning } from '../src/kernels/skinny-gemm-params.js';
import type { MatmulPath } from '../src/ops/matmul.js';
import { f16ToNumber } from '../src/tensor/dtype.js';
import { cardName, cardShort, commitHash, fillRandom, timeGpu } from './results.js';
import { TUNE_SHAPES, fillValueBf16 } from './skinny-variants.js';
import { checkSampledProduct } from './verify.js';

const W_SEED = 100;
const A_SEED = 7;
const L2_BYTES = 50 * 2 ** 20;

/** The sets the note's predictions are for: 128×128 (4 subgroups at D 2, 8 at D 4), 128×256 and 64×128 tiles. */
const SETS: readonly SkinnyMidParams[] = [
  { variant: 'mid', WM: 2, WN: 2, TM: 4, TN: 4, BK: 32, D: 2, SK: 8 },
  { variant: 'mid', WM: 2, WN: 4, TM: 4, TN: 2, BK: 32, D: 4, SK: 4 },
  { variant: 'mid', WM: 2, WN: 4, TM: 4, TN: 4, BK: 16, D: 2, SK: 8 },
  { variant: 'mid', WM: 2, WN: 2, TM: 2, TN: 4, BK: 32, D: 2, SK: 8 },
];

interface Row {
  M: number;
  shape: string;
  kernel: string;
  ms: number;
  weightTBs: number;
  tflops: number;
}

const name = (t: SkinnyMidParams) =>
  `mid W${t.WM}x${t.WN} T${t.TM}x${t.TN} BK${t.BK} D${t.D} SK${t.SK}${t.probe ? ' probe' : ''}`;

async function run(
  backend: WebGpuBackend,
  path: MatmulPath,
  params: SkinnyMidParams | null,
  a: Tensor,
  ws: readonly Tensor[],
  out: Tensor,
  M: number,
  N: number,
  K: number,
  aHost: Float64Array,
): Promise<number> {
  skinnyTuning.override = params;
  const attrs = { transB: true, path, outDtype: 'f16' as const };
  try {
    if (!params?.probe) {
      backend.run('matmul', attrs, [a, ws[0]!], [out]);
      const c = await backend.read(out);
      const r = checkSampledProduct({
        M,
        N,
        K,
        a: (i, k) => aHost[i * K + k]!,
        b: (k, j) => fillValueBf16(j * K + k, W_SEED),
        c: (i, j) => f16ToNumber(c[i * N + j]!),
        acc: 'f32',
        out: 'f16',
        exactProducts: true,
        samples: 24,
        seed: M * 7919 + N,
      });
      if (!(r.worst <= 1)) {
        console.error(`WRONG ${params ? name(params) : path} M${M} ${N}x${K}: ${r.got} vs ${r.want} at ${r.at}`);
        process.exit(1);
      }
    }
    return await timeGpu(backend, (rep) => backend.run('matmul', attrs, [a, ws[rep]!], [out]), ws.length, 20, 3);
  } finally {
    skinnyTuning.override = null;
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const opt = (n: string) => {
    const i = args.indexOf(n);
    return i >= 0 ? args[i + 1]! : null;
  };
  const ms = opt('--m')?.split(',').map(Number) ?? [64, 128, 256];
  const shapes = (opt('--shapes') ?? '4096x4096,14336x4096,4096x14336')
    .split(',')
    .map((x) => x.split('x').map(Number) as [number, number]);
  const backend = await WebGpuBackend.create({ onWarning: () => {} });
  const card = cardName(backend);
  console.log(card);
  const rows: Row[] = [];
  for (const [N, K] of shapes) {
    const copies = Math.max(1, Math.min(16, Math.ceil((4 * L2_BYTES) / (2 * N * K))));
    const ws = Array.from({ length: copies }, (_, i) => backend.alloc({ dtype: 'bf16', shape: [N, K] }, `probe.w${i}`));
    for (const w of ws) fillRandom(backend, w, W_SEED);
    const what = TUNE_SHAPES.find((s) => s.N === N && s.K === K)?.what ?? 'custom';
    for (const M of ms) {
      const a = backend.alloc({ dtype: 'f16', shape: [M, K] }, 'probe.a');
      const out = backend.alloc({ dtype: 'f16', shape: [M, N] }, 'probe.c');
      fillRandom(backend, a, A_SEED + M);
      const aHost = Float64Array.from(await backend.read(a), (h) => f16ToNumber(h));
      const kernels: [string, MatmulPath, SkinnyMidParams | null][] = [
        ['sgmat split-K', 'subgroup-matrix', null],
        ...SETS.flatMap((t): [string, MatmulPath, SkinnyMidParams][] => [
          [name(t), 'skinny', t],
          [name({ ...t, probe: 'compute-only' }), 'skinny', { ...t, probe: 'compute-only' }],
        ]),
      ];
      for (const [kernel, path, params] of kernels) {
        const why = params ? skinnyParamsProblem(params, M, backend.caps) : null;
        if (why) {
          console.log(`  M${M} ${what} ${kernel}: skip (${why})`);
          continue;
        }
        try {
          const t = await run(backend, path, params, a, ws, out, M, N, K, aHost);
          const row = {
            M,
            shape: `${N}x${K}`,
            kernel,
            ms: t,
            weightTBs: (2 * N * K) / (t * 1e9),
            tflops: (2 * M * N * K) / (t * 1e9),
          };
          rows.push(row);
          console.log(
            `  M${M} ${what} ${N}x${K} ${kernel}: ${t.toFixed(4)} ms, ${row.weightTBs.toFixed(2)} TB/s of weights, ${row.tflops.toFixed(0)} TFLOP/s`,
          );
        } catch (e) {
          console.log(`  M${M} ${what} ${kernel}: FAILED ${(e as Error).message.split('\n')[0]!.slice(0, 200)}`);
        }
      }
      backend.free(a);
      backend.free(out);
    }
    for (const w of ws) backend.free(w);
  }
  const dir = process.env.BENCH_OUT ?? join('bench', 'results');
  mkdirSync(dir, { recursive: true });
  const date = new Date().toISOString().slice(0, 10);
  const file = join(dir, `mid-gemm-probe-${date}-${cardShort(card)}.json`);
  writeFileSync(
    file,
    `${JSON.stringify({ source: `bench/mid-gemm-probe.ts on ${card}, ${date}, commit ${commitHash()}`, rows }, null, 2)}\n`,
  );
  console.log(`wrote ${file}`);
  backend.destroy();
}
