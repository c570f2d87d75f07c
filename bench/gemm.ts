/**
 * GEMM and GEMV against PyTorch's bf16 matmul: square products 1024³…8192³ on the f16
 * subgroup-matrix path and the tiled f32 path, and Llama-3-8B linear layers (N×K of q/o, fused qkv,
 * fused gate+up, down) at M ∈ {1, 16, 32, 64, 128, 2048} with bf16 activations and [N, K] bf16 weights.
 * Decode-sized rows (M ≤ 64, the skinny GEMM's range) report GB/s against the measured copy bandwidth; the rest TFLOP/s
 * against the best bf16 rate PyTorch reached in the run. Every timed case, 8192³ included, is
 * checked first at 256 seeded (i, j) against float64 dot products of the inputs read back from the
 * device, with a tolerance from the arithmetic (bench/verify.ts); one entry outside it fails the
 * bench and nothing is written.
 *
 * Usage: node .build/bench/gemm.js [anchors.json] [--tune] [--quick] [--sgmat '{"TM":4,...}']
 */
import '../src/register-all.js';
import type { Tensor } from '../src/backends/backend.js';
import { DAWN_TOGGLES } from '../src/backends/webgpu/device.js';
import { WebGpuBackend } from '../src/backends/webgpu/webgpu-backend.js';
import { type GemvParams, gemvTuning } from '../src/kernels/gemv.js';
import { type SgmatParams, sgmatTuning } from '../src/kernels/matmul-sgmat-params.js';
import type { MatmulAttrs } from '../src/ops/matmul.js';
import { type DType, type HostArray, bf16ToNumber, bytesPerElement, f16ToNumber } from '../src/tensor/dtype.js';
import { measureCopy } from './copy.js';
import { type BenchRow, anchorOf, cardName, fillRandom, readAnchors, row, timeGpu, writeResults } from './results.js';
import { Check, type FloatType, type ProductCheckResult, checkSampledProduct } from './verify.js';

export const SQUARE = [1024, 2048, 4096, 8192];
export const LLM_NK: [number, number, string][] = [
  [4096, 4096, 'q/o'],
  [6144, 4096, 'qkv'],
  [28672, 4096, 'gate+up'],
  [4096, 14336, 'down'],
];
export const LLM_M = [1, 16, 32, 64, 128, 2048];
const L2_BYTES = 50 * 2 ** 20;

interface Case {
  label: string;
  anchorKey: string;
  M: number;
  N: number;
  K: number;
  aDtype: DType;
  bDtype: DType;
  outDtype: DType;
  attrs: MatmulAttrs;
  bandwidth: boolean;
}

function cases(quick: boolean): Case[] {
  const out: Case[] = [];
  for (const n of quick ? [4096] : SQUARE) {
    out.push({
      label: `f16 sgmat ${n}³`,
      anchorKey: `bf16 mm ${n}x${n}x${n}`,
      M: n,
      N: n,
      K: n,
      aDtype: 'f16',
      bDtype: 'f16',
      outDtype: 'f16',
      attrs: { path: 'subgroup-matrix' },
      bandwidth: false,
    });
  }
  for (const n of quick ? [2048] : SQUARE) {
    out.push({
      label: `f32 tiled ${n}³`,
      anchorKey: `f32 mm ${n}x${n}x${n}`,
      M: n,
      N: n,
      K: n,
      aDtype: 'f32',
      bDtype: 'f32',
      outDtype: 'f32',
      attrs: { path: 'tiled' },
      bandwidth: false,
    });
  }
  for (const m of quick ? [1, 2048] : LLM_M) {
    for (const [n, k, what] of quick ? LLM_NK.slice(0, 1) : LLM_NK) {
      out.push({
        label: `bf16 linear ${what} M=${m} ${n}x${k}`,
        anchorKey: `bf16 linear ${m}x${n}x${k}`,
        M: m,
        N: n,
        K: k,
        aDtype: 'bf16',
        bDtype: 'bf16',
        outDtype: 'bf16',
        attrs: { transB: true },
        bandwidth: m <= 64,
      });
    }
  }
  return out;
}

