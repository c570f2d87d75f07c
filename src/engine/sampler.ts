/**
 * Token sampling on the CPU from one row of logits.
 *
 * Kept in one module, with randomness from the counter-based generator of src/util/rng.ts, so it
 * can move to the GPU `sample` op and pick the same tokens: the uniform draw for a token depends
 * only on (seed, completion index, output position), never on batch composition or preemption.
 *
 * Order of processing: repetition / presence / frequency penalties and logit bias, the grammar
 * mask, then greedy argmax or temperature, top-k, top-p, min-p and a draw.
 */
import { uniformAt } from '../util/rng.js';
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

/** Tokens this far below the best (after temperature) have probability < e^-40 relative to it: dropped before sorting. */
const NEGLIGIBLE_GAP = 40;

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
  const token = params.temperature === 0 ? argmax(work) : draw(work, params, ctx);
  if (token < 0) throw new Error('sampling: no token is allowed (every logit is −∞ or NaN after masking)');
  if (!params.logprobs) return { token };
  return { token, ...rawLogprobs(logits, token, params.topLogprobs) };
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

function draw(work: Float32Array, params: SamplingParams, ctx: SamplerContext): number {
  const inv = 1 / params.temperature;
  let max = -Infinity;
  for (let i = 0; i < work.length; i++) {
    work[i] = work[i]! * inv;
    if (work[i]! > max) max = work[i]!;
  }
  if (max === -Infinity || Number.isNaN(max)) return -1;
  const candidates: number[] = [];
  for (let i = 0; i < work.length; i++) if (work[i]! > max - NEGLIGIBLE_GAP) candidates.push(i);
  candidates.sort((a, b) => work[b]! - work[a]! || a - b);
  let keep = candidates.length;
  if (params.topK > 0) keep = Math.min(keep, params.topK);
  const probs = new Float64Array(keep);
  let total = 0;
  for (let i = 0; i < keep; i++) total += probs[i] = Math.exp(work[candidates[i]!]! - max);
  if (params.topP < 1) {
    let cumulative = 0;
    for (let i = 0; i < keep; i++) {
      cumulative += probs[i]! / total;
      // Keep the smallest prefix whose mass reaches top_p (with a little slack for rounding).
      if (cumulative >= params.topP - 1e-12) {
        keep = i + 1;
        break;
      }
    }
  }
  if (params.minP > 0) {
    const threshold = params.minP * probs[0]!;
    let i = 1;
    while (i < keep && probs[i]! >= threshold) i++;
    keep = i;
  }
  let kept = 0;
  for (let i = 0; i < keep; i++) kept += probs[i]!;
  const u = uniformAt(ctx.seed, ctx.stream, ctx.step) * kept;
  let acc = 0;
  for (let i = 0; i < keep; i++) {
    acc += probs[i]!;
    if (u < acc) return candidates[i]!;
  }
  return candidates[keep - 1]!;
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
