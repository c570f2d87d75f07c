/**
 * The CPU backend (float64 references) and WebGPU give the same greedy tokens on tiny random
 * checkpoints of each supported family — Llama 3 (RoPE scaling, GQA), Qwen2 (QKV bias, tied
 * embeddings), Mistral (untied head) — generated here by `writeRandomLlamaCheckpoint`, and a
 * mixed batch (prefill chunk + decode + a second sequence) gives each sequence what it gets alone.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Backend } from '../../src/backends/backend.js';
import { CpuBackend } from '../../src/backends/cpu/cpu-backend.js';
import { openLlamaModel } from '../../src/models/llama/llama-family.js';
import { writeRandomLlamaCheckpoint } from '../../src/models/llama/random-checkpoint.js';
import { LlamaRunner } from '../../src/models/llama/llama-runner.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { gpuBackend, gpuSkipReason } from '../gpu-setup.js';

const gpu = await gpuBackend();
const seed = testSeed();
const base = {
  hidden_size: 64,
  intermediate_size: 96,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  vocab_size: 211,
  max_position_embeddings: 256,
  rms_norm_eps: 1e-5,
};
const FAMILIES: Record<string, Record<string, unknown>> = {
  llama3: {
    ...base,
    model_type: 'llama',
    num_key_value_heads: 2,
    rope_theta: 500000,
    tie_word_embeddings: false,
    rope_scaling: {
      rope_type: 'llama3',
      factor: 8,
      low_freq_factor: 1,
      high_freq_factor: 4,
      original_max_position_embeddings: 32,
    },
  },
  qwen2: { ...base, model_type: 'qwen2', num_key_value_heads: 1, rope_theta: 1e6, tie_word_embeddings: true },
  mistral: { ...base, model_type: 'mistral', num_key_value_heads: 2, head_dim: 16, tie_word_embeddings: false },
};

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function runner(dir: string, backend: Backend): Promise<LlamaRunner> {
  const m = await openLlamaModel(dir);
  try {
    return await LlamaRunner.load(m, {
      backend,
      actDtype: 'f32',
      maxTokens: 32,
      maxSeqs: 4,
      numPages: 24,
      pageSize: 4,
    });
  } finally {
    await m.weights.close();
  }
}

const argmax = (x: Float32Array, row: number, v: number) => {
  let best = 0;
  for (let i = 1; i < v; i++) if (x[row * v + i]! > x[row * v + best]!) best = i;
  return best;
};

/** Greedy tokens for one sequence: a prefill of `prompt` then `steps` decode steps. */
async function greedy(r: LlamaRunner, prompt: number[], steps: number, pages: number[]): Promise<number[]> {
  const out: number[] = [];
  let logits = await r.forward({ seqs: [{ tokens: prompt, start: 0, pages }] });
  for (let s = 0; s < steps; s++) {
    out.push(argmax(logits, 0, r.vocabSize));
    logits = await r.forward({ seqs: [{ tokens: [out[s]!], start: prompt.length + s, pages }] });
  }
  return out;
}

describe(`tiny random checkpoints (${seedNote(seed)})`, () => {
  for (const [family, cfg] of Object.entries(FAMILIES)) {
    it.skipIf(!gpu)(
      `${family}: CPU and WebGPU agree on greedy tokens; batching changes nothing${gpu ? '' : ` (skipped: ${gpuSkipReason()})`}`,
      async () => {
        const dir = await mkdtemp(join(tmpdir(), `tessera-${family}-`));
        dirs.push(dir);
        await writeRandomLlamaCheckpoint(dir, cfg, { dtype: 'bf16', seed });
        const prompt = Array.from({ length: 11 }, (_, i) => (i * 37 + seed) % 211);
        const pages = [0, 1, 2, 3, 4, 5];
        const cpu = await runner(dir, new CpuBackend());
        const want = await greedy(cpu, prompt, 5, pages);
        const g = await runner(dir, gpu!);
        expect(await greedy(g, prompt, 5, pages)).toEqual(want);
        // the same prompt again beside a second sequence, in one mixed step: the first row must not change
        const other = [5, 6, 7];
        const mixed = await g.forward({
          seqs: [
            { tokens: prompt, start: 0, pages: [8, 9, 10, 11] },
            { tokens: other, start: 0, pages: [12] },
          ],
        });
        expect(argmax(mixed, 0, g.vocabSize)).toBe(want[0]);
        g.destroy();
        cpu.destroy();
      },
    );
  }
});