function bytesOf(d: DType, n: number): number {
  return n * bytesPerElement(d);
}

const CHECK_SAMPLES = 256;
const CHECK_SEED = 20261127;

/** Element reader of a host array holding `dtype` (half types decoded one element at a time). */
function reader(dtype: DType, data: HostArray): (i: number) => number {
  if (dtype === 'f16') return (i) => f16ToNumber(data[i]!);
  if (dtype === 'bf16') return (i) => bf16ToNumber(data[i]!);
  return (i) => data[i]!;
}

/**
 * The case's output at sampled (i, j) against float64 dot products of the very inputs on the
 * device, read back whole (8192² half values are 128 MiB) and decoded only where sampled.
 * Accumulation is f32 on every path; half inputs multiply exactly in f32.
 */
async function checkOutput(
  backend: WebGpuBackend,
  c: Case,
  a: Tensor,
  b: Tensor,
  out: Tensor,
): Promise<ProductCheckResult> {
  const [av, bv, cv] = await Promise.all([a, b, out].map(async (t) => reader(t.dtype as DType, await backend.read(t))));
  return checkSampledProduct({
    M: c.M,
    N: c.N,
    K: c.K,
    a: (i, k) => av!(i * c.K + k),
    b: c.attrs.transB ? (k, j) => bv!(j * c.K + k) : (k, j) => bv!(k * c.N + j),
    c: (i, j) => cv!(i * c.N + j),
    acc: 'f32',
    out: c.outDtype as FloatType,
    exactProducts: c.aDtype !== 'f32' || c.bDtype !== 'f32',
    samples: CHECK_SAMPLES,
    seed: CHECK_SEED,
  });
}

function describeCheck(r: ProductCheckResult): string {
  return `worst |c − Σab| ${r.worst.toFixed(3)}× its tolerance (at ${r.at.join(',')}: ${r.got} vs ${r.want}), ${r.worstRel.toExponential(1)} of Σ|ab|`;
}

/** Times one case: weights rotate among copies that together exceed L2, as in the torch anchor. */
async function runCase(
  backend: WebGpuBackend,
  c0: Case,
  check: boolean,
): Promise<{ ms: number; check: ProductCheckResult | null; kernel: string }> {
  const c = { ...c0, attrs: { ...c0.attrs, outDtype: c0.outDtype } };
  const a = backend.alloc({ dtype: c.aDtype, shape: [c.M, c.K] }, 'bench.a');
  const bBytes = bytesOf(c.bDtype, c.N * c.K);
  const copies = c.M <= 128 ? Math.max(1, Math.min(8, Math.ceil((4 * L2_BYTES) / bBytes))) : 1;
  const bs = Array.from({ length: copies }, (_, i) =>
    backend.alloc({ dtype: c.bDtype, shape: c.attrs.transB ? [c.N, c.K] : [c.K, c.N] }, `bench.b${i}`),
  );
  const out = backend.alloc({ dtype: c.outDtype, shape: [c.M, c.N] }, 'bench.c');
  fillRandom(backend, a, 1);
  bs.forEach((b, i) => fillRandom(backend, b, 100 + i));
  try {
    backend.run('matmul', c.attrs, [a, bs[0]!], [out]);
    await backend.flush();
    const checked = check ? await checkOutput(backend, c, a, bs[0]!, out) : null;
    const stream = backend.record(() => backend.run('matmul', c.attrs, [a, bs[0]!], [out]));
    const kernel = stream.dispatches.map((d) => d.label).join('+');
    stream.destroy();
    const ms = await timeGpu(backend, (rep) => backend.run('matmul', c.attrs, [a, bs[rep]!], [out]), copies);
    return { ms, check: checked, kernel };
  } finally {
    for (const t of [a, ...bs, out]) backend.free(t);
  }
}

