/**
 * Whether two greedy runs of the same requests that drew different tokens differ by rounding only.
 *
 * Two engines that batch the same requests differently (nano-batches, another step size) run each
 * row's projections at another row count M, and the matmul picks its kernel by M (GEMV, skinny
 * SIMT or tensor-core, tiled, split-K; src/kernels/skinny-gemm-table.ts), so the sums run in
 * another order and the f16 activations and KV round differently. Greedy decoding turns that into
 * another token wherever the top two logits are closer than the rounding, and the sequences part
 * from there. Exact token equality is then the wrong oracle; this one still fails on a real bug.
 *
 * The check of a request whose runs part at output k: both runs agree on tokens 0..k−1 (by the
 * definition of k), and in a reference forward of the shared prefix (prompt + those k tokens, a
 * fresh prefill of its own, nano-batching off) both runs' tokens at k are within `tol` of the
 * reference's largest logit. Why that bound: if each run's logits at k are within ε of the
 * reference's (each logit), a run's argmax t has ref[t] ≥ run[t] − ε ≥ run[max] − ε ≥ ref[max] − 2ε,
 * so tol = 2ε accepts every legitimate parting. ε is estimated from the rounding actually seen:
 * the largest logit difference between two reference forwards of the same prefixes in different
 * batch shapes (alone, and all together), floored at a few units of the activation type's
 * rounding at the logits' scale, times a safety factor for the noise a decode run accumulates in
 * its KV over k steps that one prefill does not. A bug (KV pages, positions or rows mixed between
 * nano-batches) gives a token unrelated to the prefix, whose logit sits far below the maximum: on a
 * vocabulary of thousands the gap is many times the rounding.
 */
import type { ModelRunner } from '../src/engine/model-runner.js';

/** Index of the first output where the runs differ (a length difference counts), or −1 when they are equal. */
export function firstDivergence(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  for (let k = 0; k < n; k++) if (a[k] !== b[k]) return k;
  return a.length === b.length ? -1 : n;
}

/** How far below the row's largest logit each of two tokens sits. */
export function gapsToMax(row: Float32Array, a: number, b: number): { top: number; gapA: number; gapB: number } {
  let top = 0;
  for (let j = 1; j < row.length; j++) if (row[j]! > row[top]!) top = j;
  return { top, gapA: row[top]! - row[a]!, gapB: row[top]! - row[b]! };
}

/** Units of the activation type's rounding at the logits' scale below which ε is not estimated. */
export const ROUNDING_FLOOR_UNITS = 4;
/** How much larger than the reference's own batch-shape noise a run's noise may be (KV built over k steps). */
export const NOISE_SAFETY = 4;

/**
 * The tolerance 2ε of a near-tie: ε = NOISE_SAFETY × max(measured noise, ROUNDING_FLOOR_UNITS ×
 * unit roundoff × the largest |logit|).
 */
export function nearTieTolerance(measuredNoise: number, maxAbsLogit: number, unitRoundoff: number): number {
  return 2 * NOISE_SAFETY * Math.max(measuredNoise, ROUNDING_FLOOR_UNITS * unitRoundoff * maxAbsLogit);
}

export interface DivergenceVerdict {
  request: number;
  at: number;
  base: number;
  other: number;
  gapBase: number;
  gapOther: number;
}

export interface DivergenceReport {
  /** Requests whose runs part, and those checked (at most the cap, the first ones). */
  diverged: number;
  checked: number;
  tol: number;
  noise: number;
  /** Checked partings that are not near-ties (a real difference between the runs). */
  bad: DivergenceVerdict[];
  /** The checked parting with the largest finite gap, for the notes. */
  worst: DivergenceVerdict | null;
  /** Outputs both runs agree on before their parting, over all requests. */
  agreedTokens: number;
  totalTokens: number;
}

