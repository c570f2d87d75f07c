/**
 * The matmuls of one Llama-3-8B decoder layer (q, k, v, o, gate, up, down: N×K of 4096×4096,
 * 1024×4096 ×2, 4096×4096, 14336×4096 ×2, 4096×14336) at batch 1, 16 and 64, with weights kept
 * quantized (`quant_matmul`: w4, w8, q4_k, q8_0) against our f16-weight matmul on the same card
 * in the same run. A layer's seven weights (≥ 120 MB in every format) exceed the H100's 50 MB L2,
 * so each replay streams them from memory as decode does. Reported: layer time, and the tokens/s
 * that 32 such layers allow (b × 1000 / (32 · layer ms)) — the weight-matmul part of decode only,
 * an upper bound on end-to-end decode (attention, norms and the LM head are not in it).
 *
 * Every weight row is the same quantized row (uploading 8B-shape weights quantized on the host
 * would take minutes); the bytes read per replay are those of the full matrices. Before timing,
 * each case's outputs are checked against float64 dot products of the decoded row (bench/verify.ts
 * bound); a miss fails the bench and nothing is written.
 *
 * The W4A4 rows (Atom: 4-bit weights and activations, the last 128 channels INT8, `atom_matmul`
 * with dot4I8Packed) include the per-token activation quantizers a layer needs — one per
 * activation site (q/k/v share one, gate/up share one), each gathering the calibrated channel order
 * — which the f16 baseline does not have; in the model they are fused into RMSNorm and SiLU·mul,
 * whose own cost the baseline leaves out too. Their check is against float64 of the quantized math
 * (the codes and scales the device's quantizer produced, times the stored weight row).
 *
 * At batch 1 a plan line per format and matrix gives the GEMV's geometry (workgroups, rows and
 * invocations each, K steps, code bytes in flight per workgroup and per SM), so a timing can be read
 * against what the kernel keeps in flight.
 *
 * The weight-only rows let `quant_matmul` round x and the decoded weights to f16 (`f16Operands`,
 * as the f16 baseline's activations are), which from M = 16 puts them on f16 tensor cores where the
 * device has subgroup matrices; their check then adds the bound of those two roundings. The plan
 * line of each batch names the kernels that serve it (dispatch labels).
 *
 * Usage: node dist/bench/quant-decode.js [--quick] [--batches 1,2,4,16,64] [--path gemv|batched|sgmat|gemm]
 *   [--formats w4,w8,q4_k,q8_0,q4_0,q6_k] [--gemv-rows R] [--gemv-threads W] [--f32-operands]
 *   --smoke: shapes / 8, batch 1 unless --batches says otherwise, for a software device;
 *   --path forces one `quant_matmul` kernel (where it serves the batch), to compare kernels at one M;
 *   --split n forces the batched GEMM's K slices (1: unsplit), to compare with its own choice;
 *   --gemv-rows / --gemv-threads set the chunked GEMV's rows and invocations per workgroup;
 *   --f32-operands keeps x and W in f32 (the SIMT kernels only), results file `-f32ops`.
 */
import '../src/register-all.js';
import type { Tensor } from '../src/backends/backend.js';
import { WebGpuBackend } from '../src/backends/webgpu/webgpu-backend.js';
import { decodeWeights, encodeWeights } from '../src/quant/codec.js';
import { type QuantFormat, bitsPerWeight, weightBytes } from '../src/quant/formats.js';
import { batchedTuning } from '../src/quant/batched-wgsl.js';
import { GEMV_THREADS } from '../src/quant/gemv-wgsl.js';
import {
  chunkedGemvGeometry,
  chunkedGemvParams,
  chunkedGemvTuning,
  servesChunked,
} from '../src/quant/gemv-chunked-wgsl.js';
import type { QuantMatmulPath } from '../src/quant/ops.js';
import { f32SumTolerance } from '../src/sparse/reference.js';
import { groupsOf, quantizeW4a4Weights, unpackW4a4Weights, w4a4Planes } from '../src/quant/w4a4-format.js';

import { Rng } from '../src/util/rng.js';
import { type BenchRow, cardName, fillRandom, row, timeGpu, writeResults } from './results.js';
import { Check, LAMBDA } from './verify.js';