const TUNE: Partial<SgmatParams>[] = [
  {},
  { smem: 'vec4f16' },
  {},
  { probe: 'compute-only' },
  { smem: 'vec4f16', probe: 'compute-only' },
  { TM: 2, TN: 2 },
  { TM: 2, TN: 2, probe: 'compute-only' },
  { WM: 2, WN: 4, TM: 4, TN: 2 },
  { WM: 2, WN: 4, TM: 4, TN: 2, probe: 'compute-only' },
  { WM: 2, WN: 4, TM: 2, TN: 2 },
  { WM: 4, WN: 4, TM: 2, TN: 2 },
  { WM: 2, WN: 4, TM: 4, TN: 2, BK: 16 },
];

async function tune(backend: WebGpuBackend, extra: Partial<SgmatParams>[]): Promise<void> {
  const shapes: Case[] = [
    {
      label: 'check 520x392x200 tB',
      anchorKey: '',
      M: 520,
      N: 392,
      K: 200,
      aDtype: 'f16',
      bDtype: 'bf16',
      outDtype: 'f32',
      attrs: { transB: true, path: 'subgroup-matrix' },
      bandwidth: false,
    },
    {
      label: 'check 16x1000x2048 split',
      anchorKey: '',
      M: 16,
      N: 1000,
      K: 2048,
      aDtype: 'bf16',
      bDtype: 'bf16',
      outDtype: 'bf16',
      attrs: { transB: true, path: 'subgroup-matrix' },
      bandwidth: false,
    },
    {
      label: 'check 100x256x4096 split',
      anchorKey: '',
      M: 100,
      N: 256,
      K: 4096,
      aDtype: 'f16',
      bDtype: 'f16',
      outDtype: 'f16',
      attrs: { path: 'subgroup-matrix' },
      bandwidth: false,
    },
    {
      label: 'f16 4096³',
      anchorKey: '',
      M: 4096,
      N: 4096,
      K: 4096,
      aDtype: 'f16',
      bDtype: 'f16',
      outDtype: 'f16',
      attrs: { path: 'subgroup-matrix' },
      bandwidth: false,
    },
    {
      label: 'bf16 tB 2048x6144x4096',
      anchorKey: '',
      M: 2048,
      N: 6144,
      K: 4096,
      aDtype: 'bf16',
      bDtype: 'bf16',
      outDtype: 'bf16',
      attrs: { transB: true, path: 'subgroup-matrix' },
      bandwidth: false,
    },
  ];
  const summary: string[] = [];
  for (const v of [...TUNE, ...extra]) {
    sgmatTuning.override = v;
    const cells: string[] = [];
    for (const s of shapes) {
      try {
        const r = await runCase(backend, s, s.label.startsWith('check') && !v.probe);
        cells.push(
          `${s.label}: ${((2 * s.M * s.N * s.K) / (r.ms * 1e9)).toFixed(1)} TFLOP/s${r.check ? ` err ${r.check.worst.toFixed(2)}× tol${r.check.worst > 1 ? ' WRONG' : ''}` : ''}`,
        );
      } catch (e) {
        cells.push(`${s.label}: FAILED ${(e as Error).message.split('\n').slice(0, 3).join(' | ').slice(0, 300)}`);
        break;
      }
    }
    summary.push(`tune ${JSON.stringify(v)}: ${cells.join('; ')}`);
    console.log(summary[summary.length - 1]);
  }
  sgmatTuning.override = null;
  console.log(`\n${summary.join('\n')}`);
}

const GEMV_TUNE: Partial<GemvParams>[] = [
  {},
  { R: 2, W: 128 },
  { R: 4, W: 256 },
  { R: 8, W: 128 },
  { R: 8, W: 64 },
  { R: 4, W: 64 },
];

