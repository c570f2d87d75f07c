/**
 * MagicPIG's attention for one query row over a long context on the CPU: the sink tokens and the
 * recent window exactly, every other key through LSH sampling, the two partial states merged by
 * their log-sum-exp (base 2, the attention engine's convention).
 *
 * The sampled part is the self-normalised importance-sampling estimate: key i, a candidate with
 * probability u_i (collision.ts), weighs exp(s_i)/u_i, so both Σ_S exp(s_i)·v_i/u_i and
 * Σ_S exp(s_i)/u_i are unbiased over the hash functions for their exact sums, and their ratio is
 * the output. The denominator's log is the part's lse, which is what lets the exact part merge in.
 * u_i needs the angle between query and key: q·k_i is the score's dot product already, and the key
 * norms are computed once with the index.
 *
 * Keys and values are f32 rows as they sit in CPU memory; sums run in JavaScript numbers (f64).
 */
import { referenceMergeStates } from '../attention/reference.js';
import { bitCollisionProbability, samplingProbability } from './collision.js';
import { LshIndex } from './lsh-index.js';
import type { LshConfig } from './simhash.js';

/** A partial attention state of one row: output and lse (base 2) of the keys it covered. */
export interface AttentionState {
  o: Float64Array;
  lse: number;
}

export interface SampledAttentionOptions {
  /** Leading tokens always attended exactly (attention sinks). */
  sinks: number;
  /** Trailing tokens always attended exactly (the local window). */
  window: number;
  /** Score scale, 1/√d by default. */
  scale?: number;
}

export interface SampledAttentionResult extends AttentionState {
  /** Keys taken by sampling (candidates outside the exact ranges). */
  sampled: number;
  /** Keys attended exactly. */
  exact: number;
}

/** Keys, values and their hash tables: one KV head's context in CPU memory. */
export class LshKvCache {
  readonly index: LshIndex;
  readonly keyNorms: Float64Array;

  constructor(
    readonly keys: Float32Array,
    readonly values: Float32Array,
    readonly n: number,
    readonly dim: number,
    readonly valueDim: number,
    config: LshConfig,
  ) {
    this.index = LshIndex.build(keys, n, dim, config);
    this.keyNorms = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let e = 0; e < dim; e++) s += keys[i * dim + e]! ** 2;
      this.keyNorms[i] = Math.sqrt(s);
    }
  }

  private dot(q: ArrayLike<number>, i: number): number {
    const { keys, dim } = this;
    let s = 0;
    for (let e = 0; e < dim; e++) s += q[e]! * keys[i * dim + e]!;
    return s;
  }

  /**
   * One state over the keys `ids` (or the range [lo, hi)), each weighted exp(scale·q·k)/u where
   * `u` gives the key's sampling probability from its raw dot product (1 for exact keys).
   */
  private state(
    q: ArrayLike<number>,
    ids: ArrayLike<number>,
    scale: number,
    u: ((dot: number, i: number) => number) | null,
  ): AttentionState {
    const dv = this.valueDim;
    const o = new Float64Array(dv);
    const m = ids.length;
    if (m === 0) return { o, lse: -Infinity };
    const logw = new Float64Array(m);
    let max = -Infinity;
    for (let j = 0; j < m; j++) {
      const i = ids[j]!;
      const d = this.dot(q, i);
      logw[j] = scale * d - (u ? Math.log(u(d, i)) : 0);
      if (logw[j]! > max) max = logw[j]!;
    }
    let sum = 0;
    for (let j = 0; j < m; j++) {
      const w = Math.exp(logw[j]! - max);
      sum += w;
      const base = ids[j]! * dv;
      for (let e = 0; e < dv; e++) o[e]! += w * this.values[base + e]!;
    }
    for (let e = 0; e < dv; e++) o[e]! /= sum;
    return { o, lse: (max + Math.log(sum)) * Math.LOG2E };
  }

  /** The sampled part: candidates in [lo, hi) weighted by 1/u. */
  sampledState(q: ArrayLike<number>, lo: number, hi: number, scale: number): AttentionState & { sampled: number } {
    const { bits, tables, minCollisions } = this.index.hash.config;
    let qNorm = 0;
    for (let e = 0; e < this.dim; e++) qNorm += q[e]! ** 2;
    qNorm = Math.sqrt(qNorm);
    const ids = this.index.candidates(q, lo, hi);
    const u = (d: number, i: number): number => {
      const denom = qNorm * this.keyNorms[i]!;
      const p = bitCollisionProbability(denom > 0 ? d / denom : 0);
      return samplingProbability(p, bits, tables, minCollisions);
    };
    return { ...this.state(q, ids, scale, u), sampled: ids.length };
  }

  /** The exact part over the sinks and the window. */
  exactState(q: ArrayLike<number>, sinks: number, window: number, scale: number): AttentionState & { exact: number } {
    const ids: number[] = [];
    const s = Math.min(sinks, this.n);
    for (let i = 0; i < s; i++) ids.push(i);
    for (let i = Math.max(s, this.n - window); i < this.n; i++) ids.push(i);
    return { ...this.state(q, ids, scale, null), exact: ids.length };
  }

  /** Sinks and window exact, the middle sampled, merged by lse. */
  attend(q: ArrayLike<number>, opts: SampledAttentionOptions): SampledAttentionResult {
    const scale = opts.scale ?? 1 / Math.sqrt(this.dim);
    const lo = Math.min(opts.sinks, this.n);
    const hi = Math.max(lo, this.n - opts.window);
    const exact = this.exactState(q, opts.sinks, opts.window, scale);
    const sampled = this.sampledState(q, lo, hi, scale);
    const merged = mergeStates(exact, sampled);
    return { ...merged, sampled: sampled.sampled, exact: exact.exact };
  }
}

/** Two partial states of one row merged by lse (the attention engine's merge_states). */
export function mergeStates(a: AttentionState, b: AttentionState): AttentionState {
  const m = referenceMergeStates(a.o, Float64Array.of(a.lse), b.o, Float64Array.of(b.lse), a.o.length);
  return { o: m.v, lse: m.s[0]! };
}