const FULL_LAYER: [n: number, k: number, name: string][] = [
  [4096, 4096, 'q'],
  [1024, 4096, 'k'],
  [1024, 4096, 'v'],
  [4096, 4096, 'o'],
  [14336, 4096, 'gate'],
  [14336, 4096, 'up'],
  [4096, 14336, 'down'],
];
const smoke = process.argv.includes('--smoke');
const LAYER = smoke ? FULL_LAYER.map(([n, k, name]) => [n / 8, k / 8, name] as const) : FULL_LAYER;
const LAYERS = 32;
const quick = process.argv.includes('--quick');
const argOf = (name: string): string | undefined => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const FORMATS = (argOf('--formats')?.split(',') ?? ['w4', 'w8', 'q4_k', 'q8_0']) as QuantFormat[];
const BATCHES = argOf('--batches')?.split(',').map(Number) ?? (quick || smoke ? [1] : [1, 16, 64]);
const PATH = argOf('--path') as QuantMatmulPath | undefined;
const SPLIT = argOf('--split');
if (SPLIT) batchedTuning.split = Number(SPLIT);
const GEMV_ROWS = argOf('--gemv-rows');
const GEMV_WIDTH = argOf('--gemv-threads');
if (GEMV_ROWS) chunkedGemvTuning.rows = Number(GEMV_ROWS);
if (GEMV_WIDTH) chunkedGemvTuning.threads = Number(GEMV_WIDTH);
const F16_OPERANDS = !process.argv.includes('--f32-operands');
/** Forced kernels' and tunings' figures go to a results file of their own, so they never stand for the default run's. */
const BENCH_NAME = `atom-decode${PATH ? `-${PATH}` : ''}${SPLIT ? `-split${SPLIT}` : ''}${GEMV_ROWS ? `-r${GEMV_ROWS}` : ''}${GEMV_WIDTH ? `-w${GEMV_WIDTH}` : ''}${F16_OPERANDS ? '' : '-f32ops'}`;
const SEED = 20250917;

const backend = await WebGpuBackend.create();
const check = new Check(BENCH_NAME);
const card = cardName(backend);

const rng = new Rng(SEED);
console.log(
  `card ${card}; seed ${SEED}; batches ${BATCHES.join(', ')}; quant_matmul kernel ${PATH ?? 'by M'}; K slices ${SPLIT ?? 'by shape'}; operands ${F16_OPERANDS ? 'f16 allowed' : 'f32'}; subgroup matrices: ${backend.caps.subgroupMatrix.map((c) => `${c.componentType}→${c.resultComponentType} ${c.M}x${c.N}x${c.K}${c.packedUnits ? ` (${c.packedUnits} units)` : ''}`).join(', ') || 'none'}`,
);

/** The GEMV's geometry per matrix of the layer (batch 1, or a batch the forced GEMV serves). */
function planLines(format: QuantFormat, b: number): void {
  if (b > 1 && PATH !== 'gemv') return;
  for (const [n, k, name] of LAYER) {
    if (servesChunked(b)) {
      const g = chunkedGemvGeometry(format, n, k, chunkedGemvParams(n, backend.caps));
      console.log(
        `plan ${format} b${b} ${name} [${n}, ${k}]: chunked GEMV, ${g.workgroups} workgroups × ${g.threads} invocations, ` +
          `${g.rowsPerWorkgroup} rows each, ${g.steps} K steps; ${g.bytesPerThreadStep} B of weights per invocation per step, ` +
          `${g.bytesPerWorkgroupStep} B per workgroup, ~${(g.bytesInFlightPerSm / 1024).toFixed(1)} KiB per SM (132 SMs); subgroups ${backend.caps.subgroups ? 'yes' : 'no'}`,
      );
    } else
      console.log(
        `plan ${format} b${b} ${name} [${n}, ${k}]: 8-value GEMV, ${n} workgroups × ${GEMV_THREADS} invocations, one row each, ` +
          `${Math.ceil(k / 8 / GEMV_THREADS)} K steps of 8 weights per invocation (u32 loads)`,
      );
  }
}

// a configuration the self-test dropped (the 8-bit load units, say) is why a tensor-core path is absent
for (const line of backend.caps.disabled) console.log(`disabled: ${line}`);

