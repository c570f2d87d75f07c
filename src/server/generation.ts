/**
 * One HTTP request's generation: maps OpenAI sampling fields onto engine parameters, holds a
 * place in the bounded queue, submits one engine request per prompt, merges their events, and
 * cancels everything on client disconnect or timeout.
 */
import { AsyncQueue } from '../engine/async-queue.js';
import type { EngineRequest, RequestEvent, RequestResult } from '../engine/request.js';
import type { SamplingParams } from '../engine/sampling-params.js';
import { deviceLostError, recoveryRefusal } from './recovery-messages.js';
import { ApiError, handedBackError } from './errors.js';
import type { RequestObserver, RequestOutcome } from './metrics.js';
import type { ChatModel } from './served-models.js';
import type { ServerState } from './server-state.js';

/** Sampling fields common to chat and text completions (already validated by zod). */
export interface SamplingBody {
  max_tokens?: number | null;
  temperature?: number | null;
  top_p?: number | null;
  n?: number | null;
  stop?: string | string[] | null;
  presence_penalty?: number | null;
  frequency_penalty?: number | null;
  logit_bias?: Record<string, number> | null;
  seed?: number | null;
  top_k?: number | null;
  min_p?: number | null;
  repetition_penalty?: number | null;
  ignore_eos?: boolean | null;
  stop_token_ids?: number[] | null;
}

/**
 * Engine parameters for a body. Without max_tokens a request may use the rest of the context
 * (and of the KV capacity); with it, prompt + max_tokens beyond the context is a 400 (from the engine).
 */
export function samplingParams(
  model: ChatModel,
  body: SamplingBody,
  promptLength: number,
  maxTokens: number | null | undefined,
): Partial<SamplingParams> {
  const runner = model.engine.runner;
  const room = Math.min(runner.maxContext, runner.numPages * runner.pageSize) - promptLength;
  if (maxTokens == null && room < 1) {
    throw new ApiError(
      400,
      `This model's maximum context length is ${runner.maxContext} tokens and the prompt has ${promptLength}; shorten it.`,
      'invalid_request_error',
      'messages',
      'context_length_exceeded',
    );
  }
  const p: Partial<SamplingParams> = { maxTokens: maxTokens ?? room, n: body.n ?? 1 };
  if (body.temperature != null) p.temperature = body.temperature;
  if (body.top_p != null) p.topP = body.top_p;
  if (body.top_k != null) p.topK = Math.max(0, body.top_k);
  if (body.min_p != null) p.minP = body.min_p;
  if (body.presence_penalty != null) p.presencePenalty = body.presence_penalty;
  if (body.frequency_penalty != null) p.frequencyPenalty = body.frequency_penalty;
  if (body.repetition_penalty != null) p.repetitionPenalty = body.repetition_penalty;
  if (body.seed != null) p.seed = body.seed >>> 0;
  if (body.stop != null) p.stop = (typeof body.stop === 'string' ? [body.stop] : body.stop).filter((s) => s.length > 0);
  if (body.stop_token_ids != null) p.stopTokenIds = body.stop_token_ids;
  if (body.ignore_eos != null) p.ignoreEos = body.ignore_eos;
  if (body.logit_bias != null) {
    for (const key of Object.keys(body.logit_bias)) {
      if (Number(key) >= runner.vocabSize)
        throw new ApiError(
          400,
          `logit_bias token id ${key} is outside the vocabulary [0, ${runner.vocabSize})`,
          'invalid_request_error',
          'logit_bias',
          'invalid_value',
        );
    }
  }
  if (body.logit_bias != null) p.logitBias = new Map(Object.entries(body.logit_bias).map(([k, v]) => [Number(k), v]));
  return p;
}

export interface ChoiceEvent {
  /** Choice index across prompts: prompt i, completion j → i·n + j. */
  choice: number;
  event: RequestEvent;
}

export class Generation {
  outcome: RequestOutcome = 'ok';
  /** A completion ended with the engine's 'abort' (cancelled, or the engine stopped): its text is cut short. */
  truncated = false;
  private readonly observer: RequestObserver | null;
  private readonly timer: ReturnType<typeof setTimeout>;
  private closed = false;
  /** The event queues being read: a lost device ends them without waiting for the engine. */
  private readonly queues = new Set<AsyncQueue<ChoiceEvent>>();
  /** Device losses of the model before this request was submitted (see `events`). */
  private readonly lossesAtStart: number;

