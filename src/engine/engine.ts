/**
 * The serving engine: takes tokenized requests, runs the scheduler's steps on a ModelRunner (the
 * GPU-resident decode loop where a batch allows it, `resident-decode.ts`, else a host-driven step,
 * `host-step.ts`), and streams results back (`request-outputs.ts`).
 *
 * @example
 * const engine = new Engine(runner, tokenizer);
 * const req = await engine.submit(tokenizer.encode('Once upon'), { maxTokens: 20, temperature: 0 });
 * for await (const ev of req) if (ev.type === 'delta') process.stdout.write(ev.text);
 */
import { platform } from '../platform/current.js';
import { EngineError } from './errors.js';
import { runHostStep } from './host-step.js';
import { KvManager } from './kv-manager.js';
import { LongContextPolicy } from './long-context.js';
import type { LongContextOptions } from '../longctx/options.js';
import { type NanoBatchSetting, type NanoPlanner, resolveNanoBatches, runNanoBatchedStep } from './nano-batch.js';
import type { ModelRunner } from './model-runner.js';
import { RequestState, type EngineRequest } from './request.js';
import { RequestOutputs } from './request-outputs.js';
import { residentEligible, runResidentDecode } from './resident-decode.js';
import { resolveSamplingParams, type SamplingParams } from './sampling-params.js';
import { DEFAULT_PREFILL_CHUNK_TOKENS, Scheduler } from './scheduler.js';
import { Sequence } from './sequence.js';
import type { StepContext, StepCounters } from './step-context.js';
import { type StepBucketSummary, StepLog } from './step-log.js';
import { MIN_PREFILL_CHUNK, StepTimes } from './step-times.js';
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
  /**
   * Sizes each step's prefill chunk by measured step times so that a step carrying decodes takes
   * at most this many times a decode-only step of the same decodes (between 16 tokens and
   * `prefillChunkTokens`; docs/prefill-budget.md). Unset: the fixed `prefillChunkTokens`.
   */
  prefillItlRatio?: number;
  /** Sequences per step. Default 128. */
  maxRunningSeqs?: number;
  /** Reuse KV pages of earlier prompts. Default true. */
  prefixCaching?: boolean;
  /** Seed of the seeds given to requests that bring none. */
  seed?: number;
  /**
   * Host-driven steps split into this many nano-batches (docs/nanoflow.md); 'auto' asks
   * `nanoPlanner` per step. Default 'off'.
   */
  nanoBatches?: NanoBatchSetting;
  /**
   * Long-context mode (long-context.ts): past `threshold` tokens a sequence keeps sinks + window on
   * the GPU and the rest in the runner's CPU store. Needs a runner with `longContext`; steps are then
   * host-driven (no GPU-resident loop, no nano-batches).
   */
  longContext?: LongContextOptions;
  /** The nano-batch count of a step for `nanoBatches: 'auto'` (e.g. from `planNanoBatches` over measured costs); without one, 'auto' is off. */
  nanoPlanner?: NanoPlanner;
}

export interface EngineStats {
  runningRequests: number;
  runningSequences: number;
  waitingRequests: number;
  waitingSequences: number;
  pagesTotal: number;
  pagesUsed: number;
  /** Sequences in long-context mode, and the CPU bytes of their stores. */
  longContextSequences: number;
  longContextCpuBytes: number;
  /** Pages held only by the prefix cache (freed on demand). */
  pagesCachedIdle: number;
  prefixCacheHitRate: number;
  preemptions: number;
  steps: number;
  promptTokensComputed: number;
  generatedTokens: number;
}

export class Engine {
  readonly kv: KvManager;
  readonly scheduler: Scheduler;
  private readonly outputs: RequestOutputs;
  private readonly counters: StepCounters = { steps: 0, promptTokensComputed: 0, generatedTokens: 0 };
  private readonly stepContext: StepContext;
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
  private readonly loopDone: Promise<void>;
  private readonly nanoBatches: number | 'auto';
  private readonly nanoPlanner: NanoPlanner | null;
  private readonly stepLog = new StepLog();
  /** Long-context mode's page moves; null when the mode is off. */
  readonly longContext: LongContextPolicy | null = null;

  constructor(
    readonly runner: ModelRunner,
    readonly tokenizer: EngineTokenizer,
    options: EngineOptions = {},
  ) {
    const prefillChunkTokens = options.prefillChunkTokens ?? DEFAULT_PREFILL_CHUNK_TOKENS;
    // Zero would stop every prompt while anything decodes.
    if (!Number.isInteger(prefillChunkTokens) || prefillChunkTokens < 1)
      throw new RangeError(`prefillChunkTokens must be a positive integer, got ${prefillChunkTokens}`);
    const ratio = options.prefillItlRatio;
    if (ratio !== undefined && !(Number.isFinite(ratio) && ratio >= 1))
      throw new RangeError(`prefillItlRatio must be a number ≥ 1, got ${ratio}`);
    const stepTimes = ratio === undefined ? undefined : new StepTimes(runner.stepCosts);
    this.kv = new KvManager(runner.numPages, runner.pageSize, options.prefixCaching ?? true);
    this.scheduler = new Scheduler(this.kv, {
      maxBatchTokens: options.maxBatchTokens ?? 512,
      maxRunningSeqs: options.maxRunningSeqs ?? 128,
      prefillChunkTokens,
      ...(stepTimes
        ? { prefillBudget: (d: number) => stepTimes.prefillBudget(d, prefillChunkTokens, ratio!, MIN_PREFILL_CHUNK) }
        : {}),
      ...(runner.adapters ? { maxAdapters: runner.adapters.slotCount } : {}),
    });
    this.outputs = new RequestOutputs(this.scheduler, tokenizer, runner.maxContext, this.counters);
    this.stepContext = {
      runner,
      kv: this.kv,
      scheduler: this.scheduler,
      outputs: this.outputs,
      counters: this.counters,
      ...(stepTimes ? { stepTimes } : {}),
      stepLog: this.stepLog,
      stopped: () => this.stopped,
      failEngine: (message) => this.failEngine(message),
    };
    if (options.longContext) {
      if (!runner.longContext) throw new RangeError('longContext: this model runner has no long-context mode');
      const policy = new LongContextPolicy(options.longContext, runner.longContext, this.kv);
      this.kv.onRelease = (seq) => policy.released(seq);
      this.longContext = policy;
    }
    this.nanoBatches = resolveNanoBatches(options.nanoBatches);
    this.nanoPlanner = options.nanoPlanner ?? null;
    this.seedState = (options.seed ?? Date.now()) >>> 0;
    this.loopDone = this.loop();
  }