/** GEMV variants on decode shapes, in GB/s of the bytes they must move. */
async function tuneGemv(
  backend: WebGpuBackend,
  list: Partial<GemvParams>[],
): Promise<Map<number, Partial<GemvParams>>> {
  const best = new Map<number, { v: Partial<GemvParams>; score: number }>();
  const scores = new Map<string, number>();
  const shapes: [number, number, number][] = [
    [1, 4096, 4096],
    [1, 28672, 4096],
    [1, 4096, 14336],
    [16, 6144, 4096],
  ];
  for (const v of list) {
    gemvTuning.override = v;
    const cells: string[] = [];
    for (const [M, N, K] of shapes) {
      const c: Case = {
        label: '',
        anchorKey: '',
        M,
        N,
        K,
        aDtype: 'bf16',
        bDtype: 'bf16',
        outDtype: 'bf16',
        attrs: { transB: true, path: 'gemv' },
        bandwidth: true,
      };
      const r = await runCase(backend, c, false);
      const gbps = (2 * (M * K + N * K + M * N)) / (r.ms * 1e6);
      cells.push(`M${M} ${N}x${K}: ${gbps.toFixed(0)} GB/s`);
      // rank variants per M by the sum of their rates over the shapes
      scores.set(`${M}|${JSON.stringify(v)}`, (scores.get(`${M}|${JSON.stringify(v)}`) ?? 0) + gbps);
    }
    console.log(`gemv ${JSON.stringify(v)}: ${cells.join('; ')}`);
  }
  gemvTuning.override = null;
  // the tensor-core path on the same shapes (16-row tiles, split K), to choose where GEMV stops
  for (const [M, N, K] of [
    [1, 4096, 4096],
    [4, 4096, 4096],
    [8, 6144, 4096],
    [16, 6144, 4096],
    [16, 28672, 4096],
    [16, 4096, 14336],
  ] as [number, number, number][]) {
    const cells: string[] = [];
    for (const path of ['gemv', 'subgroup-matrix'] as const) {
      const c: Case = {
        label: '',
        anchorKey: '',
        M,
        N,
        K,
        aDtype: 'bf16',
        bDtype: 'bf16',
        outDtype: 'bf16',
        attrs: { transB: true, path },
        bandwidth: true,
      };
      try {
        const r = await runCase(backend, c, M === 16 && N === 6144);
        cells.push(
          `${path} ${((2 * (M * K + N * K + M * N)) / (r.ms * 1e6)).toFixed(0)} GB/s [${r.kernel}]${r.check ? ` err ${r.check.worst.toFixed(2)}× tol${r.check.worst > 1 ? ' WRONG' : ''}` : ''}`,
        );
      } catch (e) {
        cells.push(`${path} FAILED ${(e as Error).message.slice(0, 200)}`);
      }
    }
    console.log(`decode M${M} ${N}x${K}: ${cells.join('; ')}`);
  }
  for (const [key, score] of scores) {
    const [m, v] = key.split('|') as [string, string];
    const b = best.get(Number(m));
    if (!b || score > b.score) best.set(Number(m), { v: JSON.parse(v) as Partial<GemvParams>, score });
  }
  return new Map([...best].map(([m, b]) => [m, b.v]));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const sg = args.indexOf('--sgmat');
  const sgOverride = sg >= 0 ? (JSON.parse(args[sg + 1]!) as Partial<SgmatParams>) : null;
  const toggles = args.indexOf('--dawn');
  // experiment only: extra Dawn toggles (e.g. disable_robustness) to see what safety checks cost
  if (toggles >= 0) DAWN_TOGGLES[0] = `${DAWN_TOGGLES[0]},${args[toggles + 1]}`;
  const backend = await WebGpuBackend.create({ onWarning: (m) => console.warn(m) });
  const card = cardName(backend);
  const anchors = readAnchors(
    args.find((x) => x.endsWith('.json')),
    card,
  );
  console.log(`toggles: ${DAWN_TOGGLES.join(' ')}`);
  console.log(
    `${card}; subgroup matrices: ${backend.caps.subgroupMatrix.map((c) => `${c.componentType}→${c.resultComponentType} ${c.M}x${c.N}x${c.K}`).join(', ') || 'none'}`,
  );
  const list = args.indexOf('--tune-list');
  if (list >= 0) TUNE.splice(0, TUNE.length, ...(JSON.parse(args[list + 1]!) as Partial<SgmatParams>[]));
  if (args.includes('--tune')) await tune(backend, sgOverride ? [sgOverride] : []);
  // --gemv-tune measures GEMV variants on decode shapes; the best per M then serves the bench below
  let gemvBest: Map<number, Partial<GemvParams>> | null = null;
  const gv = args.indexOf('--gemv-list');
  if (args.includes('--gemv-tune'))
    gemvBest = await tuneGemv(backend, gv >= 0 ? (JSON.parse(args[gv + 1]!) as Partial<GemvParams>[]) : GEMV_TUNE);
  if (sgOverride) sgmatTuning.override = sgOverride;
  if (!args.includes('--tune-only')) {
    const check = new Check('gemm');
    const copy = await measureCopy(backend, 1024 * 2 ** 20, check);
    const torchCopyMs = anchorOf(anchors, 'copy 1024 MiB').value;
    const copyLimit = torchCopyMs ? Math.max(copy.gbps, (2 * 2 ** 30) / (torchCopyMs * 1e6)) : copy.gbps;
    const bf16Rates = Object.entries(anchors.cases)
      .filter(([k]) => k.startsWith('bf16'))
      .map(([k, ms]) => {
        const [m, n, kk] = k.split(' ').pop()!.split('x').map(Number) as [number, number, number];
        return (2 * m * n * kk) / (ms * 1e9);
      });
    const peak = bf16Rates.length ? Math.max(...bf16Rates) : null;
    const rows: BenchRow[] = [];
    for (const c of cases(args.includes('--quick'))) {
      gemvTuning.override = gemvBest?.get(c.M) ?? null;
      let r;
      try {
        r = await runCase(backend, c, true);
      } catch (e) {
        // a case that cannot run is no result either: the table would silently lose a row
        check.that(false, `${c.label} runs`, (e as Error).message.slice(0, 400));
        continue;
      }
      check.that(
        r.check!.worst <= 1,
        `${c.label} at ${CHECK_SAMPLES} sampled entries within tolerance of float64`,
        describeCheck(r.check!),
      );
      const a = anchorOf(anchors, c.anchorKey);
      const anchorMs = a.value;
      const flops = 2 * c.M * c.N * c.K;
      const bytes = bytesOf(c.aDtype, c.M * c.K) + bytesOf(c.bDtype, c.N * c.K) + bytesOf(c.outDtype, c.M * c.N);
      const anchorName = c.anchorKey.startsWith('f32') ? 'torch f32 (no TF32)' : 'torch bf16';
      const label = `${c.label} [${r.kernel}] err ${r.check!.worstRel.toExponential(1)}`;
      if (c.bandwidth) {
        rows.push(
          row({
            case: label,
            metric: 'GB/s',
            higherIsBetter: true,
            ours: bytes / (r.ms * 1e6),
            anchor: anchorMs ? bytes / (anchorMs * 1e6) : null,
            anchorName: anchorMs ? anchorName : null,
            limit: copyLimit,
            limitName: 'copy bandwidth',
            anchorWhyNull: a.why,
          }),
        );
      } else {
        rows.push(
          row({
            case: label,
            metric: 'TFLOP/s',
            higherIsBetter: true,
            ours: flops / (r.ms * 1e9),
            anchor: anchorMs ? flops / (anchorMs * 1e9) : null,
            anchorName: anchorMs ? anchorName : null,
            limit: peak,
            limitName: peak ? 'best torch bf16 rate' : null,
            anchorWhyNull: a.why,
          }),
        );
      }
      console.log(`${label}: ${r.ms.toFixed(4)} ms${anchorMs ? ` (torch ${anchorMs.toFixed(4)} ms)` : ''}`);
    }
    writeResults(
      'gemm',
      card,
      rows,
      `our copy ${copy.gbps.toFixed(0)} GB/s (${copy.variant}); weights rotate over copies ≥ 4× L2 for M ≤ 128; timed by replaying recorded dispatch streams (≥ 40 ms batches, median of 7); err = max |c − Σab|/Σ|ab| on ${CHECK_SAMPLES} sampled outputs (seed ${CHECK_SEED}) vs float64, each within its tolerance (bench/verify.ts)${sgOverride ? `; sgmat ${JSON.stringify(sgOverride)}` : ''}${gemvBest ? `; GEMV params by M (tuned in this run): ${JSON.stringify([...gemvBest])}` : ''}`,
      check.passed(),
    );
  }
  backend.destroy();
}
