/**
 * What attends the middle of a long context (the keys between the sinks and the window), as
 * alternative policies of the same mode: MagicPIG's LSH sampling, exact attention (the oracle, and
 * what dense layers use), and the baselines issue 24 asks
 * for in our own engine — StreamingLLM (nothing: sinks and window only), oracle TopK (the k best
 * scores, found over all keys, attended exactly) and Quest (pages of keys ranked by an upper bound
 * of their best score from per-channel min/max, the best pages attended exactly).
 *
 * TopK and Quest are baselines for accuracy, in float64 over the stored f16 keys; TopK's cost is a
 * full scan by definition, so neither is written for speed.
 */
import type { LshKvStream } from './kv-stream.js';
import { type SampledState, type SampledTask, type ScanTimes, sampledStates } from './sampled-scan.js';

export type MiddlePolicy =
  | { readonly kind: 'magicpig' }
  | { readonly kind: 'exact' }
  | { readonly kind: 'streaming' }
  | { readonly kind: 'topk'; readonly k: number }
  | { readonly kind: 'quest'; readonly pageSize: number; readonly pages: number };

/** The middle's state of every task under `policy` (`scale` multiplies q·k); MagicPIG adds its hashing and scanning time to `times`. */
export function middleStates(
  tasks: readonly SampledTask[],
  scale: number,
  policy: MiddlePolicy,
  times?: ScanTimes,
): SampledState[] {
  switch (policy.kind) {
    case 'magicpig':
      return sampledStates(tasks, scale, times ? { times } : {});
    case 'exact':
      return tasks.map((t) =>
        exactSubset(
          t,
          scale,
          Array.from({ length: t.hi - t.lo }, (_, j) => t.lo + j),
        ),
      );
    case 'streaming':
      return tasks.map((t) => ({ o: new Float32Array(t.stream.valueDim), lse: -Infinity, candidates: 0 }));
    case 'topk':
      return tasks.map((t) => exactSubset(t, scale, topKIds(t, policy.k)));
    case 'quest':
      return tasks.map((t) => exactSubset(t, scale, questIds(t, policy.pageSize, policy.pages)));
  }
}

function scores(t: SampledTask): Float64Array {
  const keys = t.stream.keyRows(t.lo, t.hi);
  const d = t.stream.dim;
  const s = new Float64Array(t.hi - t.lo);
  for (let i = 0; i < s.length; i++) {
    let x = 0;
    for (let e = 0; e < d; e++) x += t.q[e]! * keys[i * d + e]!;
    s[i] = x;
  }
  return s;
}

/** Ids of the k largest q·k in [lo, hi) (ties to the lower id), ascending. */
export function topKIds(t: SampledTask, k: number): number[] {
  const s = scores(t);
  const order = Array.from(s.keys()).sort((a, b) => s[b]! - s[a]! || a - b);
  return order
    .slice(0, Math.max(0, k))
    .map((i) => i + t.lo)
    .sort((a, b) => a - b);
}

/** Quest's bound on the best q·k of keys [p0, p1): Σ_e max(q_e·min_e, q_e·max_e). */
export function questPageBound(q: ArrayLike<number>, stream: LshKvStream, p0: number, p1: number): number {
  const d = stream.dim;
  const keys = stream.keyRows(p0, p1);
  let bound = 0;
  for (let e = 0; e < d; e++) {
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < p1 - p0; i++) {
      const x = keys[i * d + e]!;
      if (x < lo) lo = x;
      if (x > hi) hi = x;
    }
    bound += Math.max(q[e]! * lo, q[e]! * hi);
  }
  return bound;
}

/**
 * Keys of the `pages` pages with the largest bounds (ties to the earlier page), ascending; pages
 * are aligned to multiples of `pageSize` in the sequence, as its KV pages are, and clipped to [lo, hi).
 */
export function questIds(t: SampledTask, pageSize: number, pages: number): number[] {
  const ranked: { p0: number; p1: number; bound: number }[] = [];
  for (let p0 = Math.floor(t.lo / pageSize) * pageSize; p0 < t.hi; p0 += pageSize) {
    const a = Math.max(p0, t.lo);
    const b = Math.min(p0 + pageSize, t.hi);
    if (b > a) ranked.push({ p0: a, p1: b, bound: questPageBound(t.q, t.stream, a, b) });
  }
  ranked.sort((x, y) => y.bound - x.bound || x.p0 - y.p0);
  const ids: number[] = [];
  for (const p of ranked.slice(0, Math.max(0, pages))) for (let i = p.p0; i < p.p1; i++) ids.push(i);
  return ids.sort((a, b) => a - b);
}

/** Exact attention state over the keys `ids` (float64 over the stored f16 rows, rounded to f32). */
function exactSubset(t: SampledTask, scale: number, ids: readonly number[]): SampledState {
  const { stream } = t;
  const d = stream.dim;
  const dv = stream.valueDim;
  const o = new Float32Array(dv);
  if (ids.length === 0) return { o, lse: -Infinity, candidates: 0 };
  const keys = stream.keyRows(t.lo, t.hi);
  const values = stream.valueRows(t.lo, t.hi);
  const s = ids.map((i) => {
    let x = 0;
    for (let e = 0; e < d; e++) x += t.q[e]! * keys[(i - t.lo) * d + e]!;
    return scale * x;
  });
  const max = s.reduce((a, b) => Math.max(a, b), -Infinity);
  const acc = new Float64Array(dv);
  let z = 0;
  ids.forEach((i, j) => {
    const w = Math.exp(s[j]! - max);
    z += w;
    for (let e = 0; e < dv; e++) acc[e]! += w * values[(i - t.lo) * dv + e]!;
  });
  for (let e = 0; e < dv; e++) o[e] = acc[e]! / z;
  return { o, lse: (max + Math.log(z)) * Math.LOG2E, candidates: ids.length };
}
