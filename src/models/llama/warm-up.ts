/**
 * Compiling and recording before serving: one step through each row bucket that single-sequence
 * prefills and mixed steps are padded to (step-padding.ts), and a decode step of every batch size
 * (each records its own stream), so the first requests do not pay for pipeline compiles and stream
 * recordings — the analog of capturing CUDA graphs at start-up. The steps write K/V into pages no
 * sequence holds yet (it runs before the engine hands any out); a sequence given those pages
 * later writes its own K/V before anything reads them.
 */
import type { ForwardBatch, ForwardOptions } from '../../engine/model-runner.js';
import { MIN_PREFILL_BUCKET } from './step-padding.js';

/** What warming up needs of a runner. */
export interface WarmUpTarget {
  readonly maxTokens: number;
  readonly maxSeqs: number;
  readonly pageSize: number;
  readonly numPages: number;
  /** Row buckets of mixed steps; null where steps are not padded (nothing to warm but prefill). */
  readonly mixedRowBuckets: readonly number[] | null;
  forward(batch: ForwardBatch, options?: ForwardOptions): Promise<Float32Array>;
}

export interface WarmUpReport {
  readonly steps: number;
  readonly ms: number;
}

const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);

/** Runs the warm-up steps that fit the KV pool: prefill buckets, mixed buckets of two sequences, decode at every batch size. */
export async function warmUpSteps(r: WarmUpTarget): Promise<WarmUpReport> {
  const t0 = performance.now();
  const pagesFor = (tokens: number) => Math.ceil(tokens / r.pageSize);
  const step = (lengths: readonly number[]): ForwardBatch => {
    let page = 0;
    return {
      seqs: lengths.map((n) => {
        const pages = range(page, pagesFor(n));
        page += pages.length;
        return { tokens: new Array<number>(n).fill(0), start: 0, pages };
      }),
    };
  };
  const fits = (lengths: readonly number[]) => lengths.reduce((a, n) => a + pagesFor(n), 0) <= r.numPages;
  const shapes: number[][] = [];
  for (let n = MIN_PREFILL_BUCKET; n < r.maxTokens; n *= 2) shapes.push([n]);
  shapes.push([r.maxTokens]);
  // a prefill chunk beside a one-token sequence: the step's rows are the bucket's
  if (r.maxSeqs > 1) for (const rows of r.mixedRowBuckets ?? []) if (rows > 2) shapes.push([rows - 1, 1]);
  // decode steps of every batch size: one token per sequence
  for (let b = 1; b <= r.maxSeqs; b++) shapes.push(new Array<number>(b).fill(1));
  let steps = 0;
  for (const lengths of shapes) {
    if (!fits(lengths)) continue;
    await r.forward(step(lengths), { readLogits: false });
    steps++;
  }
  return { steps, ms: performance.now() - t0 };
}