/** One quantized row repeated N times: the bytes of W [N, K] in `format`, and the row's decoded values. */
function repeatedRow(format: QuantFormat, n: number, k: number): { bytes: Uint8Array; row: Float64Array } {
  const values = rng.normals(k, 0.05);
  const one = encodeWeights(format, values, 1, k);
  const row = decodeWeights(format, one, 1, k);
  const bytes = new Uint8Array(weightBytes(format, n, k));
  if (format === 'w4' || format === 'w8') {
    // two planes: codes of every row, then the scale words of every row
    const codes = one.length - (k / 128) * 4;
    for (let r = 0; r < n; r++) bytes.set(one.subarray(0, codes), r * codes);
    for (let r = 0; r < n; r++) bytes.set(one.subarray(codes), n * codes + r * (k / 128) * 4);
  } else for (let r = 0; r < n; r++) bytes.set(one, r * one.length);
  return { bytes, row };
}

/** y[m, j] of a product whose W rows all equal `row`: checked at rows j = 0 and N − 1 of every m. */
async function checkOutput(
  y: Tensor,
  x: Float32Array,
  row: Float64Array,
  m: number,
  n: number,
  k: number,
  what: string,
) {
  const got = (await backend.read(y)) as Float32Array;
  let worst = 0;
  for (let i = 0; i < m; i++) {
    let want = 0;
    let mag = 0;
    for (let c = 0; c < k; c++) {
      want += x[i * k + c]! * row[c]!;
      mag += Math.abs(x[i * k + c]! * row[c]!);
    }
    const bound =
      LAMBDA * Math.sqrt(k) * 2 ** -24 * mag + 2 ** -24 * Math.abs(want) + 1e-30 + f16Rounding(x, row, i, k);
    for (const j of [0, n - 1]) worst = Math.max(worst, Math.abs(got[i * n + j]! - want) / bound);
  }
  check.that(
    worst <= 1,
    `${what}: outputs within the f32 summation bound${F16_OPERANDS ? ' and the f16 operand roundings' : ''}`,
    `worst ${worst.toFixed(3)} of the bound`,
  );
}

/** What rounding x and the weights to f16 can move row i's product by (f16Operands), else 0. */
function f16Rounding(x: Float32Array, row: Float64Array, i: number, k: number): number {
  if (!F16_OPERANDS) return 0;
  let r = 0;
  for (let c = 0; c < k; c++) {
    const [ax, aw] = [Math.abs(x[i * k + c]!), Math.abs(row[c]!)];
    const [ex, ew] = [2 ** -11 * ax + 2 ** -25, 2 ** -11 * aw + 2 ** -25];
    r += ex * (aw + ew) + ax * ew;
  }
  return r * (1 + LAMBDA * Math.sqrt(k) * 2 ** -24);
}

/** The kernels (dispatch labels) that one call of `body` runs, repeats folded. */
function planOf(body: () => void): string {
  const rec = backend.record(body);
  const labels = [...new Set(rec.dispatches.map((d) => d.label))];
  rec.destroy();
  return labels.join(' + ');
}

/** One W4A4 row repeated N times, plane by plane (w4a4-format.ts). */
function repeatedW4a4Row(n: number, k: number) {
  const one = quantizeW4a4Weights(rng.normals(k, 0.05), 1, k);
  const [p1, pn] = [w4a4Planes(1, k), w4a4Planes(n, k)];
  const bytes = new Uint8Array(pn.bytes);
  const scaleBytes = groupsOf(k) * 2;
  for (let r = 0; r < n; r++) {
    bytes.set(one.subarray(0, p1.codes8), r * p1.codes8);
    bytes.set(one.subarray(p1.codes8, p1.scales), pn.codes8 + r * 128);
    bytes.set(one.subarray(p1.scales, p1.scales + scaleBytes), pn.scales + r * scaleBytes);
  }
  return { bytes, row: unpackW4a4Weights(one, 1, k) };
}