/** Judges partings from the reference logits rows (one per parting, in order) and the tolerance. */
export function judgeDivergences(
  partings: readonly { request: number; at: number; base: number; other: number }[],
  refRows: readonly Float32Array[],
  tol: number,
): { bad: DivergenceVerdict[]; worst: DivergenceVerdict | null } {
  const bad: DivergenceVerdict[] = [];
  let worst: DivergenceVerdict | null = null;
  for (const [i, p] of partings.entries()) {
    const { gapA, gapB } = gapsToMax(refRows[i]!, p.base, p.other);
    const v = { ...p, gapBase: gapA, gapOther: gapB };
    // a run that ended early has no token there (−1): no logit can make that a near-tie
    if (p.base < 0 || p.other < 0 || !(gapA <= tol && gapB <= tol)) bad.push(v);
    if (!worst || Math.max(gapA, gapB) > Math.max(worst.gapBase, worst.gapOther)) worst = v;
  }
  return { bad, worst };
}

/** Last-position logits of each prefix, each a fresh sequence at position 0; `together`: as few forwards as fit. */
async function referenceRows(
  runner: ModelRunner & { maxTokens: number; maxSeqs: number },
  prefixes: readonly number[][],
  pageSize: number,
  together: boolean,
): Promise<Float32Array[]> {
  const V = runner.vocabSize;
  const out: Float32Array[] = [];
  let i = 0;
  while (i < prefixes.length) {
    // a group of whole prefixes within the step's limits (one prefix alone when `together` is off)
    const group: number[][] = [prefixes[i]!];
    let tokens = prefixes[i]!.length;
    let pages = Math.ceil(tokens / pageSize);
    while (together && i + group.length < prefixes.length && group.length < runner.maxSeqs) {
      const next = prefixes[i + group.length]!;
      const nextPages = Math.ceil(next.length / pageSize);
      if (tokens + next.length > runner.maxTokens || pages + nextPages > runner.numPages) break;
      group.push(next);
      tokens += next.length;
      pages += nextPages;
    }
    if (tokens > runner.maxTokens) throw new Error(`a prefix of ${tokens} tokens is over a step's ${runner.maxTokens}`);
    let page = 0;
    const seqs = group.map((p) => {
      const n = Math.ceil(p.length / pageSize);
      const own = Array.from({ length: n }, (_, k) => page + k);
      page += n;
      return { tokens: p, start: 0, pages: own };
    });
    const logits = await runner.forward({ seqs }, { readLogits: true });
    for (let s = 0; s < group.length; s++) out.push(logits.slice(s * V, (s + 1) * V));
    i += group.length;
  }
  return out;
}

/**
 * Where `other` parts from `base` (token ids per request), checks the first `cap` partings against
 * reference forwards of their shared prefixes on `runner` (no engine may be using its pages).
 */
export async function checkDivergences(
  runner: ModelRunner & { maxTokens: number; maxSeqs: number },
  prompts: readonly number[][],
  base: readonly number[][],
  other: readonly number[][],
  o: { pageSize: number; unitRoundoff: number; cap: number },
): Promise<DivergenceReport> {
  const partings: { request: number; at: number; base: number; other: number }[] = [];
  let agreedTokens = 0;
  let totalTokens = 0;
  for (const [r, ids] of base.entries()) {
    const at = firstDivergence(ids, other[r]!);
    totalTokens += ids.length;
    agreedTokens += at < 0 ? ids.length : at;
    if (at >= 0) partings.push({ request: r, at, base: ids[at] ?? -1, other: other[r]![at] ?? -1 });
  }
  const checked = partings.slice(0, o.cap);
  if (!checked.length)
    return { diverged: 0, checked: 0, tol: 0, noise: 0, bad: [], worst: null, agreedTokens, totalTokens };
  const prefixes = checked.map((p) => [...prompts[p.request]!, ...base[p.request]!.slice(0, p.at)]);
  const alone = await referenceRows(runner, prefixes, o.pageSize, false);
  const together = await referenceRows(runner, prefixes, o.pageSize, true);
  let noise = 0;
  let maxAbs = 0;
  for (const [i, a] of alone.entries())
    for (let j = 0; j < a.length; j++) {
      noise = Math.max(noise, Math.abs(a[j]! - together[i]![j]!));
      maxAbs = Math.max(maxAbs, Math.abs(a[j]!));
    }
  const tol = nearTieTolerance(noise, maxAbs, o.unitRoundoff);
  const { bad, worst } = judgeDivergences(checked, alone, tol);
  return { diverged: partings.length, checked: checked.length, tol, noise, bad, worst, agreedTokens, totalTokens };
}
