/**
 * A GGUF Llama whose matrices are Q8_0, Q4_K and Q6_K keeps them quantized on the device (`quant_matmul`
 * over the stored bytes), and its logits match the path that dequantizes them to f32 at load.
 *
 * Both paths multiply by the same weight values: ggml's dequantization is one f32 multiply(-add)
 * per weight, done once at load on one side and inside the kernel on the other, so the weights
 * agree to at most one f32 rounding (2^-24 relative). What differs is the order of the f32 sums
 * in each projection, bounded by K·2^-24·Σ|x·w| per output (K ≤ 512 here: ≈ 3e-5 relative), and
 * that difference passes through two layers of RMSNorm and attention, which do not amplify it
 * much at this scale. Logits of magnitude ~1 therefore agree to ~1e-5; the check allows 2e-4 of
 * the logits' largest magnitude, an order above that and far below the gap a wrong block decode
 * or a misplaced row produces (the whole logit vector changes at O(1)). Greedy tokens must be
 * identical.
 *
 * With f16 activations (WebGPU with shader-f16) both paths still multiply by the same f32 weight
 * values, but they round activations to f16 (2^-12 relative) at different places: the dequantized
 * path fuses the RMSNorm prologue and the SiLU·mul epilogue into its GEMMs and keeps those
 * intermediates in f32, while `quant_matmul` takes and gives f32 with casts to f16 on either side.
 * So they differ by f16 rounding, of the size of the gap between f16 and f32 activations on the
 * same path (printed beside it: ~1e-3 of the largest |logit| here). The check allows 1e-2, an order
 * above that and two below what a wrong decode or a lost cast produces; a greedy token may differ
 * only where the reference's two candidates are within that tolerance (the margin is printed).
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend } from '../../../src/backends/backend.js';
import { CpuBackend } from '../../../src/backends/cpu/cpu-backend.js';
import { memoryLine } from '../../../src/cli/memory-line.js';
import { GgufFile } from '../../../src/io/gguf-file.js';
import { writeLlamaGguf } from '../../../src/models/llama/gguf-from-hf.js';
import { openLlamaModel } from '../../../src/models/llama/llama-family.js';
import { LlamaRunner } from '../../../src/models/llama/llama-runner.js';
import { writeRandomLlamaCheckpoint } from '../../../src/models/llama/random-checkpoint.js';
import { seedNote, testSeed } from '../../../src/testing/seed.js';
import { Rng } from '../../../src/util/rng.js';
import { gpuBackend, gpuSkipReason } from '../../gpu-setup.js';
import { tempFolder } from '../../io/helpers.js';

const seed = testSeed();
const gpu = await gpuBackend();

// hidden 256 and intermediate 512: every matrix's K is whole Q4_K blocks of 256
const CONFIG = {
  model_type: 'llama',
  hidden_size: 256,
  intermediate_size: 512,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  vocab_size: 288,
  max_position_embeddings: 128,
  rms_norm_eps: 1e-5,
  rope_theta: 10000,
  tie_word_embeddings: false,
  hidden_act: 'silu',
};

/**
 * A mix like Q4_K_M's (Q4_K for most matrices, Q6_K for the LM head and V), with Q8_0 for the other
 * attention projections and the embedding so that all three formats run inside one model.
 */
const matrixType = (hf: string): 'Q8_0' | 'Q4_K' | 'Q6_K' =>
  /lm_head|v_proj/.test(hf) ? 'Q6_K' : /self_attn|embed_tokens/.test(hf) ? 'Q8_0' : 'Q4_K';
const KEPT_QUANTIZED = { q8_0: 3 * 2, q6_k: 1 * 2 + 1, q4_k: 3 * 2 };

