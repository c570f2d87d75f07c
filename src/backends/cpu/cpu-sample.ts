/**
 * The `sample` op on the CPU, with the op's one semantics (src/ops/sample.ts): greedy at
 * temperature ≤ 0, else HF's warper order (temperature, top-k, top-p, min-p) as thresholds on the
 * logit, so ties at a boundary are all kept, then an inverse CDF over the kept weights in index
 * order at u = uniformAt(seed, stream, step).
 *
 * TypeScript rather than WebAssembly: a row is O(V) work (a sort of V values when top-k or top-p is
 * on) against the O(V·hidden) LM-head GEMV that produced it, so it is not where a step's time goes.
 * Weights are f32 (exp of f32 differences, as a kernel computes them); their sums are float64 (the
 * language's numbers), since an f32 running sum over 128K weights drifts by ~1e-3 relative, beyond
 * the op's stated slack of 1e-5 + 5e-10·V of the row's mass.
 */
import type { Tensor } from '../backend.js';
import { SAMPLE_PARAM_WORDS, type SampleRowParams } from '../../ops/sample.js';
import { uniformAt } from '../../util/rng.js';
import type { OpContext } from './cpu-op-context.js';

/** The op's row params, decoded from the params tensor's views without a copy per row. */
type RowParams = Required<SampleRowParams>;

function rowParams(words: Uint32Array, floats: Float32Array, r: number): RowParams {
  const o = r * SAMPLE_PARAM_WORDS;
  return {
    temperature: floats[o]!,
    topK: words[o + 1]!,
    topP: floats[o + 2]!,
    minP: floats[o + 3]!,
    seed: words[o + 4]!,
    stream: words[o + 5]!,
    step: words[o + 6]!,
  };
}

/** First index of the largest non-NaN value (0 when every value is NaN). */
function argmaxOf(x: Float32Array): number {
  let best = -1;
  for (let i = 0; i < x.length; i++) if (!Number.isNaN(x[i]!) && (best < 0 || x[i]! > x[best]!)) best = i;
  return Math.max(best, 0);
}

/** The row's logits ≥ floor (NaN never is), sorted ascending. */
function sortedFrom(x: Float32Array, floor: number): Float32Array {
  let n = 0;
  for (let i = 0; i < x.length; i++) if (x[i]! >= floor) n++;
  const out = new Float32Array(n);
  n = 0;
  for (let i = 0; i < x.length; i++) if (x[i]! >= floor) out[n++] = x[i]!;
  return out.sort();
}

/** The token one row draws. */
export function sampleRow(x: Float32Array, p: RowParams): number {
  const T = p.temperature;
  if (!(T > 0)) return argmaxOf(x);
  const V = x.length;
  let m = -Infinity;
  for (let i = 0; i < V; i++) if (x[i]! > m) m = x[i]!;
  if (m === -Infinity) return argmaxOf(x);
  // f32 weight of a logit: monotone in the logit, so a tie group shares one weight
  const weight = (v: number) => Math.fround(Math.exp(Math.fround(Math.fround(v - m) / T)));
  let thr = -Infinity;
  let sorted: Float32Array | null = null;
  if (p.topK > 0 && p.topK < V) {
    sorted = sortedFrom(x, -Infinity);
    // k-th largest counting repeats (NaNs were left out, so fewer than k values keep them all)
    thr = sorted.length >= p.topK ? sorted[sorted.length - p.topK]! : -Infinity;
  }
  if (p.topP > 0 && p.topP < 1) {
    const kept = thr === -Infinity && sorted ? sorted : sortedFrom(x, thr);
    // Z and the running mass both summed from the largest logit down, one tie group at a time
    let Z = 0;
    for (let j = kept.length - 1; j >= 0; j--) Z += weight(kept[j]!);
    const target = p.topP * Z;
    let mass = 0;
    let tp = kept.length ? kept[0]! : -Infinity;
    for (let j = kept.length - 1; j >= 0; ) {
      const v = kept[j]!;
      for (; j >= 0 && kept[j] === v; j--) mass += weight(v);
      if (mass >= target) {
        tp = v;
        break;
      }
    }
    thr = Math.max(thr, tp);
  }
  if (p.minP > 0) thr = Math.max(thr, m + T * Math.log(p.minP));
  // inverse CDF in index order over the kept weights
  let Z = 0;
  let last = -1;
  for (let i = 0; i < V; i++)
    if (x[i]! >= thr) {
      Z += weight(x[i]!);
      last = i;
    }
  const target = uniformAt(p.seed, p.stream, p.step) * Z;
  let cdf = 0;
  for (let i = 0; i < V; i++)
    if (x[i]! >= thr) {
      cdf += weight(x[i]!);
      if (target < cdf) return i;
    }
  return last;
}

export function sample(
  ctx: OpContext,
  _attrs: unknown,
  [logits, params]: readonly Tensor[],
  [out]: readonly Tensor[],
): void {
  const [R, V] = logits!.shape as [number, number];
  const x = ctx.heap.f32(ctx.f32(logits!), R * V);
  const pAt = ctx.addr(params!);
  const words = new Uint32Array(ctx.heap.bytes(), pAt, R * SAMPLE_PARAM_WORDS);
  const floats = new Float32Array(ctx.heap.bytes(), pAt, R * SAMPLE_PARAM_WORDS);
  const tokens = ctx.heap.i32(ctx.addr(out!), R);
  for (let r = 0; r < R; r++) tokens[r] = sampleRow(x.subarray(r * V, (r + 1) * V), rowParams(words, floats, r));
}
