/**
 * What the in-process serving benchmarks (bench/serve.ts, bench/nanoflow.ts) share: a Llama runner
 * loaded for serving, a tokenizer that never sees text, one greedy request driven to its end with a
 * timestamp per token, and the nearest-rank percentile their latency rows use.
 */
import type { WebGpuBackend } from '../src/backends/webgpu/webgpu-backend.js';
import type { Engine } from '../src/engine/engine.js';
import type { FinishReason } from '../src/engine/request.js';
import type { EngineTokenizer } from '../src/engine/tokenizer.js';
import type { OpenedModel } from '../src/models/family.js';
import type { LlamaConfig } from '../src/models/llama/llama-config.js';
import { LlamaRunner, type LlamaRunnerOptions } from '../src/models/llama/llama-runner.js';

/** Token ids in, token ids out: the benchmarks compare ids, so there is no text on either side. */
export const TOKEN_IDS_ONLY: EngineTokenizer = {
  encode: () => [],
  decode: () => '',
  applyChatTemplate: () => '',
  templateSupportsTools: false,
  stopTokenIds: [],
  vocabulary: () => ({ tokens: [], type: 'raw' }),
};

export interface ServingRunnerSize {
  pageSize: number;
  numPages: number;
  maxSeqs: number;
  maxTokens: number;
}

/** Loads `model` with f16 activations and KV for `size`, closes its weight files and logs the load time. */
export async function loadServingRunner(
  model: OpenedModel<LlamaConfig>,
  backend: WebGpuBackend,
  size: ServingRunnerSize,
  label: string,
  /** Mixed-step padding and recording (the runner's defaults where absent). */
  mixed: Pick<LlamaRunnerOptions, 'mixedRowBuckets' | 'mixedBuckets'> = {},
): Promise<LlamaRunner> {
  const t0 = performance.now();
  const runner = await LlamaRunner.load(model, { backend, actDtype: 'f16', ...size, ...mixed });
  await model.weights.close();
  console.log(
    `loaded ${label} in ${((performance.now() - t0) / 1e3).toFixed(1)} s; ${size.numPages} KV pages of ${size.pageSize} tokens`,
  );
  return runner;
}

export interface DrivenRequest {
  ids: number[];
  /** Each token's arrival at the caller, seconds since the `t0` given. */
  times: number[];
  /** The first choice's finish reason and token count in the final result, for the caller's checks. */
  finishReason: FinishReason | undefined;
  resultTokens: number | undefined;
}

/** Submits one greedy request with EOS ignored (so it runs to `output` tokens) and streams it to its end. */
export async function driveGreedy(
  engine: Engine,
  prompt: readonly number[],
  output: number,
  t0: number,
): Promise<DrivenRequest> {
  const req = await engine.submit(prompt, { maxTokens: output, temperature: 0, ignoreEos: true });
  const times: number[] = [];
  const ids: number[] = [];
  for await (const ev of req)
    if (ev.type === 'delta')
      for (const t of ev.tokens) {
        times.push((performance.now() - t0) / 1e3);
        ids.push(t.id);
      }
  const choice = (await req.result).choices[0];
  return { ids, times, finishReason: choice?.finishReason, resultTokens: choice?.tokens.length };
}

export { percentile } from './serving-peers.js';
