/**
 * The seam between the serving engine and a model executor.
 *
 * The engine owns every scheduling decision and the KV page table; the runner owns the weights and
 * the KV memory. A step hands the runner a mixed batch (decode tokens and prefill chunks together)
 * with the page ids each sequence may read and write, and gets back one logits row per sequence.
 *
 * @example
 * const logits = await runner.forward({ seqs: [{ tokens: [5, 9], start: 0, pages: [3] }] });
 * // logits.length === 1 * runner.vocabSize: the next-token logits after token 9 at position 1
 */
import type { AdapterRegistry } from '../lora/adapter-registry.js';
import type { LongContextOptions } from '../longctx/options.js';

export interface ForwardSeq {
  /** Tokens to append, at positions [start, start + tokens.length). */
  tokens: number[];
  /** Number of tokens of this sequence already in its KV pages (positions [0, start)). */
  start: number;
  /** KV page ids in position order; page i holds positions [i·pageSize, (i+1)·pageSize). Covers start + tokens.length. */
  pages: number[];
  /** LoRA adapter applied to this sequence's tokens (a name the runner's `adapters` holds); absent: the base model. */
  adapter?: string;
  /**
   * The sequence's id in the runner's long-context store (`ModelRunner.longContext`): its pages
   * that hold −1 in `pages` were moved there, and its attention reads them from it.
   */
  longContext?: number;
}

/** A sequence of a GPU-resident decode step: its one new token goes at position `start`. */
export interface DecodeSeq {
  start: number;
  pages: number[];
  adapter?: string;
}

export interface ForwardBatch {
  seqs: ForwardSeq[];
}

/**
 * One token to draw on the device from row `row` of the last forward's logits (see the `sample` op).
 * Its fields are src/ops/sample.ts's `SampleRowParams`, spelled out as the public API documents them.
 */
export interface DeviceSampleRow {
  row: number;
  /** ≤ 0: greedy. */
  temperature: number;
  topK: number;
  topP: number;
  minP: number;
  seed: number;
  /** Completion index: parallel samples of one seed draw independent numbers. */
  stream: number;
  /** Output position: the draw is a pure function of (seed, stream, step). */
  step: number;
}

export interface ForwardOptions {
  /** false: the caller only samples on the device, so the runner need not copy logits back (it may return an empty array). */
  readLogits?: boolean;
  /** false: run a decode step's dispatches one by one instead of its recorded stream (profiling sees each kernel). */
  record?: boolean;
}

/**
 * Wall times of one step per row count, measured by the runner's warm-up after each shape was
 * compiled and recorded: decode-only steps by batch size, steps carrying a prompt chunk by their
 * rows. The engine's measured prefill budget starts from them instead of learning each size from
 * slow steps that every decoding request waits through.
 */
export interface StepCosts {
  readonly decode: ReadonlyMap<number, number>;
  readonly mixed: ReadonlyMap<number, number>;
}

export interface ModelRunner {
  /** Step times the last warm-up measured; absent before one ran (or where the runner has none). */
  readonly stepCosts?: StepCosts;
  /**
   * Optional: compiles and records the step shapes serving will meet, before any request (CLI
   * `--warmup`); on a software adapter only with `softwareToo` (there the steps cost more than
   * the compiles they save).
   */
  warmUp?(options?: {
    softwareToo?: boolean;
  }): Promise<{ readonly steps: number; readonly ms: number; readonly recordedBytes?: number }>;
  readonly vocabSize: number;
  readonly maxContext: number;
  readonly pageSize: number;
  /** KV capacity in pages; the engine hands out page ids in [0, numPages). */
  readonly numPages: number;
  /**
   * One forward over a mixed batch: each sequence appends `tokens` at positions
   * [start, start+tokens.length) into its KV pages, returning logits of each sequence's last new
   * token as [numSeqs, vocab] f32.
   */
  forward(batch: ForwardBatch, options?: ForwardOptions): Promise<Float32Array>;
  /**
   * Optional: draws tokens on the device from the logits of the last `forward`, so large
   * vocabularies need not cross to the host. Only plain sampling (temperature, top-k, top-p, min-p).
   */
  sampleOnDevice?(rows: readonly DeviceSampleRow[]): Promise<Int32Array>;
  /**
   * Optional: one GPU-resident decode step. Each sequence appends one token at position `start`
   * and draws its next token on the device (`rows[i]` samples sequence i). `tokens` gives the
   * input tokens from the host; null means each sequence's input is the token the previous
   * submitted step drew for it (the same sequences in the same order, so the ids never leave the
   * device). The call returns once the step is submitted, without waiting for the GPU: callers
   * keep several steps in flight and read the drawn ids as each promise resolves.
   */
  submitDecode?(
    seqs: readonly DecodeSeq[],
    tokens: Int32Array | null,
    rows: readonly DeviceSampleRow[],
  ): Promise<Int32Array>;
  /** Optional: the LoRA adapters this runner serves (absent: it serves none; a sequence naming one fails). */
  readonly adapters?: AdapterRegistry;
  /** Optional: long-context mode (src/longctx): KV pages moved to CPU memory, attended there. */
  readonly longContext?: LongContextRunner;
  /** Optional: copy KV pages (for copy-on-write of a shared partial page). */
  copyPages?(pairs: [src: number, dst: number][]): Promise<void>;
}

/**
 * A runner's side of long-context mode: a CPU store per sequence that KV pages move into before the
 * engine frees them, and attention that merges the store's part with the pages left on the device.
 */
export interface LongContextRunner {
  /** Sets the mode up (before any sequence uses it; again only while no sequence holds a store). */
  configure(o: LongContextOptions): void;
  /**
   * Copies the K/V of `pages` (full pages, in position order, the first at index `firstIndex` of
   * the sequence's page list, continuing where its store ends) into the store of sequence `id`,
   * creating it on first use with room for `capacity` positions (the most the sequence may reach);
   * the engine frees the pages afterwards.
   */
  offload(id: number, pages: readonly number[], firstIndex: number, capacity: number): Promise<void>;
  /** Drops the store of sequence `id`. */
  release(id: number): void;
  /** CPU bytes the stores hold. */
  bytes(): number;
  /** CPU bytes a store takes per token (the engine's accounting). */
  bytesPerToken(): number;
}
