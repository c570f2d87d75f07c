/**
 * The streaming decode template's tuning: a readonly configuration passed like SgmatConfig
 * (BatchAttention options → attrs → kernel → generator). Measurements in docs/attention-tuning.md.
 */

export interface StreamConfig {
  /** Keys each slot takes per step (their loads all issued before the first use). */
  readonly keysPerSlot: number;
  /** Benchmarks: the streaming template switched off, so the tiled template runs. */
  readonly disable: boolean;
  /** Benchmarks only (wrong where a plan splits): the merge dispatch left out. */
  readonly skipMerge: boolean;
  /**
   * Each lane finishes one row's scores instead of every row's: the slot's partial dots are
   * reduce-scattered over the rows, the lane runs that row's softmax alone and hands the
   * probabilities back by indexed shuffles. Needs TQ a power of two ≤ LR.
   */
  readonly rowScatter: boolean;
  /** The next work item's record loaded during this one (prefetchedItemLoop). */
  readonly nextRecord: boolean;
  /**
   * How the slots' states merge at the end of an item: `subgroup` by shuffles within a subgroup,
   * then the subgroups through workgroup memory (double-buffered by item parity where it fits);
   * `shared` puts every slot through workgroup memory.
   */
  readonly slotMerge: 'subgroup' | 'shared';
  /**
   * Benchmarks only (wrong results), '+'-joined: `pages` (rows from page_base + j / PS, no
   * page-table read), `merge` (one slot's state stored unmerged), `query` (no query loads).
   */
  readonly ablate: string;
}

/** The shipped H100 choices (docs/attention-tuning.md). */
export const STREAM_DEFAULTS: StreamConfig = Object.freeze({
  keysPerSlot: 8, // 8 beat 2 and 4 (2.6 vs 2.3 TB/s); CPU drivers get 1 (they compile unrolled code slowly)
  disable: false, // the streaming template wherever it can run
  skipMerge: false, // the merge pass is needed wherever a plan splits
  rowScatter: true, // +8–13% on every shape: the lane's arithmetic, not memory, was the limit
  nextRecord: true, // with the subgroup merge +1–2% on many-item batches, +50% at b1 L512
  slotMerge: 'subgroup', // with nextRecord (without it the pair ran ~40% slower: watch this cliff)
  ablate: '', // nothing left out
});

/** The defaults with `over` applied. */
export function streamConfig(over: Partial<StreamConfig> = {}): StreamConfig {
  return Object.freeze({ ...STREAM_DEFAULTS, ...over });
}
