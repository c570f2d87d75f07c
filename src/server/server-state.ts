/**
 * What every endpoint shares: the served models (routed by name), limits and the admission
 * counter behind the bounded queue.
 */
import type { DerainService } from './derain-route.js';
import type { Engine } from '../engine/engine.js';
import type { EngineTokenizer } from '../engine/tokenizer.js';
import { type ChatRecoverySource, superviseChatModel } from './chat-recovery.js';
import { type EmbeddingRecoverySource, superviseEmbeddingModel } from './embedding-recovery.js';
import { ApiError } from './errors.js';
import type { ServerMetrics } from './metrics.js';
import type { RagStore } from './rag-stores.js';
import type { RecoveryPolicy } from './recovery-supervisor.js';
import { DEFAULT_MAX_BODY_BYTES } from './request-body.js';
import { ChatModel, type Embedder, EmbeddingModel, type ModelSpec, ModelSet } from './served-models.js';

export interface ServerOptions {
  /** The first chat model: its engine, tokenizer and the name clients put in `model`. */
  engine: Engine;
  tokenizer: EngineTokenizer;
  modelName: string;
  /** How to reload the first chat model after its GPU device is lost; absent: a loss leaves it failing. */
  recovery?: ChatRecoverySource;
  /** Attempts and backoff of those reloads (every model's, embedding models' included). */
  recoveryPolicy?: RecoveryPolicy;
  /** More models in the same process, each under its own name (chat models bring their own engine and KV pages). */
  models?: readonly ModelSpec[];
  /** When set, every path but `/health/live` (and the page's static HTML) requires `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** Origins allowed cross-origin access ('*' for any); none: no CORS headers at all. */
  corsOrigins?: string[];
  /** Requests generating at once; more wait in the queue. Default 64. */
  maxConcurrentRequests?: number;
  /** Requests waiting beyond those; further ones get 429 with Retry-After. Default 64. */
  maxQueuedRequests?: number;
  /** A request still unfinished after this many ms is cancelled (504, or an error event when streaming). Default 600 000. */
  requestTimeoutMs?: number;
  /** Seconds suggested in Retry-After. Default 1. */
  retryAfterSeconds?: number;
  metrics?: ServerMetrics;
  /** Request bodies beyond this many bytes get 413 before they are parsed. Default 4 MiB. */
  maxBodyBytes?: number;
  /** On close, in-flight requests may finish for this long before they are ended with an error. Default 30 000. */
  drainTimeoutMs?: number;
  /**
   * On drain, requests still waiting for their first admission are ended at once with 503
   * `request_migrated` instead of waiting their turn here: a cluster router sends them to another
   * instance. Off for a lone server, whose queued clients have nowhere better to go.
   */
  handBackQueuedOnDrain?: boolean;
  /** Structured output and forced tool calls need xgrammar; false turns them off (400 when asked for). */
  structuredOutput?: boolean;
  /** Datastores chat completions may ground answers in (the `rag` field, `rag-chat.ts`). */
  rag?: readonly RagStore[];
  /** The de-raining filter behind `POST /v1/images/derain` and the `/derain` page (`derain-route.ts`). */
  derain?: DerainService;
}

/** What draining (and a lost device) needs of a request in flight (a `Generation`). */
export interface Interruptible {
  readonly model: ChatModel;
  /** Whether the engine has admitted any of its prompts (prefill began). */
  readonly started: boolean;
  cancel(outcome: 'shutdown' | 'device_lost' | 'migrated'): void;
}

export class ServerState {
  readonly modelName: string;
  readonly models: ModelSet;
  readonly capacity: number;
  readonly requestTimeoutMs: number;
  readonly maxBodyBytes: number;
  readonly createdAt = Math.floor(Date.now() / 1000);
  private inFlight = 0;
  private draining = false;
  private readonly generations = new Set<Interruptible>();
  private idleWaiters: (() => void)[] = [];
  private nextId = 0;

