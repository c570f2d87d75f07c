/**
 * The models one server serves, each under the name clients put in `model`: chat models (an
 * engine over a generative runner, with its own KV pages) and embedding models (an encoder).
 * Requests are routed by name; a name that is not served, or a model of the wrong kind for the
 * endpoint, is a 404 `model_not_found` in OpenAI's error shape.
 */
import type { Engine } from '../engine/engine.js';
import type { EngineTokenizer } from '../engine/tokenizer.js';
import type { ChatInstance, ChatRecoverySource } from './chat-recovery.js';
import type { EmbeddingInstance, EmbeddingRecoverySource } from './embedding-recovery.js';
import { ApiError } from './errors.js';
import { GrammarService } from './grammar.js';
import { PromptEncoder } from './prompt-encoder.js';
import type { RecoverySupervisor } from './recovery-supervisor.js';

/** What /v1/embeddings needs of an encoder (a `BertEncoder`). */
export interface Embedder {
  readonly dimensions: number;
  readonly maxContext: number;
  readonly vocabSize: number;
  /** One vector per text of token ids (special tokens in place). */
  embed(texts: readonly (readonly number[])[]): Promise<Float32Array[]>;
}

export class ChatModel {
  readonly kind = 'chat';
  readonly prompts: PromptEncoder;
  private grammar: Promise<GrammarService> | null = null;
  private current: Engine;
  /** Brings the model back after a lost device (chat-recovery.ts); null: a loss leaves it failing. */
  recovery: RecoverySupervisor<ChatInstance> | null = null;

  constructor(
    readonly name: string,
    engine: Engine,
    readonly tokenizer: EngineTokenizer,
    private readonly structuredOutput = true,
  ) {
    this.current = engine;
    this.prompts = new PromptEncoder(tokenizer, engine.runner.maxContext);
  }

  /** The engine in service: after a recovery, the one over the reloaded weights. */
  get engine(): Engine {
    return this.current;
  }

  /** Puts an engine over the same model, reloaded on a new device, in service. */
  replaceEngine(engine: Engine): void {
    this.current = engine;
  }

  get maxContext(): number {
    return this.engine.runner.maxContext;
  }

  /** Why this model cannot serve now (an engine failure, a lost device), or null. */
  failure(): Error | null {
    const r = this.recovery?.status();
    if (r && (r.phase === 'recovering' || r.phase === 'failed')) return new Error(r.reason ?? 'device lost');
    return this.engine.failed ?? null;
  }

  /** 'recovering' while a reload after a lost device is under way. */
  health(): 'ok' | 'recovering' | 'failing' {
    if (this.recovery?.status().phase === 'recovering') return 'recovering';
    return this.failure() ? 'failing' : 'ok';
  }

  grammarService(): Promise<GrammarService> {
    if (!this.structuredOutput) {
      return Promise.reject(
        new ApiError(
          400,
          'Structured output is turned off on this server.',
          'invalid_request_error',
          'response_format',
          'unsupported',
        ),
      );
    }
    this.grammar ??= GrammarService.create(this.tokenizer, this.engine.runner.vocabSize).catch((e: unknown) => {
      throw new ApiError(
        501,
        `Structured output is unavailable: xgrammar failed to load (${(e as Error).message}).`,
        'server_error',
        'response_format',
        'structured_output_unavailable',
      );
    });
    return this.grammar;
  }
}

export class EmbeddingModel {
  readonly kind = 'embedding';
  readonly prompts: PromptEncoder;
  private current: Embedder;
  private interrupt: () => void = () => {};
  private interruptedSignal: Promise<void>;
  /** Brings the model back after a lost device (embedding-recovery.ts); null: not watched. */
  recovery: RecoverySupervisor<EmbeddingInstance> | null = null;

  constructor(
    readonly name: string,
    embedder: Embedder,
    readonly tokenizer: EngineTokenizer,
  ) {
    this.current = embedder;
    this.interruptedSignal = new Promise<void>((resolve) => (this.interrupt = resolve));
    this.prompts = new PromptEncoder(tokenizer, embedder.maxContext);
  }

  /** The encoder in service: after a recovery, the one over the reloaded weights. */
  get embedder(): Embedder {
    return this.current;
  }

  /**
   * Resolves when the encoder in service now is lost: a request racing its `embed` against this
   * ends at the loss, whatever the dead device does with the work already submitted.
   */
  get interrupted(): Promise<void> {
    return this.interruptedSignal;
  }

