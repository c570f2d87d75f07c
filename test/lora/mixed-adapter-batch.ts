/**
 * The runner tests' mixed batch of the built-in model (llama-lora-runner.test.ts,
 * llama-lora-f16.test.ts): rows 0–2 are prompts 0, 1, 0 of its reference.json (12 tokens each) on
 * pages [3i, 3i + 1], prefilled and then decoded one step with tokens 5, 77, 301; each compared
 * with a runner holding the row alone.
 */
import { readFileSync } from 'node:fs';
import type { Backend } from '../../src/backends/backend.js';
import type { TensorSource } from '../../src/io/tensor-source.js';
import type { LoraGraphOptions } from '../../src/models/llama/adapter-graph.js';
import type { LlamaConfig } from '../../src/models/llama/llama-config.js';
import { LlamaRunner } from '../../src/models/llama/llama-runner.js';

export const BUILTIN_DIR = new URL('../../models/builtin/', import.meta.url).pathname;

const prompts = (
  JSON.parse(readFileSync(`${BUILTIN_DIR}reference.json`, 'utf8')) as { references: { ids: number[] }[] }
).references.map((r) => r.ids.slice(0, 12));

/** Each row's prompt. */
export const ROW_PROMPTS = [prompts[0]!, prompts[1]!, prompts[0]!];
/** Each row's decode token. */
export const ROW_NEXT = [5, 77, 301];
export const rowPages = (i: number) => [3 * i, 3 * i + 1];

/** An f32 runner with room for the batch (4 sequences of ≤ 48 tokens, 24 pages of 8), with adapter slots where `lora`. */
export function loadBatchRunner(
  model: { config: LlamaConfig; weights: TensorSource },
  backend: Backend,
  lora?: LoraGraphOptions,
): Promise<LlamaRunner> {
  return LlamaRunner.load(model, {
    backend,
    actDtype: 'f32',
    weightDtype: 'f32',
    maxTokens: 48,
    maxSeqs: 4,
    numPages: 24,
    pageSize: 8,
    ...(lora ? { lora } : {}),
  });
}

/** Row i alone on pages [0, 1] of `r`: its prefill logits, then its decode step's. */
export async function rowAlone(r: LlamaRunner, i: number): Promise<readonly [Float32Array, Float32Array]> {
  const pre = await r.forward({ seqs: [{ tokens: ROW_PROMPTS[i]!, start: 0, pages: [0, 1] }] });
  const dec = await r.forward({ seqs: [{ tokens: [ROW_NEXT[i]!], start: ROW_PROMPTS[i]!.length, pages: [0, 1] }] });
  return [pre, dec] as const;
}

/** The rows as one batch under `adapters` (undefined: the base model): prefill, or the decode step. */
export function mixedBatch(adapters: readonly (string | undefined)[], decode: boolean) {
  return {
    seqs: [0, 1, 2].map((i) => ({
      tokens: decode ? [ROW_NEXT[i]!] : ROW_PROMPTS[i]!,
      start: decode ? ROW_PROMPTS[i]!.length : 0,
      pages: rowPages(i),
      ...(adapters[i] ? { adapter: adapters[i] } : {}),
    })),
  };
}
