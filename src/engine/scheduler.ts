/**
 * Iteration-level scheduling (continuous batching).
 *
 * Every step: running sequences first, oldest first, decode tokens before prefill chunks; then
 * waiting sequences are admitted in arrival order while the token budget and pages last, their
 * prompts split into chunks so a long prompt never stalls the decodes of everyone else. A step
 * that carries decodes takes at most `prefillChunkTokens` prefill tokens: a decode step costs
 * about one read of the weights, and a large prefill chunk riding with it would stretch every
 * decoding request's inter-token time to the chunk's compute time (docs/prefill-budget.md). When
 * a running sequence needs a page and none is left, the newest running sequence is preempted
 * (its pages released, its tokens kept) and recomputed later, through the prefix cache where its
 * pages survived.
 */
import type { KvManager } from './kv-manager.js';
import type { Sequence } from './sequence.js';

export interface SchedulerConfig {
  /** Tokens per step across decodes and prefill chunks. */
  maxBatchTokens: number;
  /** Sequences per step. */
  maxRunningSeqs: number;
  /**
   * Prefill tokens (prompt chunks, recomputation after preemption) in a step that also carries
   * decodes. A step without decodes may fill all of `maxBatchTokens` with prefill.
   */
  prefillChunkTokens: number;
  /**
   * The prefill tokens of a step carrying this many decodes, in place of `prefillChunkTokens`
   * (e.g. sized by measured step times, step-times.ts).
   */
  prefillBudget?: (decodes: number) => number;
  /** Distinct LoRA adapters among running sequences (the runner's device slots); absent: no limit. */
  maxAdapters?: number;
}

/** See docs/prefill-budget.md for why 256. */
export const DEFAULT_PREFILL_CHUNK_TOKENS = 256;

export interface ScheduledChunk {
  seq: Sequence;
  start: number;
  count: number;
}

export class Scheduler {
  /** Sequences holding pages, oldest first. */
  readonly running: Sequence[] = [];
  /** Sequences without pages, oldest first. */
  readonly waiting: Sequence[] = [];
  preemptions = 0;

  constructor(
    private readonly kv: KvManager,
    readonly config: SchedulerConfig,
  ) {}

  enqueue(seq: Sequence): void {
    seq.status = 'waiting';
    insertByAge(this.waiting, seq);
  }

  /** Adds a sequence that already holds pages (a fork of `n` > 1). */
  addRunning(seq: Sequence): void {
    seq.status = 'running';
    insertByAge(this.running, seq);
  }

  /** Forgets a finished or aborted sequence and frees its pages. */
  remove(seq: Sequence): void {
    removeFrom(this.running, seq);
    removeFrom(this.waiting, seq);
    this.kv.release(seq);
  }

  schedule(): ScheduledChunk[] {
    const chunks = new Map<Sequence, ScheduledChunk & { prefill: boolean }>();
    let budget = this.config.maxBatchTokens;
    let decodes = 0;
    let prefill = 0;
    let chunkCap = this.config.prefillChunkTokens;
    // Decodes are all taken before any prefill and only ever leave the step (preempted), so a step
    // that ends with decodes had them while each prefill chunk was sized.
    const prefillRoom = (): number => (decodes > 0 ? Math.min(budget, chunkCap - prefill) : budget);
    const take = (seq: Sequence, limit: number, isPrefill: boolean): boolean => {
      // A running sequence always has its last token to compute; anything else is a bookkeeping bug.
      if (seq.pendingTokens <= 0)
        throw new Error(`scheduler: running sequence ${seq.request.id}/${seq.index} has no token to compute`);
      const count = Math.min(seq.pendingTokens, limit);
      while (!this.kv.ensureCapacity(seq, seq.numComputed + count)) {
        const victim = this.running[this.running.length - 1]!;
        const refund = chunks.get(victim);
        if (refund) {
          budget += refund.count;
          if (refund.prefill) prefill -= refund.count;
          else decodes -= refund.count;
          chunks.delete(victim);
        }
        this.preempt(victim);
        if (victim === seq) return false;
      }
      chunks.set(seq, { seq, start: seq.numComputed, count, prefill: isPrefill });
      budget -= count;
      if (isPrefill) prefill += count;
      else decodes += count;
      return true;
    };
    // Decodes first: one token each after a generated one, the latency-critical work.
    for (const seq of [...this.running]) {
      if (seq.status === 'running' && isDecode(seq) && budget > 0) take(seq, 1, false);
    }
    if (decodes > 0 && this.config.prefillBudget) chunkCap = Math.max(1, this.config.prefillBudget(decodes));
    // Then prompts (and recomputations) under way, oldest first; their last token is prefill too.
    for (const seq of [...this.running]) {
      if (seq.status !== 'running' || seq.pendingTokens === 0 || chunks.has(seq)) continue;
      const room = prefillRoom();
      if (room <= 0) break;
      take(seq, room, true);
    }
    // Admission: arrival order, stopping at the first that does not fit (no overtaking, no starvation).
    // A reserve of a page per running sequence keeps fresh admissions from forcing immediate preemptions.
    while (this.waiting.length && prefillRoom() > 0 && this.running.length < this.config.maxRunningSeqs) {
      const seq = this.waiting[0]!;
      if (!this.adapterFits(seq)) break;
      if (!this.kv.admit(seq, Math.min(this.running.length, this.kv.pool.numPages >> 3))) break;
      this.waiting.shift();
      this.addRunning(seq);
      take(seq, prefillRoom(), true);
    }
    return [...chunks.values()].map(({ seq, start, count }) => ({ seq, start, count }));
  }

  /**
   * Whether `seq` can run beside the running sequences with every step's adapters in the device
   * slots at once. Waiting here (no overtaking) keeps arrival order; a slot frees when the last
   * running sequence of an adapter finishes.
   */
  private adapterFits(seq: Sequence): boolean {
    const want = seq.request.params.adapter;
    const max = this.config.maxAdapters;
    if (want === undefined || max === undefined) return true;
    const running = new Set<string>();
    for (const s of this.running) if (s.request.params.adapter !== undefined) running.add(s.request.params.adapter);
    return running.has(want) || running.size < max;
  }

  /** Releases a running sequence's pages and puts it back in line; its tokens are recomputed later. */
  preempt(seq: Sequence): void {
    removeFrom(this.running, seq);
    this.kv.release(seq);
    this.enqueue(seq);
    this.preemptions++;
  }
}

/** A sequence whose only token to compute is one it generated. */
function isDecode(seq: Sequence): boolean {
  return seq.pendingTokens === 1 && seq.outputLength > 0;
}

function insertByAge(list: Sequence[], seq: Sequence): void {
  let at = list.length;
  while (at > 0 && list[at - 1]!.isNewerThan(seq)) at--;
  list.splice(at, 0, seq);
}

function removeFrom(list: Sequence[], seq: Sequence): void {
  const at = list.indexOf(seq);
  if (at >= 0) list.splice(at, 1);
}