  /** Ends the requests in flight on the encoder in service (its device was lost). */
  interruptInFlight(): void {
    this.interrupt();
  }

  /** Puts an encoder of the same model, reloaded on a new device, in service. */
  replaceEmbedder(embedder: Embedder): void {
    this.current = embedder;
    this.interruptedSignal = new Promise<void>((resolve) => (this.interrupt = resolve));
  }

  get maxContext(): number {
    return this.embedder.maxContext;
  }

  /** Why this model cannot serve now (a lost device, reloading or given up), or null. */
  failure(): Error | null {
    const r = this.recovery?.status();
    if (r && (r.phase === 'recovering' || r.phase === 'failed')) return new Error(r.reason ?? 'device lost');
    return null;
  }

  /** 'recovering' while a reload after a lost device is under way. */
  health(): 'ok' | 'recovering' | 'failing' {
    if (this.recovery?.status().phase === 'recovering') return 'recovering';
    return this.failure() ? 'failing' : 'ok';
  }
}

export type ServedModel = ChatModel | EmbeddingModel;

/** A model for `ServerOptions.models`, beside the first chat model. */
export type ModelSpec =
  | { kind: 'chat'; name: string; engine: Engine; tokenizer: EngineTokenizer; recovery?: ChatRecoverySource }
  | {
      kind: 'embedding';
      name: string;
      embedder: Embedder;
      tokenizer: EngineTokenizer;
      recovery?: EmbeddingRecoverySource;
    };

export class ModelSet {
  private readonly byName = new Map<string, ServedModel>();

  constructor(models: readonly ServedModel[]) {
    for (const m of models) {
      if (this.byName.has(m.name)) throw new Error(`two models are served under the name '${m.name}'`);
      this.byName.set(m.name, m);
    }
  }

  all(): ServedModel[] {
    return [...this.byName.values()];
  }

  chatModels(): ChatModel[] {
    return this.all().filter((m): m is ChatModel => m.kind === 'chat');
  }

  get(name: string): ServedModel | undefined {
    return this.byName.get(name);
  }

  /** The chat model of this name; without a name (allowed on /tokenize), the first one. */
  chat(name: string | null | undefined): ChatModel {
    return this.ofKind(name, 'chat') as ChatModel;
  }

  /**
   * The chat model and LoRA adapter `name` picks: a served model's name (no adapter),
   * `base:adapter`, or an adapter's name alone (the first chat model that holds it).
   */
  chatRoute(name: string | null | undefined): { model: ChatModel; adapter?: string } {
    if (name == null || this.byName.has(name)) return { model: this.chat(name) };
    const colon = name.indexOf(':');
    if (colon > 0 && this.byName.get(name.slice(0, colon))?.kind === 'chat') {
      const model = this.chat(name.slice(0, colon));
      const adapter = name.slice(colon + 1);
      if (model.engine.runner.adapters?.has(adapter)) return { model, adapter };
      const held = model.engine.runner.adapters?.names() ?? [];
      throw new ApiError(
        404,
        `The model '${model.name}' has no adapter '${adapter}'. Its adapters: ${held.join(', ') || 'none'}.`,
        'invalid_request_error',
        'model',
        'model_not_found',
      );
    }
    const holder = this.chatModels().find((m) => m.engine.runner.adapters?.has(name));
    return holder ? { model: holder, adapter: name } : { model: this.chat(name) };
  }

  embedding(name: string): EmbeddingModel {
    return this.ofKind(name, 'embedding') as EmbeddingModel;
  }

  private ofKind(name: string | null | undefined, kind: ServedModel['kind']): ServedModel {
    const m = name == null ? this.all().find((x) => x.kind === kind) : this.byName.get(name);
    if (m?.kind === kind) return m;
    const wrong = m ? ` ('${m.name}' is ${m.kind === 'chat' ? 'a chat' : 'an embedding'} model)` : '';
    const served = this.all()
      .filter((x) => x.kind === kind)
      .map((x) => x.name);
    throw new ApiError(
      404,
      `The model '${name ?? ''}' does not exist${wrong}. Served ${kind} models: ${served.join(', ') || 'none'}.`,
      'invalid_request_error',
      'model',
      'model_not_found',
    );
  }
}

export function unknownModel(name: string): ApiError {
  return new ApiError(404, `The model '${name}' does not exist.`, 'invalid_request_error', 'model', 'model_not_found');
}