/** W4A4: y[m, j] against Σ_g xs·ws·Σ xq·wq in float64, from the device's own codes and scales, rows 0 and N − 1. */
async function checkW4a4(
  y: Tensor,
  xq: Tensor,
  xs: Tensor,
  row: ReturnType<typeof unpackW4a4Weights>,
  m: number,
  n: number,
  k: number,
  what: string,
) {
  const [got, q, sc] = [
    (await backend.read(y)) as Float32Array,
    (await backend.read(xq)) as Int8Array,
    (await backend.read(xs)) as Float32Array,
  ];
  const G = groupsOf(k);
  let worst = 0;
  for (let i = 0; i < m; i++) {
    let want = 0;
    let mag = 0;
    for (let g = 0; g < G; g++) {
      let dot = 0;
      let abs = 0;
      for (let c = g * 128; c < (g + 1) * 128; c++) {
        dot += q[i * k + c]! * row.q[c]!;
        abs += Math.abs(q[i * k + c]! * row.q[c]!);
      }
      want += dot * sc[i * G + g]! * row.scale[g]!;
      mag += abs * Math.abs(sc[i * G + g]! * row.scale[g]!);
    }
    for (const j of [0, n - 1])
      worst = Math.max(worst, Math.abs(got[i * n + j]! - want) / f32SumTolerance(k / 32, mag, want));
  }
  check.that(
    worst <= 1,
    `${what}: outputs within the f32 summation bound of the quantized math`,
    `worst ${worst.toFixed(3)} of the bound`,
  );
}

/** The W4A4 layer at batch b: 4 activation quantizers (with the channel gather) and 7 integer matmuls. */
async function w4a4Layer(b: number): Promise<number> {
  const sites = [
    { k: LAYER[0]![1], mats: [0, 1, 2] },
    { k: LAYER[3]![1], mats: [3] },
    { k: LAYER[4]![1], mats: [4, 5] },
    { k: LAYER[6]![1], mats: [6] },
  ].map(({ k, mats }) => {
    const x = backend.alloc({ dtype: 'f32', shape: [b, k] });
    backend.write(x, Float32Array.from(rng.normals(b * k)));
    const perm = Int32Array.from({ length: k }, (_, i) => (i * 7919) % k);
    const p = backend.alloc({ dtype: 'i32', shape: [k] });
    backend.write(p, perm);
    const xq = backend.alloc({ dtype: 'i8', shape: [b, k] });
    const xs = backend.alloc({ dtype: 'f32', shape: [b, groupsOf(k)] });
    return { k, mats, x, p, xq, xs };
  });
  const mats = LAYER.map(([n, k, name], i) => {
    const { bytes, row } = repeatedW4a4Row(n, k);
    const w = backend.alloc({ dtype: 'u8', shape: [bytes.length] }, `${name}.w4a4`, 'weights');
    backend.write(w, bytes);
    const site = sites.find((s) => s.mats.includes(i))!;
    return { n, k, name, w, row, site, y: backend.alloc({ dtype: 'f32', shape: [b, n] }) };
  });
  const run = () => {
    for (const s of sites)
      backend.run('atom_quantize', { prologue: 'none', reordered: true }, [s.x, s.p], [s.xq, s.xs]);
    for (const p of mats) backend.run('atom_matmul', { n: p.n, k: p.k }, [p.site.xq, p.site.xs, p.w], [p.y]);
  };
  console.log(`plan w4a4 b${b}: ${planOf(run)}`);
  run();
  for (const p of mats) await checkW4a4(p.y, p.site.xq, p.site.xs, p.row, b, p.n, p.k, `w4a4 ${p.name} b${b}`);
  const ms = await timeGpu(backend, run);
  const bytes = mats.reduce((s, p) => s + w4a4Planes(p.n, p.k).bytes, 0);
  console.log(
    `w4a4 b${b}: layer ${ms.toFixed(3)} ms, ${(bytes / ms / 1e6).toFixed(0)} GB/s of weights (4.25 bits/weight at K 4096)`,
  );
  for (const p of mats) [p.w, p.y].forEach((t) => backend.free(t));
  for (const s of sites) [s.x, s.p, s.xq, s.xs].forEach((t) => backend.free(t));
  return ms;
}

