/**
 * Token sampling on the CPU from one row of logits.
 *
 * Order of processing: repetition / presence / frequency penalties and logit bias, the grammar
 * mask and NaN → −∞ (host-only steps), then greedy argmax or the draw of `sample-draw.ts`, which
 * has the device `sample` op's semantics: for the same logits and (seed, stream, step) a request
 * without host-only steps gets the same token on either side. The uniform number depends only on
 * (seed, completion index, output position), never on batch composition or preemption.
 */
import { type DrawParams, drawToken } from './sample-draw.js';
import type { SamplingParams } from './sampling-params.js';
import { maskAllows } from './token-constraint.js';

export interface TokenLogprob {
  token: number;
  logprob: number;
}

export interface SampleResult {
  token: number;
  /** Log-probability of `token` under the model's raw distribution (with `params.logprobs`). */
  logprob?: number;
  /** The `params.topLogprobs` most likely tokens of the raw distribution, best first. */
  topLogprobs?: TokenLogprob[];
}

/** What the sampler needs to know about a completion's history. */
export interface SamplerContext {
  /** Every token of prompt and output (for the repetition penalty). */
  seen: ReadonlySet<number>;
  /** Occurrences of each generated token (presence and frequency penalties). */
  outputCounts: ReadonlyMap<number, number>;
  seed: number;
  /** Which completion of the request (0 … n−1): separates the random streams of `n` > 1. */
  stream: number;
  /** Output position: the draw for the i-th generated token uses counter i. */
  step: number;
  /** Allowed tokens (bitmask) or null. */
  mask: Int32Array | null;
}

export function sampleToken(logits: Float32Array, params: SamplingParams, ctx: SamplerContext): SampleResult {
  const vocab = logits.length;
  const work = Float32Array.from(logits);
  if (params.repetitionPenalty !== 1) {
    for (const t of ctx.seen) {
      if (t < vocab) work[t] = work[t]! > 0 ? work[t]! / params.repetitionPenalty : work[t]! * params.repetitionPenalty;
    }
  }
  if (params.presencePenalty !== 0 || params.frequencyPenalty !== 0) {
    for (const [t, count] of ctx.outputCounts) {
      if (t < vocab) work[t] = work[t]! - params.presencePenalty - params.frequencyPenalty * count;
    }
  }
  for (const [t, bias] of params.logitBias) if (t >= 0 && t < vocab) work[t] = work[t]! + bias;
  if (ctx.mask) {
    for (let t = 0; t < vocab; t++) if (!maskAllows(ctx.mask, t)) work[t] = -Infinity;
  }
  for (let t = 0; t < vocab; t++) if (Number.isNaN(work[t]!)) work[t] = -Infinity;
  // Greedy exactly when the device op is: the params tensor carries the temperature as f32.
  const token = Math.fround(params.temperature) > 0 ? drawToken(work, drawParams(params, ctx)) : argmax(work);
  if (token < 0) throw new Error('sampling: no token is allowed (every logit is −∞ or NaN after masking)');
  if (!params.logprobs) return { token };
  return { token, ...rawLogprobs(logits, token, params.topLogprobs) };
}

function drawParams(p: SamplingParams, ctx: SamplerContext): DrawParams {
  const { temperature, topK, topP, minP } = p;
  return { temperature, topK, topP, minP, seed: ctx.seed, stream: ctx.stream, step: ctx.step };
}

/** Index of the largest value; ties go to the lowest index; −1 when nothing is finite. */
export function argmax(x: Float32Array): number {
  let best = -1;
  let bestValue = -Infinity;
  for (let i = 0; i < x.length; i++) {
    if (x[i]! > bestValue) {
      bestValue = x[i]!;
      best = i;
    }
  }
  return best;
}

function rawLogprobs(
  logits: Float32Array,
  token: number,
  top: number,
): { logprob: number; topLogprobs?: TokenLogprob[] } {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i]! > max) max = logits[i]!;
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i]! - max);
  const lse = max + Math.log(sum);
  const logprob = logits[token]! - lse;
  if (top <= 0) return { logprob };
  // Keep a small sorted list of the best `top` entries: O(V·top) with top ≤ 20.
  const best: TokenLogprob[] = [];
  for (let i = 0; i < logits.length; i++) {
    const lp = logits[i]! - lse;
    if (best.length === top && lp <= best[top - 1]!.logprob) continue;
    let at = best.length;
    while (at > 0 && best[at - 1]!.logprob < lp) at--;
    best.splice(at, 0, { token: i, logprob: lp });
    if (best.length > top) best.pop();
  }
  return { logprob, topLogprobs: best };
}
