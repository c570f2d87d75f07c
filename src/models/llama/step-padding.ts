/**
 * Rows that belong to no sequence: a step of `n` real tokens may run in `rows` ≥ n rows, so a
 * recorded stream specialised on `rows` serves every prompt length up to it. Pad rows run through
 * the row-wise ops (embedding, norms, projections, MLP) harmlessly and are invisible elsewhere:
 * their append slots are −1 and the page-table rows count only real tokens, so no K/V is written
 * for them (`appendSlots`, `append_kv` stops at the last real token); the attention schedule
 * covers only real tokens; the last-row gather selects real rows only. Their attention output is
 * whatever the buffer held, which stays in the pad rows because no op of the decoder mixes rows.
 */

/** The smallest bucket: below it a prefill is a few tokens and recording saves little. */
export const MIN_PREFILL_BUCKET = 16;

/** Rows a single-sequence prefill of `n` tokens runs in: n rounded up to a power of two, at least 16, at most `maxTokens`. */
export function prefillBucketRows(n: number, maxTokens: number): number {
  let rows = MIN_PREFILL_BUCKET;
  while (rows < n) rows *= 2;
  return Math.max(n, Math.min(rows, maxTokens));
}

/** `a` followed by `fill` up to `rows` entries (`a` itself when it already has them). */
export function padRows(a: Int32Array, rows: number, fill: number): Int32Array {
  if (a.length === rows) return a;
  if (a.length > rows) throw new Error(`${a.length} rows do not fit a step of ${rows}`);
  const out = new Int32Array(rows).fill(fill);
  out.set(a);
  return out;
}