const rows: BenchRow[] = [];
for (const b of BATCHES) {
  // f16 baseline: f16 activations and f16 weights [N, K] through the core matmul (transB)
  const f16 = LAYER.map(([n, k]) => {
    const w = backend.alloc({ dtype: 'f16', shape: [n, k] }, 'w16', 'weights');
    fillRandom(backend, w, SEED + n + k, 0.05);
    const x = backend.alloc({ dtype: 'f16', shape: [b, k] }, 'x16');
    fillRandom(backend, x, SEED, 1);
    return { w, x, y: backend.alloc({ dtype: 'f32', shape: [b, n] }) };
  });
  const baseRun = () => {
    for (const p of f16) backend.run('matmul', { transB: true, outDtype: 'f32' }, [p.x, p.w], [p.y]);
  };
  console.log(`plan f16 b${b}: ${planOf(baseRun)}`);
  const baseMs = await timeGpu(backend, baseRun);
  const baseTok = (b * 1000) / (LAYERS * baseMs);
  rows.push(
    row({
      case: `${smoke ? '8B/8 (smoke)' : '8B'} layer matmuls f16 b${b}`,
      metric: 'tok/s (weight matmuls only)',
      higherIsBetter: true,
      ours: baseTok,
      anchor: null,
      anchorName: null,
      anchorWhyNull: 'our f16 path is the baseline the quantized rows are compared with',
      limit: null,
      limitName: null,
    }),
  );
  for (const p of f16) [p.w, p.x, p.y].forEach((t) => backend.free(t));

  for (const format of FORMATS) {
    planLines(format, b);
    const x = Float32Array.from(rng.normals(b * LAYER[6]![1]));
    const mats = LAYER.map(([n, k, name]) => {
      const { bytes, row } = repeatedRow(format, n, k);
      const w = backend.alloc({ dtype: 'u8', shape: [bytes.length] }, `${name}.${format}`, 'weights');
      backend.write(w, bytes);
      const xt = backend.alloc({ dtype: 'f32', shape: [b, k] });
      backend.write(xt, x.subarray(0, b * k));
      return { n, k, name, w, xt, row, y: backend.alloc({ dtype: 'f32', shape: [b, n] }) };
    });
    const run = () => {
      for (const p of mats)
        backend.run(
          'quant_matmul',
          { format, n: p.n, k: p.k, f16Operands: F16_OPERANDS, ...(PATH ? { path: PATH } : {}) },
          [p.xt, p.w],
          [p.y],
        );
    };
    console.log(`plan ${format} b${b}: ${planOf(run)}`);
    run();
    for (const p of mats) await checkOutput(p.y, x, p.row, b, p.n, p.k, `${format} ${p.name} b${b}`);
    const ms = await timeGpu(backend, run);
    const bytes = mats.reduce((s, p) => s + weightBytes(format, p.n, p.k), 0);
    console.log(
      `${format} b${b}: layer ${ms.toFixed(3)} ms, ${(bytes / ms / 1e6).toFixed(0)} GB/s of weights (${bitsPerWeight(format)} bits/weight)`,
    );
    rows.push(
      row({
        case: `${smoke ? '8B/8 (smoke)' : '8B'} layer matmuls ${format}${F16_OPERANDS ? ' f16-ops' : ''}${PATH ? ` (${PATH} kernel)` : ''} b${b}`,
        metric: 'tok/s (weight matmuls only)',
        higherIsBetter: true,
        ours: (b * 1000) / (LAYERS * ms),
        anchor: baseTok,
        anchorName: 'ours f16 weights, same run',
        limit: null,
        limitName: null,
      }),
    );
    for (const p of mats) [p.w, p.xt, p.y].forEach((t) => backend.free(t));
  }
  const w4a4Ms = await w4a4Layer(b);
  rows.push(
    row({
      case: `${smoke ? '8B/8 (smoke)' : '8B'} layer matmuls w4a4 (with activation quantizers) b${b}`,
      metric: 'tok/s (weight matmuls only)',
      higherIsBetter: true,
      ours: (b * 1000) / (LAYERS * w4a4Ms),
      anchor: baseTok,
      anchorName: 'ours f16 weights, same run',
      limit: null,
      limitName: null,
    }),
  );
}
writeResults(
  BENCH_NAME,
  card,
  rows,
  'Weight matmuls of one 8B decoder layer ×32; quantized weights read as stored (quant_matmul). Not end-to-end decode.',
  check.passed(),
);
backend.destroy();
