/**
 * Compiling and recording before serving: one step through each row bucket that single-sequence
 * prefills and mixed steps are padded to (step-padding.ts), and a decode step of every batch
 * bucket (each records its own stream), so the first requests do not pay for pipeline compiles and stream
 * recordings — the analog of capturing CUDA graphs at start-up. The steps write K/V into pages no
 * sequence holds yet (it runs before the engine hands any out); a sequence given those pages
 * later writes its own K/V before anything reads them.
 *
 * Each shape then runs once more, timed to the device's completion: the step costs the engine's
 * measured prefill budget starts from (`StepCosts`). Without them it learns a size only from two
 * slow steps of it while serving, and each such step is an inter-token gap for every decoding
 * request: a 40-request serving run's ITL p99 was set by those alone.
 */
import type { ForwardBatch, ForwardOptions, StepCosts } from '../../engine/model-runner.js';
import type { Backend } from '../../backends/backend.js';
import { liveDeviceBytes } from './device-bytes.js';
import { MIN_PREFILL_BUCKET } from './step-padding.js';

/** What warming up needs of a runner. */
export interface WarmUpTarget {
  readonly maxTokens: number;
  readonly maxSeqs: number;
  readonly pageSize: number;
  readonly numPages: number;
  /** Row buckets of mixed steps; null where steps are not padded (nothing to warm but prefill). */
  readonly mixedRowBuckets: readonly number[] | null;
  /** Batch sizes of the recorded decode steps (ascending, maxSeqs last). */
  readonly decodeBatchBuckets: readonly number[];
  forward(batch: ForwardBatch, options?: ForwardOptions): Promise<Float32Array>;
  /** Where the steps run: the report gives the device memory they left allocated, where it keeps an account. */
  readonly backend?: Backend;
}

export interface WarmUpReport {
  readonly steps: number;
  readonly ms: number;
  /** One timed run of each shape after its first (compile and record); absent where none ran. */
  readonly costs?: StepCosts;
  /** Device bytes the warm-up left allocated (the recorded steps), where the backend counts them. */
  readonly recordedBytes?: number;
}

const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);

/**
 * Runs the warm-up steps that fit the KV pool: prefill buckets, mixed buckets of two sequences,
 * decode at every batch bucket; `settle` resolves when the device has finished what was submitted.
 */
export async function warmUpSteps(r: WarmUpTarget, settle: () => Promise<void>): Promise<WarmUpReport> {
  const t0 = performance.now();
  const liveBytes = () => (r.backend ? liveDeviceBytes(r.backend) : null);
  await settle();
  const bytesBefore = liveBytes();
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
  // a decode step of every batch bucket: one token per sequence
  for (const b of r.decodeBatchBuckets) shapes.push(new Array<number>(b).fill(1));
  let steps = 0;
  const decode = new Map<number, number>();
  const mixed = new Map<number, number>();
  let decodedUpTo = 0;
  for (const lengths of shapes) {
    if (!fits(lengths)) continue;
    await r.forward(step(lengths), { readLogits: false });
    await settle();
    const t = performance.now();
    await r.forward(step(lengths), { readLogits: false });
    await settle();
    const rows = lengths.reduce((a, n) => a + n, 0);
    const ms = performance.now() - t;
    if (lengths.every((n) => n === 1)) {
      // a decode bucket's time stands for every batch it serves (the buckets come in ascending order)
      for (let b = decodedUpTo + 1; b <= rows; b++) decode.set(b, ms);
      decodedUpTo = rows;
    }
    // a prefill bucket's time stands for a chunk of its rows until a mixed shape of them is timed
    else mixed.set(rows, ms);
    steps++;
  }
  const bytesAfter = liveBytes();
  const recorded = bytesBefore === null || bytesAfter === null ? {} : { recordedBytes: bytesAfter - bytesBefore };
  return { steps, ms: performance.now() - t0, costs: { decode, mixed }, ...recorded };
}