  private constructor(
    private readonly state: ServerState,
    readonly model: ChatModel,
    endpoint: string,
    readonly requests: EngineRequest[],
    readonly n: number,
    signal: AbortSignal | undefined,
    lossesAtStart: number,
  ) {
    this.lossesAtStart = lossesAtStart;
    this.observer = state.options.metrics?.requestStarted(endpoint) ?? null;
    this.timer = setTimeout(() => this.cancel('timeout'), state.requestTimeoutMs);
    state.track(this);
    signal?.addEventListener('abort', () => this.cancel('aborted'), { once: true });
    if (signal?.aborted) this.cancel('aborted');
  }

  /** Submits one engine request per prompt; throws 429 when the queue is full. */
  static async start(
    state: ServerState,
    model: ChatModel,
    endpoint: string,
    prompts: number[][],
    params: Partial<SamplingParams>,
    signal?: AbortSignal,
  ): Promise<Generation> {
    const refused = recoveryRefusal(model, state.retryAfterSeconds);
    if (refused) throw refused;
    const losses = model.recovery?.status().losses ?? 0;
    state.acquireSlot();
    const submitted: EngineRequest[] = [];
    try {
      for (const prompt of prompts) submitted.push(await model.engine.submit(prompt, params, state.newId('req')));
    } catch (e) {
      for (const r of submitted) r.abort();
      state.releaseSlot();
      throw e;
    }
    return new Generation(state, model, endpoint, submitted, params.n ?? 1, signal, losses);
  }

  /** Whether the engine has admitted any of its prompts: until then no work was spent on it. */
  get started(): boolean {
    return this.requests.some((r) => r.admitted);
  }

  get promptTokens(): number {
    return this.requests.reduce((n, r) => n + r.promptTokens, 0);
  }

  /** Events of all prompts' completions, interleaved as they happen. */
  async *events(): AsyncGenerator<ChoiceEvent> {
    const queue = new AsyncQueue<ChoiceEvent>();
    this.queues.add(queue);
    if (this.outcome === 'device_lost') queue.fail(this.interruption());
    let open = this.requests.length;
    this.requests.forEach((request, i) => {
      void (async () => {
        try {
          for await (const event of request) {
            if (event.type === 'delta') this.observer?.tokens(event.tokens.length);
            else if (event.reason === 'abort') this.truncated = true;
            queue.push({ choice: i * this.n + event.index, event });
          }
          if (--open === 0) queue.close();
        } catch (e) {
          // A lost device also fails the step in flight, in a callback that may run before the
          // loss is reported: let the report land so the client hears why, not a bare step error.
          setTimeout(() => queue.fail(this.interruption() ?? this.lostMeanwhile() ?? e), 0);
        }
      })();
    });
    try {
      yield* queue;
    } finally {
      this.queues.delete(queue);
    }
  }

  results(): Promise<RequestResult[]> {
    return Promise.all(this.requests.map((r) => r.result));
  }

  /** Cancels every completion (client gone, timeout, or an error while sending). */
  cancel(outcome: RequestOutcome): void {
    if (this.outcome === 'ok') this.outcome = outcome;
    for (const r of this.requests) r.abort();
    // the engine of a lost device may never finish its step: end the responses now
    if (outcome === 'device_lost') for (const q of this.queues) q.fail(this.interruption());
  }

  /** Releases the queue place; call exactly once when the response is done (or abandoned). */
  close(completionTokens: number): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    this.state.untrack(this);
    this.state.releaseSlot();
    this.observer?.finished(this.outcome, this.promptTokens, completionTokens);
  }

  /**
   * Why the completions did not end on their own, as the error to answer with; null when they
   * did. A cut-short generation never passes for a finished one.
   */
  interruption(): ApiError | null {
    if (this.outcome === 'timeout') return this.timeoutError();
    if (this.outcome === 'device_lost') return deviceLostError(this.model, this.state.retryAfterSeconds);
    if (this.outcome === 'migrated') return handedBackError(this.state.retryAfterSeconds);
    if (this.outcome === 'shutdown' || this.truncated) {
      return new ApiError(
        503,
        'The server shut down before this request finished; its output is incomplete.',
        'server_error',
        null,
        'server_shutting_down',
        this.state.options.retryAfterSeconds ?? 1,
      );
    }
    return null;
  }

  /** The device-lost error when the model lost its device after this request was submitted. */
  private lostMeanwhile(): ApiError | null {
    const losses = this.model.recovery?.status().losses ?? 0;
    return losses > this.lossesAtStart ? deviceLostError(this.model, this.state.retryAfterSeconds) : null;
  }

  timeoutError(): ApiError {
    return new ApiError(
      504,
      `The request did not finish within ${this.state.requestTimeoutMs} ms and was cancelled.`,
      'timeout_error',
      null,
      'request_timeout',
    );
  }
}