  /**
   * Queues a request. Throws EngineError for prompts that can never run: longer than the model's
   * context with `maxTokens`, or needing more KV pages than exist.
   */
  /** Whether a request not yet finished runs under `adapter` (removing it now would fail that request's steps). */
  adapterInUse(adapter: string): boolean {
    for (const r of this.outputs.requests.values()) if (!r.finished && r.params.adapter === adapter) return true;
    return false;
  }

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
    if (params.adapter !== undefined && !this.runner.adapters?.has(params.adapter))
      throw new EngineError(
        'invalid_request',
        this.runner.adapters
          ? `no adapter '${params.adapter}' (loaded: ${this.runner.adapters.names().join(', ') || 'none'})`
          : `adapter '${params.adapter}' requested, but this model serves no adapters`,
      );
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
    this.outputs.requests.set(state.order, state);
    this.scheduler.enqueue(state.sequences[0]!);
    this.wakeLoop();
    return {
      id,
      promptTokens: prompt.length,
      result: state.result,
      // the KV manager records the cached prefix at the first admission, and only then
      get admitted() {
        return state.cachedTokens >= 0;
      },
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
      longContextSequences: this.scheduler.running.filter((s) => s.longContext).length,
      longContextCpuBytes: this.runner.longContext && this.longContext ? this.runner.longContext.bytes() : 0,
      pagesCachedIdle: idleCached,
      prefixCacheHitRate: this.kv.cache.hitRate,
      preemptions: this.scheduler.preemptions,
      steps: this.counters.steps,
      promptTokensComputed: this.counters.promptTokensComputed,
      generatedTokens: this.counters.generatedTokens,
    };
  }

  /**
   * Step wall times per kind (decode-only, mixed) and row bucket since the last reset: where the
   * inter-token tail comes from. `reset` starts a new window (a bench between its rates).
   */
  stepSummary(reset = false): StepBucketSummary[] {
    const s = this.stepLog.summary();
    if (reset) this.stepLog.reset();
    return s;
  }

  /** Null while the engine serves; the error that stopped it after a failed step. */
  get failed(): EngineError | null {
    return this.failure;
  }

  /** Requests admitted or waiting, not yet finished. */
  get activeRequests(): number {
    return this.outputs.requests.size;
  }

  /** Stops the loop after the current step; unfinished requests end with reason 'abort'. */
  async shutdown(): Promise<void> {
    this.stopped = true;
    for (const r of this.outputs.requests.values()) r.aborted = true;
    this.wakeLoop();
    await this.loopDone;
    this.outputs.reapAborted();
  }

  private nextSeed(): number {
    this.seedState = (this.seedState + 0x9e3779b9) >>> 0;
    return this.seedState;
  }

  private abort(state: RequestState): void {
    if (state.finished || state.aborted) return;
    state.aborted = true;
    // Pages may be in use by a forward in flight: free them after it, otherwise now.
    if (!this.stepping) this.outputs.reapAborted();
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
      this.outputs.reapAborted();
      await platform.yieldToEventLoop();
    }
  }

  private async step(): Promise<void> {
    this.outputs.reapAborted();
    const chunks = this.scheduler.schedule();
    if (chunks.length === 0) {
      // Nothing fits (cannot happen while submit checks capacity); wait instead of spinning.
      await new Promise<void>((r) => setTimeout(r, 5));
      return;
    }
    if (this.longContext) {
      for (const c of chunks)
        if (c.count === 1 && c.seq.pendingTokens === 1) await this.longContext.beforeDecode(c.seq);
      await runHostStep(this.stepContext, chunks);
    } else if (residentEligible(this.stepContext, chunks))
      await runResidentDecode(
        this.stepContext,
        chunks.map((c) => c.seq),
      );
    else {
      const nano = this.nanoCount(chunks);
      if (nano > 1) await runNanoBatchedStep(this.stepContext, chunks, nano);
      else await runHostStep(this.stepContext, chunks);
    }
  }

  /** How many nano-batches a host-driven step runs as (1: the plain step). */
  private nanoCount(chunks: readonly { count: number }[]): number {
    if (this.nanoBatches !== 'auto') return this.nanoBatches;
    if (!this.nanoPlanner) return 1;
    const decode = chunks.filter((c) => c.count === 1).length;
    return this.nanoPlanner(decode, chunks.reduce((a, c) => a + c.count, 0) - decode);
  }

  /** Fails every request in flight with the step's error and refuses new work (see `failure`). */
  private failEngine(message: string): void {
    this.failure ??= new EngineError('engine_failed', `${message}; the engine stopped serving and needs a restart`);
    const inFlight = new EngineError('model_error', message);
    for (const r of [...this.outputs.requests.values()]) this.outputs.fail(r, inFlight);
    this.stopped = true;
  }
}
