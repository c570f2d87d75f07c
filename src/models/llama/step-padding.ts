/**
 * Rows that belong to no sequence: a step of `n` real tokens may run in `rows` ≥ n rows, so a
 * recorded stream specialised on `rows` serves every prompt length up to it. Pad rows run through
 * the row-wise ops (embedding, norms, projections, MLP) harmlessly and are invisible elsewhere:
 * their append slots are −1 and the page-table rows count only real tokens, so no K/V is written
 * for them (`appendSlots`, `append_kv` stops at the last real token); the attention schedule
 * covers only real tokens; the last-row gather selects real rows only. Their attention output is
 * whatever the buffer held, which stays in the pad rows because no op of the decoder mixes rows.
 */
import { StepError } from './step-rows.js';

/** The smallest bucket: below it a prefill is a few tokens and recording saves little. */
export const MIN_PREFILL_BUCKET = 16;

/** Rows a single-sequence prefill of `n` tokens runs in: n rounded up to a power of two, at least 16, at most `maxTokens`. */
export function prefillBucketRows(n: number, maxTokens: number): number {
  let rows = MIN_PREFILL_BUCKET;
  while (rows < n) rows *= 2;
  return Math.max(n, Math.min(rows, maxTokens));
}

/**
 * Batch sizes whose decode steps are recorded, for a runner of `maxSeqs` sequences: 1, 2, 4, then
 * multiples of 8, then `maxSeqs` (CUDA-graph capture sizes in vLLM are the same idea). A decode of
 * b sequences replays the smallest bucket that holds it, its pad rows idle (step-padding's rule
 * above). At 256 sequences that is 35 recordings at start-up instead of 256. The pad rows cost
 * little: a decode step reads every weight once whatever its rows, and attention skips them.
 */
export function defaultDecodeBatchBuckets(maxSeqs: number): number[] {
  const out = [1, 2, 4].filter((b) => b < maxSeqs);
  for (let b = 8; b < maxSeqs; b += 8) out.push(b);
  out.push(maxSeqs);
  return out;
}

/** `a` followed by `fill` up to `rows` entries (`a` itself when it already has them). */
export function padRows(a: Int32Array, rows: number, fill: number): Int32Array {
  if (a.length === rows) return a;
  if (a.length > rows) throw new Error(`${a.length} rows do not fit a step of ${rows}`);
  const out = new Int32Array(rows).fill(fill);
  out.set(a);
  return out;
}

/**
 * Row buckets of unrecorded steps (a mixed step of decodes and a prefill chunk, a multi-sequence
 * prefill) for a runner of `maxTokens` rows per step: powers of two up to 64, then multiples of 64,
 * then `maxTokens` itself. Kernels are specialised by row count (the matmul picks GEMV, skinny or
 * tiled code by M, and shader keys and kept encodings carry the shapes), so a server that runs
 * every token count as it comes compiles and encodes anew for most steps; a few buckets bound
 * that, and multiples of 64 keep the pad waste of a large step under 64 rows (≤ 50% above 64).
 */
export function defaultMixedRowBuckets(maxTokens: number): number[] {
  const out: number[] = [];
  for (let r = 8; r < 64 && r < maxTokens; r *= 2) out.push(r);
  for (let r = 64; r < maxTokens; r += 64) out.push(r);
  out.push(maxTokens);
  return out;
}

/** `buckets` validated for a runner of `maxTokens` rows: ascending, ≤ maxTokens, with maxTokens last (every step fits one). */
export function normalizeRowBuckets(buckets: readonly number[], maxTokens: number): number[] {
  for (const r of buckets)
    if (!Number.isInteger(r) || r < 1) throw new Error(`row bucket ${r}: not a positive integer`);
  const set = new Set(buckets.filter((r) => r < maxTokens));
  set.add(maxTokens);
  return [...set].sort((a, b) => a - b);
}

/** Rows a step of `n` tokens (or sequences) runs in: the smallest bucket that holds it (`buckets` normalized, ascending). */
export function mixedBucketRows(n: number, buckets: readonly number[]): number {
  for (const r of buckets) if (r >= n) return r;
  return n;
}

/** A command line's `--mixed-rows`: 'auto' (undefined: the default buckets), 'off', or a comma-separated list of rows. */
export function parseMixedRowBuckets(text: string): readonly number[] | 'off' | undefined {
  if (text === 'auto') return undefined;
  if (text === 'off') return 'off';
  const rows = text.split(',').map(Number);
  if (rows.length === 0 || rows.some((r) => !Number.isInteger(r) || r < 1))
    throw new Error(`--mixed-rows: 'auto', 'off' or positive integers separated by commas, got '${text}'`);
  return rows;
}