let dir = '';
let file = '';
beforeAll(async () => {
  dir = await tempFolder();
  const folder = join(dir, 'hf');
  await writeRandomLlamaCheckpoint(folder, CONFIG, { dtype: 'f32', seed });
  const src = await openLlamaModel(folder);
  file = join(dir, 'tiny.q4_k.gguf');
  await writeLlamaGguf(src.weights, src.config, file, { type: 'Q4_K', matrixType });
  await src.weights.close();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function load(backend: Backend, keepQuantized: boolean, actDtype: 'f32' | 'f16' = 'f32'): Promise<LlamaRunner> {
  const model = await openLlamaModel(file);
  try {
    return await LlamaRunner.load(model, {
      backend,
      actDtype,
      maxTokens: 32,
      maxSeqs: 2,
      numPages: 16,
      keepQuantized,
    });
  } finally {
    await model.weights.close();
  }
}

/** Prefill then greedy decode; every step's logits. */
async function greedy(
  runner: LlamaRunner,
  prompt: number[],
  steps: number,
): Promise<{ logits: Float32Array[]; tokens: number[] }> {
  const logits = [await runner.forward({ seqs: [{ tokens: prompt, start: 0, pages: [0, 1] }] })];
  const tokens: number[] = [];
  let start = prompt.length;
  for (let i = 0; i < steps; i++) {
    const last = logits[logits.length - 1]!;
    const t = last.indexOf(Math.max(...last));
    tokens.push(t);
    logits.push(await runner.forward({ seqs: [{ tokens: [t], start: start++, pages: [0, 1] }] }));
  }
  return { logits, tokens };
}

/** Stored bytes of the file's matrices other than the embedding table, and the table's f32 size. */
async function fileBytes(): Promise<{ matrices: number; embeddingF32: number; norms: number }> {
  const g = await GgufFile.open(file);
  try {
    let matrices = 0;
    let norms = 0;
    for (const [name, info] of g.tensors) {
      if (name === 'token_embd.weight') continue;
      if (info.shape.length === 2) matrices += info.fileBytes;
      else norms += info.fileBytes;
    }
    const e = g.tensors.get('token_embd.weight')!;
    return { matrices, embeddingF32: e.shape[0]! * e.shape[1]! * 4, norms };
  } finally {
    await g.close();
  }
}

/** Largest |got − want| over all steps, each step relative to its largest |want|. */
function largestDifference(got: Float32Array[], want: Float32Array[]): number {
  let worst = 0;
  for (const [s, w] of want.entries()) {
    const g = got[s]!;
    const scale = Math.max(...Array.from(w, Math.abs));
    for (let i = 0; i < w.length; i++) worst = Math.max(worst, Math.abs(g[i]! - w[i]!) / scale);
  }
  return worst;
}

function expectParity(
  got: { logits: Float32Array[]; tokens: number[] },
  want: { logits: Float32Array[]; tokens: number[] },
) {
  expect(got.tokens).toEqual(want.tokens);
  const worst = largestDifference(got.logits, want.logits);
  console.log(`largest logit difference / largest |logit|: ${worst.toExponential(2)}`);
  expect(worst).toBeLessThan(2e-4);
}

/**
 * With f16 activations the two paths may part on a greedy token only where the reference's top two
 * logits are within `tol` (relative to the largest |logit|) of each other; logits are compared up
 * to and including the first step where the tokens part (after it the inputs differ).
 */
function expectParityF16(
  got: { logits: Float32Array[]; tokens: number[] },
  want: { logits: Float32Array[]; tokens: number[] },
  tol: number,
) {
  let worst = 0;
  let tightest = Infinity;
  for (const [s, w] of want.logits.entries()) {
    const g = got.logits[s]!;
    const scale = Math.max(...Array.from(w, Math.abs));
    for (let i = 0; i < w.length; i++) worst = Math.max(worst, Math.abs(g[i]! - w[i]!) / scale);
    const sorted = Array.from(w).sort((a, b) => b - a);
    tightest = Math.min(tightest, (sorted[0]! - sorted[1]!) / scale);
    if (s === want.tokens.length) break;
    const [gt, wt] = [got.tokens[s]!, want.tokens[s]!];
    if (gt !== wt) {
      const margin = (w[wt]! - w[gt]!) / scale;
      console.log(
        `greedy step ${s}: tokens part (${gt} vs ${wt}), reference margin between them ${margin.toExponential(2)}`,
      );
      expect(margin).toBeLessThan(tol);
      break;
    }
  }
  console.log(
    `f16 activations: largest logit difference / largest |logit| ${worst.toExponential(2)}, tightest top-2 margin ${tightest.toExponential(2)}`,
  );
  expect(worst).toBeLessThan(tol);
}

/** The load log's memory line (`tessera run/serve`): device bytes, the formats kept quantized, host RSS. */
function expectLoadReport(line: string, where: 'GPU' | 'backend', deviceBytes: number) {
  console.log(`load report: ${line}`);
  expect(line).toContain(`weights ${(deviceBytes / 2 ** 20).toFixed(1)} MiB on the ${where}`);
  const kept = /kept quantized: ([^;]*) matrices/.exec(line)?.[1]?.split(', ').sort();
  expect(kept).toEqual(
    Object.entries(KEPT_QUANTIZED)
      .map(([f, n]) => `${n} ${f}`)
      .sort(),
  );
  expect(line).toMatch(/host resident \d+\.\d MiB$/);
}

const F16_TOL = 1e-2;

const prompt = (() => {
  const rng = new Rng(seed);
  return Array.from({ length: 7 }, () => rng.int(0, CONFIG.vocab_size - 1));
})();

describe(`GGUF Q8_0/Q4_K/Q6_K Llama kept quantized (${seedNote(seed)})`, () => {
  it('CPU: logits and greedy tokens match the f32-dequantized path; weights take the stored bytes', async () => {
    const backend = new CpuBackend();
    const quant = await load(backend, true);
    const deq = await load(backend, false);
    try {
      expect(quant.quantizedWeights).toEqual(KEPT_QUANTIZED);
      expect(deq.quantizedWeights).toEqual({});
      const sizes = await fileBytes();
      expect(quant.weightBytes()).toBe(sizes.matrices + sizes.embeddingF32 + sizes.norms);
      console.log(
        `weights: ${quant.weightBytes()} bytes kept quantized, ${deq.weightBytes()} dequantized to f32 (file matrices ${sizes.matrices} bytes)`,
      );
      expectLoadReport(memoryLine(backend, quant), 'backend', quant.weightBytes());
      expectParity(await greedy(quant, prompt, 6), await greedy(deq, prompt, 6));
    } finally {
      quant.destroy();
      deq.destroy();
    }
  });

  it.skipIf(!gpu)(
    `WebGPU: the same parity, and the arena's weight bytes are the file's${gpu ? '' : ` (skipped: ${gpuSkipReason()})`}`,
    async () => {
      const sizes = await fileBytes();
      const before = gpu!.memory().byOwner.get('weights') ?? 0;
      const quant = await load(gpu!, true);
      const held = (gpu!.memory().byOwner.get('weights') ?? 0) - before;
      // the report is the arena's whole "weights" figure: the quantized model's bytes plus what came before
      expectLoadReport(memoryLine(gpu!, quant), 'GPU', before + held);
      const deq = await load(gpu!, false);
      try {
        // buffers are rounded up to 4 bytes per tensor at most
        expect(held).toBeGreaterThanOrEqual(sizes.matrices + sizes.embeddingF32 + sizes.norms);
        expect(held).toBeLessThan(sizes.matrices + sizes.embeddingF32 + sizes.norms + 64 * 32);
        expectParity(await greedy(quant, prompt, 4), await greedy(deq, prompt, 4));
      } finally {
        quant.destroy();
        deq.destroy();
      }
    },
  );

  it.skipIf(!gpu?.caps.f16)(
    `WebGPU, f16 activations: the quantized path matches the dequantized one with the same f16 activations${gpu?.caps.f16 ? '' : ` (skipped: ${gpu ? 'the device has no shader-f16' : gpuSkipReason()})`}`,
    async () => {
      const quant = await load(gpu!, true, 'f16');
      const deq = await load(gpu!, false, 'f16');
      const deq32 = await load(gpu!, false, 'f32');
      try {
        expect(quant.quantizedWeights).toEqual(KEPT_QUANTIZED);
        const want = await greedy(deq, prompt, 4);
        const ref32 = await greedy(deq32, prompt, 4);
        console.log(
          `f16 vs f32 activations, both dequantized: ${largestDifference(want.logits, ref32.logits).toExponential(2)}`,
        );
        expectParityF16(await greedy(quant, prompt, 4), want, F16_TOL);
      } finally {
        quant.destroy();
        deq.destroy();
        deq32.destroy();
      }
    },
  );
});
