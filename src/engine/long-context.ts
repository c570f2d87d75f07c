/**
 * The engine's side of long-context mode (src/longctx, issue 24): once a decoding sequence's
 * context reaches the threshold, the KV pages between its sinks and its recent window move to the
 * runner's CPU store (`ModelRunner.longContext`) and go back to the pool, so the GPU holds sinks +
 * window per such sequence however long it grows; its steps name the store, and the runner attends
 * the moved part on the CPU.
 *
 * Pages move before decode steps only: a prompt is admitted with pages for all of it (the
 * scheduler's admission rule) and moves once its prefill is done. The CPU memory of the stores is
 * accounted against `cpuBytes`: a sequence whose pages would pass it keeps them on the GPU.
 */
import { checkLongContextOptions, type LongContextOptions } from '../longctx/options.js';
import type { KvManager } from './kv-manager.js';
import type { LongContextRunner } from './model-runner.js';
import type { Sequence } from './sequence.js';

/** A sequence's state in the mode: its store's id and the index of its first page still on the GPU past the sinks. */
export interface SequenceLongContext {
  readonly id: number;
  moved: number;
}

export class LongContextPolicy {
  private nextId = 1;
  private readonly sinkPages: number;
  private readonly windowPages: number;
  /** Pages moved off the GPU, and moves refused for CPU memory (stats). */
  readonly stats = { movedPages: 0, refusedMoves: 0 };

  constructor(
    readonly options: LongContextOptions,
    private readonly runner: LongContextRunner,
    private readonly kv: KvManager,
  ) {
    checkLongContextOptions(options);
    runner.configure(options);
    this.sinkPages = Math.ceil(options.sinks / kv.pageSize);
    this.windowPages = Math.ceil(options.window / kv.pageSize);
  }

  /**
   * Moves the pages of `seq` that fell out of its window (its next step writes position
   * `seq.numComputed`) to the CPU store; a decode step of a sequence under the threshold or
   * within the budget's reach moves nothing.
   */
  async beforeDecode(seq: Sequence): Promise<void> {
    const len = seq.numComputed + 1;
    if (len < this.options.threshold && !seq.longContext) return;
    const P = this.kv.pageSize;
    // the window: the last `windowPages` full pages and the page the step writes into
    const keepFrom = Math.max(this.sinkPages, Math.ceil(len / P) - 1 - this.windowPages);
    const from = seq.longContext?.moved ?? this.sinkPages;
    if (keepFrom <= from) return;
    // a store takes room for all the positions its sequence may reach when it is made
    const capacity = seq.tokens.length - seq.outputLength + seq.request.params.maxTokens;
    const budget = this.options.cpuBytes;
    const adds = seq.longContext ? 0 : (capacity - from * P) * this.runner.bytesPerToken();
    if (budget !== undefined && this.runner.bytes() + adds > budget) {
      this.stats.refusedMoves++;
      return;
    }
    seq.longContext ??= { id: this.nextId++, moved: from };
    const pages = seq.pages.slice(from, keepFrom);
    await this.runner.offload(seq.longContext.id, pages, from, capacity);
    for (let p = from; p < keepFrom; p++) {
      this.kv.pool.release(seq.pages[p]!);
      seq.pages[p] = -1;
    }
    seq.longContext.moved = keepFrom;
    this.stats.movedPages += pages.length;
  }

  /** Drops the store of a sequence whose pages are released (finished, aborted or preempted). */
  released(seq: Sequence): void {
    if (!seq.longContext) return;
    this.runner.release(seq.longContext.id);
    seq.longContext = null;
  }
}
