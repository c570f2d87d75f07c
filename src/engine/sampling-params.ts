/**
 * Per-request generation parameters, in engine terms (the server maps OpenAI fields onto these).
 */
import type { TokenConstraint } from './token-constraint.js';

export interface SamplingParams {
  /** 0 picks the most likely token (greedy). */
  temperature: number;
  /** Keep only the k most likely tokens; 0 turns it off. */
  topK: number;
  /** Keep the smallest set of most likely tokens whose probability reaches p; 1 turns it off. */
  topP: number;
  /** Drop tokens less likely than minP × the most likely one; 0 turns it off. */
  minP: number;
  /** OpenAI-style: subtract once for any token already generated. */
  presencePenalty: number;
  /** OpenAI-style: subtract per occurrence in the generated text. */
  frequencyPenalty: number;
  /** CTRL-style: divide positive (multiply negative) logits of tokens in prompt or output; 1 turns it off. */
  repetitionPenalty: number;
  /** Added to the logits of the given token ids. */
  logitBias: ReadonlyMap<number, number>;
  /** Fixes the random stream: the same seed gives the same tokens, whatever else is in the batch. */
  seed?: number;
  /** Return the sampled token's log-probability (of the model's raw distribution). */
  logprobs: boolean;
  /** How many most likely alternatives to return per position (with `logprobs`). */
  topLogprobs: number;
  /** Generation stops before any of these strings; they are not part of the output. */
  stop: readonly string[];
  /** Generation stops after any of these tokens (besides the tokenizer's own EOS tokens unless `ignoreEos`). */
  stopTokenIds: readonly number[];
  ignoreEos: boolean;
  maxTokens: number;
  /** Number of completions; they share the prompt's KV pages. */
  n: number;
  /** Builds one grammar constraint per completion (structured output, forced tool calls). */
  constraint?: () => Promise<TokenConstraint>;
  /** The LoRA adapter the request runs under (a name the runner's `adapters` holds); absent: the base model. */
  adapter?: string;
}

export const defaultSamplingParams: SamplingParams = {
  temperature: 1,
  topK: 0,
  topP: 1,
  minP: 0,
  presencePenalty: 0,
  frequencyPenalty: 0,
  repetitionPenalty: 1,
  logitBias: new Map(),
  logprobs: false,
  topLogprobs: 0,
  stop: [],
  stopTokenIds: [],
  ignoreEos: false,
  maxTokens: 16,
  n: 1,
};

/** Fills defaults and checks ranges; throws a RangeError that names the field. */
export function resolveSamplingParams(partial: Partial<SamplingParams>): SamplingParams {
  const p: SamplingParams = { ...defaultSamplingParams, ...partial };
  const check = (ok: boolean, what: string) => {
    if (!ok) throw new RangeError(what);
  };
  check(Number.isFinite(p.temperature) && p.temperature >= 0, 'temperature must be ≥ 0');
  check(Number.isInteger(p.topK) && p.topK >= 0, 'top_k must be an integer ≥ 0');
  check(p.topP > 0 && p.topP <= 1, 'top_p must be in (0, 1]');
  check(p.minP >= 0 && p.minP <= 1, 'min_p must be in [0, 1]');
  check(p.repetitionPenalty > 0, 'repetition_penalty must be > 0');
  check(Number.isFinite(p.presencePenalty) && Number.isFinite(p.frequencyPenalty), 'penalties must be finite');
  check(Number.isInteger(p.maxTokens) && p.maxTokens >= 1, 'max_tokens must be an integer ≥ 1');
  check(Number.isInteger(p.n) && p.n >= 1, 'n must be an integer ≥ 1');
  check(
    Number.isInteger(p.topLogprobs) && p.topLogprobs >= 0 && p.topLogprobs <= 20,
    'top_logprobs must be an integer in [0, 20]',
  );
  return p;
}
