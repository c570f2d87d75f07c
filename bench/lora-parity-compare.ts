/**
 * The comparison bench/lora-parity.ts makes, as a function a test can feed: rows in
 * scripts/lora/peft_parity.py's JSON layout run as one mixed batch on a runner serving the adapters,
 * each row's error max|ours − reference| ÷ max|reference| (worst over positions):
 *
 * - position by position, every row in one step per position (decode steps);
 * - the whole prompt as one prefill chunk per row, all rows in one step (its last position).
 */
import type { LlamaRunner } from '../src/models/llama/llama-runner.js';

/** peft_parity.py's output: the base and adapter folders as given to it, and each row's logits at every position. */
export interface PeftRows {
  base: string;
  adapters: Record<string, string>;
  peft: string;
  torch: string;
  rows: { adapter: string | null; tokens: number[]; logits: number[][] }[];
}

/** Pages the comparison needs: one of `tokens` slots per row. */
export const parityPages = (ref: PeftRows) => ({
  numPages: ref.rows.length,
  pageSize: ref.rows[0]!.tokens.length,
  maxSeqs: ref.rows.length,
  maxTokens: ref.rows.length * ref.rows[0]!.tokens.length,
});

export async function compareWithPeft(
  runner: LlamaRunner,
  ref: PeftRows,
): Promise<{ tokenByToken: Float64Array; prefillChunk: Float64Array }> {
  const T = ref.rows[0]!.tokens.length;
  const R = ref.rows.length;
  const V = runner.vocabSize;
  const seq = (i: number, tokens: number[], start: number) => {
    const a = ref.rows[i]!.adapter;
    return { tokens, start, pages: [i], ...(a ? { adapter: a } : {}) };
  };
  const err = (ours: Float32Array, i: number, t: number): number => {
    const want = ref.rows[i]!.logits[t]!;
    if (want.length !== V) throw new Error(`the reference rows have ${want.length} logits, the model ${V}`);
    let d = 0;
    let m = 0;
    for (let v = 0; v < V; v++) {
      d = Math.max(d, Math.abs(ours[i * V + v]! - want[v]!));
      m = Math.max(m, Math.abs(want[v]!));
    }
    return Number.isFinite(d) ? d / m : Infinity;
  };
  const tokenByToken = new Float64Array(R);
  for (let t = 0; t < T; t++) {
    const logits = await runner.forward({ seqs: ref.rows.map((r, i) => seq(i, [r.tokens[t]!], t)) });
    for (let i = 0; i < R; i++) tokenByToken[i] = Math.max(tokenByToken[i]!, err(logits, i, t));
  }
  const prefill = await runner.forward({ seqs: ref.rows.map((r, i) => seq(i, r.tokens, 0)) });
  const prefillChunk = Float64Array.from(ref.rows, (_, i) => err(prefill, i, T - 1));
  return { tokenByToken, prefillChunk };
}
