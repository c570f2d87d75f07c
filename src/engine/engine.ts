/**
 * The serving engine: takes tokenized requests, runs the scheduler's steps on a ModelRunner,
 * samples, detokenizes and streams results back.
 *
 * @example
 * const engine = new Engine(runner, tokenizer);
 * const req = await engine.submit(tokenizer.encode('Once upon'), { maxTokens: 20, temperature: 0 });
 * for await (const ev of req) if (ev.type === 'delta') process.stdout.write(ev.text);
 */
import { EngineError } from './errors.js';
import { KvManager } from './kv-manager.js';
import type { DeviceSampleRow, ModelRunner } from './model-runner.js';
import {
  RequestState,
  type EngineRequest,
  type FinishReason,
  type GeneratedToken,
  type RequestResult,
} from './request.js';
import { sampleToken } from './sampler.js';
import { resolveSamplingParams, type SamplingParams } from './sampling-params.js';
import { DEFAULT_PREFILL_CHUNK_TOKENS, Scheduler } from './scheduler.js';
import { Sequence } from './sequence.js';
import type { EngineTokenizer } from './tokenizer.js';

export interface EngineOptions {
  /** Tokens per step (decodes + prefill chunks). Default 512. */
  maxBatchTokens?: number;
  /**
   * Prefill tokens per step while other sequences decode, so a long prompt arriving mid-decode
   * does not stretch their inter-token time; steps without decodes use all of `maxBatchTokens`.
   * Default 256 (docs/prefill-budget.md).
   */
  prefillChunkTokens?: number;
  /** Sequences per step. Default 128. */
  maxRunningSeqs?: number;
  /** Reuse KV pages of earlier prompts. Default true. */
  prefixCaching?: boolean;
  /** Seed of the seeds given to requests that bring none. */
  seed?: number;
}

export interface EngineStats {
  runningRequests: number;
  runningSequences: number;
  waitingRequests: number;
  waitingSequences: number;
  pagesTotal: number;
  pagesUsed: number;
  /** Pages held only by the prefix cache (freed on demand). */
  pagesCachedIdle: number;
  prefixCacheHitRate: number;
  preemptions: number;
  steps: number;
  promptTokensComputed: number;
  generatedTokens: number;
}

/** Plain sampling of a single completion: what the device `sample` op does (no penalties, bias, logprobs or grammar). */
function deviceSamplable(request: RequestState): boolean {
  const p = request.params;
  return (
    p.n === 1 &&
    p.presencePenalty === 0 &&
    p.frequencyPenalty === 0 &&
    p.repetitionPenalty === 1 &&
    p.logitBias.size === 0 &&
    !p.logprobs &&
    !p.constraint
  );
}

function deviceRow(row: number, seq: Sequence): DeviceSampleRow {
  const p = seq.request.params;
  return {
    row,
    temperature: p.temperature,
    topK: p.topK,
    topP: p.topP,
    minP: p.minP,
    seed: p.seed!,
    stream: seq.index,
    step: seq.outputLength,
  };
}

/**
 * Decode steps kept in flight by the GPU-resident loop: the GPU runs step k+1 while the host reads
 * step k's ids and plans k+2. Tokens drawn past a stop are discarded, so deeper costs wasted steps
 * at each finish.
 */
const RESIDENT_DEPTH = 3;

const yieldToEventLoop: () => Promise<void> =
  typeof setImmediate === 'function'
    ? () => new Promise((r) => setImmediate(r))
    : () => new Promise((r) => setTimeout(r, 0));

export class Engine {
  readonly kv: KvManager;
  readonly scheduler: Scheduler;
  /** Unfinished requests by arrival order (ids come from callers and need not be unique). */
  private readonly requests = new Map<number, RequestState>();
  private nextOrder = 0;
  private seedState: number;
  private wake: (() => void) | null = null;
  private stepping = false;
  private stopped = false;
  /**
   * Why the engine stopped taking work, once a step failed. A failed step leaves device results
   * and KV contents of every sequence in it undefined, so the engine fails what is in flight and
   * refuses new work rather than serve from a state nothing can vouch for; `/health` reports it.
   */
  private failure: EngineError | null = null;
  private steps = 0;
  private promptTokensComputed = 0;
  private generatedTokens = 0;
  private readonly loopDone: Promise<void>;

