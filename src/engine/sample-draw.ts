/**
 * The non-greedy draw of one row of logits, with the semantics of the device `sample` op
 * (`src/ops/sample.ts`): HF warper order (temperature, top-k, top-p, min-p), each filter a
 * threshold on the logit so ties at a boundary are all kept, and an inverse CDF over the kept
 * weights in index order at u = uniformAt(seed, stream, step). Temperature, top-p and min-p are
 * rounded to f32 first, as the op's params tensor carries them, so the host and the device draw the
 * same token; the arithmetic is float64, so this equals the op's float64 reference exactly.
 */
import type { SampleRowParams } from '../ops/sample.js';
import { uniformAt } from '../util/rng.js';

/** The `sample` op's row params, every one given. */
export type DrawParams = Required<SampleRowParams>;

/**
 * The token drawn from `x` (NaN already replaced by −∞), or −1 when no logit is finite.
 * Greedy (temperature ≤ 0 after rounding) is the caller's: this needs T > 0.
 */
export function drawToken(x: Float32Array, p: DrawParams): number {
  const V = x.length;
  const T = Math.fround(p.temperature);
  let m = -Infinity;
  for (let i = 0; i < V; i++) if (x[i]! > m) m = x[i]!;
  if (m === -Infinity) return -1;
  const w = new Float64Array(V);
  for (let i = 0; i < V; i++) w[i] = Math.exp((x[i]! - m) / T);
  const tk = p.topK > 0 && p.topK < V ? topKThreshold(x, w, p.topK) : -Infinity;
  const topP = Math.fround(p.topP);
  const tp = topP > 0 && topP < 1 ? topPThreshold(x, w, tk, topP) : -Infinity;
  const minP = Math.fround(p.minP);
  const tm = minP > 0 ? m + T * Math.log(minP) : -Infinity;
  return inverseCdf(x, w, Math.max(tk, tp, tm), uniformAt(p.seed, p.stream, p.step));
}

/**
 * Weights below this cannot change a float64 sum that already holds 1 (the top token's weight),
 * even all V of them summed first: V · 2^-54 / V < half an ulp of 1. Top-k and top-p sum in
 * decreasing order, so the tail below it can be left out without changing any of their sums.
 */
const tailWeight = (V: number) => 2 ** -54 / V;

/** Indices with weight ≥ the tail bound (and logit ≥ floor), by logit descending then index ascending. */
function head(x: Float32Array, w: Float64Array, floor: number): number[] {
  const bound = tailWeight(x.length);
  const idx: number[] = [];
  for (let i = 0; i < x.length; i++) if (w[i]! >= bound && x[i]! >= floor) idx.push(i);
  return idx.sort((a, b) => x[b]! - x[a]! || a - b);
}

/** The k-th largest logit, counting repeats (keep x ≥ it: ties at the boundary all kept). */
function topKThreshold(x: Float32Array, w: Float64Array, k: number): number {
  const idx = head(x, w, -Infinity);
  if (idx.length >= k) return x[idx[k - 1]!]!;
  const all = Float32Array.from(x).sort();
  return all[x.length - k]!;
}

/**
 * The largest logit v such that the mass of logits ≥ v (among those ≥ floor) reaches p·Z, with
 * the op reference's order of sums: Z token by token in decreasing order, the running mass one
 * tie group at a time.
 */
function topPThreshold(x: Float32Array, w: Float64Array, floor: number, p: number): number {
  const idx = head(x, w, floor);
  let Z = 0;
  for (const i of idx) Z += w[i]!;
  const target = p * Z;
  let before = 0;
  for (let j = 0; j < idx.length; ) {
    const v = x[idx[j]!]!;
    let mass = 0;
    for (; j < idx.length && x[idx[j]!]! === v; j++) mass += w[idx[j]!]!;
    const after = before + mass;
    if (after >= target) return v;
    before = after;
  }
  return x[idx[idx.length - 1]!]!;
}

/** The kept token (x ≥ thr) whose interval of the index-order running sum holds u·Z. */
function inverseCdf(x: Float32Array, w: Float64Array, thr: number, u: number): number {
  let Z = 0;
  let last = -1;
  for (let i = 0; i < x.length; i++) {
    if (x[i]! >= thr) {
      Z += w[i]!;
      last = i;
    }
  }
  const target = u * Z;
  let cdf = 0;
  for (let i = 0; i < x.length; i++) {
    if (x[i]! >= thr) {
      cdf += w[i]!;
      if (target < cdf) return i;
    }
  }
  return last;
}