  constructor(readonly options: ServerOptions) {
    this.modelName = options.modelName;
    const structured = options.structuredOutput !== false;
    const recoverable: [ChatModel, ChatRecoverySource][] = [];
    const chat = (name: string, engine: Engine, tokenizer: EngineTokenizer, recovery?: ChatRecoverySource) => {
      const model = new ChatModel(name, engine, tokenizer, structured);
      if (recovery) recoverable.push([model, recovery]);
      return model;
    };
    const watchedEncoders: [EmbeddingModel, EmbeddingRecoverySource][] = [];
    const embedding = (
      name: string,
      embedder: Embedder,
      tokenizer: EngineTokenizer,
      recovery?: EmbeddingRecoverySource,
    ) => {
      const model = new EmbeddingModel(name, embedder, tokenizer);
      if (recovery) watchedEncoders.push([model, recovery]);
      return model;
    };
    this.models = new ModelSet([
      chat(options.modelName, options.engine, options.tokenizer, options.recovery),
      ...(options.models ?? []).map((m) =>
        m.kind === 'chat'
          ? chat(m.name, m.engine, m.tokenizer, m.recovery)
          : embedding(m.name, m.embedder, m.tokenizer, m.recovery),
      ),
    ]);
    // after the set is built: a duplicate name throws before anything watches a device
    for (const [model, source] of recoverable)
      superviseChatModel(model, source, (m) => this.interruptModel(m), options.recoveryPolicy);
    for (const [model, source] of watchedEncoders) superviseEmbeddingModel(model, source, options.recoveryPolicy);
    this.capacity = (options.maxConcurrentRequests ?? 64) + (options.maxQueuedRequests ?? 64);
    this.requestTimeoutMs = options.requestTimeoutMs ?? 600_000;
    this.maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  }

  /** The first chat model's engine in service (the one `/metrics` reports). */
  get engine(): Engine {
    return this.models.chatModels()[0]!.engine;
  }

  get retryAfterSeconds(): number {
    return this.options.retryAfterSeconds ?? 1;
  }

  get activeRequests(): number {
    return this.inFlight;
  }

  get isDraining(): boolean {
    return this.draining;
  }

  /** 503 with Retry-After while draining: the client should retry on another instance or later. */
  shuttingDownError(): ApiError {
    return new ApiError(
      503,
      'The server is shutting down and accepts no new requests.',
      'server_error',
      null,
      'server_shutting_down',
      this.options.retryAfterSeconds ?? 1,
    );
  }

  /**
   * Stops admitting requests; those in flight go on (with `handBackQueuedOnDrain`, those not yet
   * started end at once with `request_migrated`). Resolves once none is left.
   */
  drain(): Promise<void> {
    this.draining = true;
    if (this.options.handBackQueuedOnDrain) for (const g of [...this.generations]) this.handBackIfQueued(g);
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Ends every request still in flight with an error (the drain timeout passed). */
  interruptAll(): void {
    for (const g of [...this.generations]) g.cancel('shutdown');
  }

  /** Ends the requests in flight on a model whose device was lost. */
  interruptModel(model: ChatModel): void {
    for (const g of [...this.generations]) if (g.model === model) g.cancel('device_lost');
  }

  /** No more reloads of lost models (the server is closing). */
  stopRecovery(): void {
    for (const m of this.models.all()) m.recovery?.stop();
  }

  track(g: Interruptible): void {
    this.generations.add(g);
    // admitted to the queue just before the drain began, tracked just after it
    if (this.draining && this.options.handBackQueuedOnDrain) this.handBackIfQueued(g);
  }

  private handBackIfQueued(g: Interruptible): void {
    if (!g.started) g.cancel('migrated');
  }

  untrack(g: Interruptible): void {
    this.generations.delete(g);
  }

  /** Takes a place in the bounded queue or throws 429 (503 while draining); pair with `releaseSlot`. */
  acquireSlot(): void {
    if (this.draining) throw this.shuttingDownError();
    if (this.inFlight >= this.capacity) {
      throw new ApiError(
        429,
        `The server is at capacity (${this.capacity} requests in flight); retry later.`,
        'rate_limit_error',
        null,
        'queue_full',
        this.options.retryAfterSeconds ?? 1,
      );
    }
    this.inFlight++;
  }

  releaseSlot(): void {
    this.inFlight--;
    if (this.inFlight === 0) for (const w of this.idleWaiters.splice(0)) w();
  }

  newId(prefix: string): string {
    return `${prefix}-${Date.now().toString(36)}${(this.nextId++).toString(36)}`;
  }
}