  constructor(
    readonly runner: ModelRunner,
    readonly tokenizer: EngineTokenizer,
    options: EngineOptions = {},
  ) {
    const prefillChunkTokens = options.prefillChunkTokens ?? DEFAULT_PREFILL_CHUNK_TOKENS;
    // Zero would stop every prompt while anything decodes.
    if (!Number.isInteger(prefillChunkTokens) || prefillChunkTokens < 1)
      throw new RangeError(`prefillChunkTokens must be a positive integer, got ${prefillChunkTokens}`);
    this.kv = new KvManager(runner.numPages, runner.pageSize, options.prefixCaching ?? true);
    this.scheduler = new Scheduler(this.kv, {
      maxBatchTokens: options.maxBatchTokens ?? 512,
      maxRunningSeqs: options.maxRunningSeqs ?? 128,
      prefillChunkTokens,
    });
    this.seedState = (options.seed ?? Date.now()) >>> 0;
    this.loopDone = this.loop();
  }

  /**
   * Queues a request. Throws EngineError for prompts that can never run: longer than the model's
   * context with `maxTokens`, or needing more KV pages than exist.
   */
  async submit(
    prompt: readonly number[],
    partial: Partial<SamplingParams> = {},
    id = `req-${this.nextOrder}`,
  ): Promise<EngineRequest> {
    if (this.failure) throw this.failure;
    if (this.stopped) throw new EngineError('engine_stopped', 'the engine is shutting down');
    let params: SamplingParams;
    try {
      params = resolveSamplingParams(partial);
    } catch (e) {
      throw new EngineError('invalid_request', (e as Error).message);
    }
    if (prompt.length === 0) throw new EngineError('invalid_request', 'the prompt is empty');
    for (const t of prompt) {
      if (!Number.isInteger(t) || t < 0 || t >= this.runner.vocabSize)
        throw new EngineError(
          'invalid_request',
          `prompt token ${t} is outside the vocabulary [0, ${this.runner.vocabSize})`,
        );
    }
    const total = prompt.length + params.maxTokens;
    if (total > this.runner.maxContext) {
      throw new EngineError(
        'context_length_exceeded',
        `This model's maximum context length is ${this.runner.maxContext} tokens, but ${total} were requested (${prompt.length} in the prompt, ${params.maxTokens} to generate). Shorten the prompt or lower max_tokens.`,
      );
    }
    if (this.kv.pagesFor(total) > this.runner.numPages) {
      throw new EngineError(
        'kv_capacity_exceeded',
        `The request needs ${this.kv.pagesFor(total)} KV pages but the cache holds ${this.runner.numPages}; lower max_tokens.`,
      );
    }
    if (params.seed === undefined) params = { ...params, seed: this.nextSeed() };
    const constraints = params.constraint
      ? await Promise.all(Array.from({ length: params.n }, () => params.constraint!()))
      : [];
    const state = new RequestState(id, this.nextOrder++, prompt, params);
    // Until its prefill is done, a request with n > 1 is one sequence; the others fork from it.
    for (let i = 0; i < params.n; i++)
      state.sequences.push(new Sequence(state, i, prompt, this.tokenizer, constraints[i] ?? null));
    this.requests.set(state.order, state);
    this.scheduler.enqueue(state.sequences[0]!);
    this.wakeLoop();
    return {
      id,
      promptTokens: prompt.length,
      result: state.result,
      abort: () => this.abort(state),
      [Symbol.asyncIterator]: () => state.events[Symbol.asyncIterator](),
    };
  }

  stats(): EngineStats {
    const running = new Set(this.scheduler.running.map((s) => s.request));
    const waiting = new Set(this.scheduler.waiting.map((s) => s.request));
    for (const r of running) waiting.delete(r);
    const idleCached = this.kv.cache.evictableCount();
    return {
      runningRequests: running.size,
      runningSequences: this.scheduler.running.length,
      waitingRequests: waiting.size,
      waitingSequences: this.scheduler.waiting.length,
      pagesTotal: this.runner.numPages,
      pagesUsed: this.kv.pool.usedCount - idleCached,
      pagesCachedIdle: idleCached,
      prefixCacheHitRate: this.kv.cache.hitRate,
      preemptions: this.scheduler.preemptions,
      steps: this.steps,
      promptTokensComputed: this.promptTokensComputed,
      generatedTokens: this.generatedTokens,
    };
  }