/**
 * Logits rows of a recorded mixed step in `rows` rows: every sequence count a step of that many
 * rows can carry (b ≤ rows) fits, so one recording per row bucket serves any mix of decodes and
 * chunks, and the warm-up's one mixed step per bucket covers all of them. Rounding the sequence
 * count up instead (a key of rows × sequences) left most keys unwarmed: a server moving through
 * sequence counts re-recorded a whole step on the host (≈ 200 ms at 8B) in the middle of serving.
 * The price is the lm_head over up to maxSeqs rows where fewer are real, a weight-bound product
 * whose cost barely moves between 16 and 64 rows. Pad rows repeat row 0.
 */
export function mixedLogitRows(rows: number, maxSeqs: number): number {
  return Math.min(rows, maxSeqs);
}

/** The key of a recorded step of `rows` rows and `logitRows` logits rows (one: a single-sequence prefill's). */
export function bucketKey(rows: number, logitRows: number): number {
  return logitRows === 1 ? rows : rows * 65536 + logitRows;
}

/** How a step runs: which recorded stream serves it (if any), in how many rows, with how many logits rows. */
export interface StepShape {
  readonly kind: 'decode' | 'prefill' | 'mixed' | 'transient';
  readonly rows: number;
  readonly logitRows: number;
}

/**
 * The shape of a step of `n` tokens over `b` sequences: a pure decode replays its batch bucket's
 * stream; a single-sequence prefill its row bucket's, or, where that bucket is not recorded now but
 * its mixed row bucket is (`recorded`), the mixed one: every mixed bucket is recorded at warm-up
 * while the prefill buckets keep only a few, and recording one on the spot costs a whole host
 * encode (~200 ms at 8B) against a logits head over a few more rows (~1 ms); a step of several
 * sequences its row bucket's, logits rows padded to `mixedLogitRows`; anything else runs
 * unrecorded, in a row bucket where buckets are on. `padTo` forces an unrecorded step of that
 * many rows (tests).
 */
export function stepShape(
  n: number,
  b: number,
  o: {
    readonly recordable: boolean;
    readonly recordDecode: boolean;
    readonly prefillCapacity: number;
    readonly mixedCapacity: number;
    readonly mixedRowBuckets: readonly number[] | null;
    readonly maxTokens: number;
    readonly maxSeqs: number;
    readonly padTo?: number;
    /** Whether a bucket's stream is recorded now, by kind and key (`bucketKey`); absent: a lone prompt takes its prefill bucket. */
    readonly recorded?: (kind: 'prefill' | 'mixed', key: number) => boolean;
    /** Batch sizes of the recorded decode steps (`defaultDecodeBatchBuckets`), ascending; absent: every size is its own. */
    readonly decodeBatchBuckets?: readonly number[];
  },
): StepShape {
  if (n === b && o.recordDecode && o.recordable) {
    const rows = o.decodeBatchBuckets ? mixedBucketRows(b, o.decodeBatchBuckets) : b;
    return { kind: 'decode', rows, logitRows: rows };
  }
  const mixedOn = o.recordable && o.mixedRowBuckets !== null && o.mixedCapacity > 0;
  let lone = false;
  if (o.recordable && b === 1 && n > 1 && o.prefillCapacity > 0) {
    const rows = prefillBucketRows(n, o.maxTokens);
    const mixedRows = mixedOn ? mixedBucketRows(n, o.mixedRowBuckets!) : 0;
    const mixedKey = bucketKey(mixedRows, mixedLogitRows(mixedRows, o.maxSeqs));
    lone = mixedOn && !!o.recorded && !o.recorded('prefill', rows) && o.recorded('mixed', mixedKey);
    if (!lone) return { kind: 'prefill', rows, logitRows: b };
  }
  const rows = o.padTo ?? (o.recordable && o.mixedRowBuckets ? mixedBucketRows(n, o.mixedRowBuckets) : n);
  if (!Number.isInteger(rows) || rows < n || rows > o.maxTokens)
    throw new StepError(`padTo ${o.padTo}: a step of ${n} tokens runs in ${n}…${o.maxTokens} rows`);
  if (o.recordable && (b > 1 || lone) && o.mixedCapacity > 0)
    return { kind: 'mixed', rows, logitRows: mixedLogitRows(rows, o.maxSeqs) };
  return { kind: 'transient', rows, logitRows: b };
}