  /** Null while the engine serves; the error that stopped it after a failed step. */
  get failed(): EngineError | null {
    return this.failure;
  }

  /** Requests admitted or waiting, not yet finished. */
  get activeRequests(): number {
    return this.requests.size;
  }

  /** Stops the loop after the current step; unfinished requests end with reason 'abort'. */
  async shutdown(): Promise<void> {
    this.stopped = true;
    for (const r of this.requests.values()) r.aborted = true;
    this.wakeLoop();
    await this.loopDone;
    this.reapAborted();
  }

  private nextSeed(): number {
    this.seedState = (this.seedState + 0x9e3779b9) >>> 0;
    return this.seedState;
  }

  private abort(state: RequestState): void {
    if (state.finished || state.aborted) return;
    state.aborted = true;
    // Pages may be in use by a forward in flight: free them after it, otherwise now.
    if (!this.stepping) this.reapAborted();
    this.wakeLoop();
  }

  private wakeLoop(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      if (this.scheduler.running.length === 0 && this.scheduler.waiting.length === 0) {
        await new Promise<void>((r) => (this.wake = r));
        continue;
      }
      this.stepping = true;
      try {
        await this.step();
      } catch (e) {
        this.failEngine(`internal engine error: ${(e as Error).message}`);
      } finally {
        this.stepping = false;
      }
      this.reapAborted();
      await yieldToEventLoop();
    }
  }

  private async step(): Promise<void> {
    this.reapAborted();
    const chunks = this.scheduler.schedule();
    if (chunks.length === 0) {
      // Nothing fits (cannot happen while submit checks capacity); wait instead of spinning.
      await new Promise<void>((r) => setTimeout(r, 5));
      return;
    }
    if (this.residentEligible(chunks)) {
      await this.residentDecode(chunks.map((c) => c.seq));
      return;
    }
    const vocab = this.runner.vocabSize;
    // Rows that need a token now, and which of them the device can draw (decided per request, so a
    // request's tokens never depend on what else shares its batch).
    const sampled = chunks.map((c) => c.seq.pendingTokens === c.count);
    const onDevice = chunks.map(
      (c, i) => sampled[i]! && this.runner.sampleOnDevice !== undefined && deviceSamplable(c.seq.request),
    );
    const readLogits = sampled.some((s, i) => s && !onDevice[i]);
    let logits: Float32Array;
    let deviceTokens: Int32Array | null = null;
    try {
      logits = await this.runner.forward(
        {
          seqs: chunks.map((c) => ({
            tokens: c.seq.tokens.slice(c.start, c.start + c.count),
            start: c.start,
            pages: c.seq.pages.slice(0, this.kv.pagesFor(c.start + c.count)),
          })),
        },
        { readLogits },
      );
      if (readLogits && logits.length !== chunks.length * vocab)
        throw new Error(`returned ${logits.length} logits for ${chunks.length} sequences × vocab ${vocab}`);
      const rows = chunks.flatMap((c, i) => (onDevice[i] ? [deviceRow(i, c.seq)] : []));
      if (rows.length) deviceTokens = await this.runner.sampleOnDevice!(rows);
    } catch (e) {
      this.failEngine(`model forward failed: ${(e as Error).message}`);
      return;
    }
    this.steps++;
    let d = 0;
    for (let i = 0; i < chunks.length; i++) {
      const { seq, count } = chunks[i]!;
      const token = onDevice[i] ? deviceTokens![d++]! : -1;
      if (seq.request.aborted || seq.status !== 'running') continue;
      seq.numComputed += count;
      if (seq.outputLength === 0 || count > 1) this.promptTokensComputed += count;
      this.kv.cacheFullPages(seq);
      if (seq.pendingTokens > 0) continue; // mid-prefill: these logits are not needed
      try {
        if (onDevice[i]) this.acceptToken(seq, { token });
        else await this.sampleNext(seq, logits.subarray(i * vocab, (i + 1) * vocab));
      } catch (e) {
        this.fail(seq.request, e);
      }
    }
  }

  /**
   * A pure-decode batch of plainly sampled requests, with nobody waiting to be admitted, runs on the
   * GPU-resident loop: the batch composition is fixed for the run, so the drawn ids can chain on
   * the device.
   */
  private residentEligible(chunks: readonly { seq: Sequence; count: number }[]): boolean {
    return (
      this.runner.submitDecode !== undefined &&
      this.scheduler.waiting.length === 0 &&
      chunks.every((c) => c.count === 1 && c.seq.pendingTokens === 1 && deviceSamplable(c.seq.request))
    );
  }

  /**
   * Decode steps of a fixed batch back to back, up to RESIDENT_DEPTH in flight, each feeding the ids
   * the previous one drew on the device. Results are accepted in order as they arrive; when a
   * sequence finishes (or a request arrives or is aborted) no further step is submitted, the steps
   * in flight are drained, and their tokens for finished sequences are discarded.
   */
  private async residentDecode(seqs: readonly Sequence[]): Promise<void> {
    const base = seqs.map((s) => ({ computed: s.numComputed, output: s.outputLength }));
    const inFlight: Promise<Int32Array>[] = [];
    let submitted = 0;
    let open = true;
    const canExtend = (k: number): boolean => {
      if (k === 0) return true; // the scheduler gave this step its pages
      if (this.stopped || this.scheduler.waiting.length > 0) return false;
      return seqs.every((s, i) => {
        const b = base[i]!;
        if (s.status !== 'running' || s.request.aborted) return false;
        // step k computes position computed+k and draws output token output+k+1
        if (b.output + k + 1 > s.request.params.maxTokens || b.computed + k + 1 > this.runner.maxContext) return false;
        return this.kv.ensureCapacity(s, b.computed + k + 1);
      });
    };
    try {
      for (;;) {
        while (open && inFlight.length < RESIDENT_DEPTH && canExtend(submitted)) {
          const k = submitted++;
          const tokens = k === 0 ? Int32Array.from(seqs, (s) => s.tokens[s.numComputed]!) : null;
          const rows = seqs.map((s, i) => ({ ...deviceRow(i, s), step: base[i]!.output + k }));
          const step = this.runner.submitDecode!(
            seqs.map((s, i) => ({ start: base[i]!.computed + k, pages: s.pages })),
            tokens,
            rows,
          );
          step.catch(() => {}); // awaited below in order; a rejection is handled there
          inFlight.push(step);
        }
        if (inFlight.length === 0) return;
        const ids = await inFlight.shift()!;
        this.steps++;
        for (const [i, seq] of seqs.entries()) {
          if (seq.request.aborted || seq.status !== 'running') continue;
          seq.numComputed += 1;
          this.kv.cacheFullPages(seq);
          try {
            this.acceptToken(seq, { token: ids[i]! });
          } catch (e) {
            this.fail(seq.request, e);
          }
        }
        if (seqs.some((s) => s.status !== 'running' || s.request.aborted)) open = false;
      }
    } finally {
      await Promise.allSettled(inFlight);
    }
  }

  /** Samples the next token of `seq` (and, right after the prompt of an n > 1 request, of its forks). */
  private async sampleNext(seq: Sequence, row: Float32Array): Promise<void> {
    const request = seq.request;
    const targets = request.forked ? [seq] : request.sequences;
    // Masks: a fork's grammar is in the same (initial) state as the first sequence's.
    const mask = seq.constraint ? await seq.constraint.nextMask() : null;
    const picks = targets.map((target) =>
      sampleToken(row, request.params, {
        seen: target.seen,
        outputCounts: target.outputCounts,
        seed: request.params.seed!,
        stream: target.index,
        step: target.outputLength,
        mask,
      }),
    );
    if (!request.forked) {
      request.forked = true;
      const copies: [number, number][] = [];
      for (const child of targets.slice(1)) this.fork(seq, child, copies);
      // Before any token is accepted: a completion that ends at once must not free a page being copied.
      if (copies.length) await this.runner.copyPages!(copies);
    }
    for (let i = 0; i < targets.length; i++) this.acceptToken(targets[i]!, picks[i]!);
  }

  /** Lets `child` share the prompt's full pages of `parent`; the partial last page is copied (or recomputed). */
  private fork(parent: Sequence, child: Sequence, copies: [number, number][]): void {
    const full = Math.floor(parent.numComputed / this.kv.pageSize);
    const partial = parent.numComputed % this.kv.pageSize !== 0;
    const own = partial && this.runner.copyPages ? this.kv.allocate(1) : [];
    if (own === null) {
      this.scheduler.enqueue(child); // no page for the copy now: recompute through the prefix cache later
      return;
    }
    for (let p = 0; p < full; p++) this.kv.pool.retain(parent.pages[p]!);
    child.pages = [...parent.pages.slice(0, full), ...own];
    if (own.length) copies.push([parent.pages[full]!, own[0]!]);
    child.numComputed = own.length || !partial ? parent.numComputed : full * this.kv.pageSize;
    child.cachedPages = parent.cachedPages;
    child.cacheNode = parent.cacheNode;
    this.scheduler.addRunning(child);
  }

  private acceptToken(
    seq: Sequence,
    pick: { token: number; logprob?: number; topLogprobs?: GeneratedToken['topLogprobs'] },
  ): void {
    const request = seq.request;
    const params = request.params;
    request.firstTokenAt ??= performance.now();
    seq.appendToken(pick.token);
    this.generatedTokens++;
    const generated: GeneratedToken = { id: pick.token };
    if (pick.logprob !== undefined) generated.logprob = pick.logprob;
    if (pick.topLogprobs) generated.topLogprobs = pick.topLogprobs;
    request.generated[seq.index]!.push(generated);
    if (seq.constraint && !seq.constraint.accept(pick.token))
      throw new Error(`grammar rejected token ${pick.token} it allowed`);

    const isStopToken =
      (!params.ignoreEos && this.tokenizer.stopTokenIds.includes(pick.token)) ||
      params.stopTokenIds.includes(pick.token);
    let reason: FinishReason | null = null;
    let text = '';
    let stoppedByString = false;
    if (isStopToken) reason = 'stop';
    else {
      const out = seq.stopMatcher.push(seq.detokenizer.push(pick.token));
      text = out.emit;
      stoppedByString = out.stopped;
      if (out.stopped || seq.constraint?.isTerminated()) reason = 'stop';
    }
    if (!reason && (seq.outputLength >= params.maxTokens || seq.tokens.length >= this.runner.maxContext))
      reason = 'length';
    if (reason && !stoppedByString) {
      // Generation ended otherwise: release text held back for an incomplete character or a possible stop string.
      const tail = seq.stopMatcher.push(seq.detokenizer.flush());
      text += tail.emit + (tail.stopped ? '' : seq.stopMatcher.flush());
    }
    seq.text += text;
    request.events.push({ type: 'delta', index: seq.index, text, tokens: [generated] });
    if (reason) this.finishSequence(seq, reason);
  }

  private finishSequence(seq: Sequence, reason: FinishReason): void {
    const request = seq.request;
    seq.status = 'finished';
    this.scheduler.remove(seq);
    seq.constraint?.dispose();
    request.choices[seq.index] = {
      index: seq.index,
      text: seq.text,
      tokens: request.generated[seq.index]!,
      finishReason: reason,
    };
    request.events.push({ type: 'finish', index: seq.index, reason });
    if (request.finished) this.complete(request);
  }

  private complete(request: RequestState): void {
    this.requests.delete(request.order);
    const result: RequestResult = {
      id: request.id,
      choices: request.choices.map((c) => c!),
      promptTokens: request.prompt.length,
      completionTokens: request.choices.reduce((n, c) => n + c!.tokens.length, 0),
      cachedTokens: Math.max(0, request.cachedTokens),
      arrivedAt: request.arrivedAt,
      firstTokenAt: request.firstTokenAt,
      finishedAt: performance.now(),
    };
    request.events.close();
    request.resolve(result);
  }

  /** Fails every request in flight with the step's error and refuses new work (see `failure`). */
  private failEngine(message: string): void {
    this.failure ??= new EngineError('engine_failed', `${message}; the engine stopped serving and needs a restart`);
    const inFlight = new EngineError('model_error', message);
    for (const r of [...this.requests.values()]) this.fail(r, inFlight);
    this.stopped = true;
  }

  private fail(request: RequestState, error: unknown): void {
    if (!this.requests.has(request.order)) return;
    this.requests.delete(request.order);
    for (const seq of request.sequences) {
      if (seq.status !== 'finished') {
        seq.status = 'finished';
        this.scheduler.remove(seq);
        seq.constraint?.dispose();
      }
    }
    request.events.fail(error);
    request.reject(error);
  }

  /** Frees everything held by aborted requests; they finish with reason 'abort'. */
  private reapAborted(): void {
    for (const request of [...this.requests.values()]) {
      if (!request.aborted) continue;
      for (const seq of request.sequences) if (seq.status !== 'finished') this.finishSequence(seq, 'abort');
    }
  }
}
