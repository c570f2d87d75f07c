/**
 * The library entry point: `loadModel(path)` opens an HF folder or GGUF file (or, with no path,
 * the built-in model), uploads it to a backend, and returns a model that generates text through
 * the serving engine (paged KV, continuous batching, every sampling option).
 *
 * @example
 * const model = await loadModel();                       // the built-in 5.8M model
 * for await (const text of model.generate('The jury said', { maxTokens: 40, temperature: 0 })) process.stdout.write(text);
 * await model.close();
 */
import type { Backend } from '../backends/backend.js';
import { openBackend } from '../backends/open.js';
import { Engine, type EngineOptions } from '../engine/engine.js';
import type { SamplingParams } from '../engine/sampling-params.js';
import type { EngineTokenizer } from '../engine/tokenizer.js';
import type { ChatMessage } from '../io/chat-template.js';
import type { Folder } from '../platform/byte-source.js';
import { platform } from '../platform/current.js';
import { engineTokenizer } from './engine-tokenizer.js';
import type { FamilyRunner, RunnerOptions } from './family.js';
import { openModel } from './open-model.js';
import { familyNamed } from './registry.js';

/**
 * Where the built-in model is: its folder in the package in Node (found from `src/` and `dist/`), its
 * URL beside the bundle in a browser (the package's `models/builtin/`, served with the page).
 */
export function builtinModelPath(): string {
  return platform.builtinModel();
}

/** The options every family's runner takes, the backend (default: `openBackend()`), the engine's. */
export interface LoadModelOptions extends Omit<RunnerOptions, 'backend'> {
  readonly backend?: Backend;
  readonly engine?: EngineOptions;
}

export interface GenerateOptions extends Partial<SamplingParams> {
  /** Abort generation (the engine frees the request's pages at once). */
  signal?: AbortSignal;
}

export class TesseraModel {
  constructor(
    readonly name: string,
    /** The family's validated config (a `LlamaConfig` for family 'llama'). */
    readonly config: unknown,
    readonly runner: FamilyRunner,
    readonly tokenizer: EngineTokenizer,
    readonly engine: Engine,
  ) {}

  /** Streams text deltas for a prompt (a string is used as is; messages go through the chat template). */
  async *generate(prompt: string | readonly ChatMessage[], o: GenerateOptions = {}): AsyncGenerator<string> {
    const { signal, ...params } = o;
    const ids =
      typeof prompt === 'string'
        ? this.tokenizer.encode(prompt)
        : this.tokenizer.encode(this.tokenizer.applyChatTemplate(prompt, { addGenerationPrompt: true }), {
            addSpecialTokens: false,
          });
    const req = await this.engine.submit(ids, params);
    const onAbort = () => req.abort();
    signal?.addEventListener('abort', onAbort);
    try {
      for await (const ev of req) if (ev.type === 'delta') yield ev.text;
    } finally {
      signal?.removeEventListener('abort', onAbort);
      req.abort();
    }
  }

  async close(): Promise<void> {
    await this.engine.shutdown();
    this.runner.destroy();
  }
}

export interface LoadedRunner {
  readonly name: string;
  readonly family: string;
  /** The family's validated config (a `LlamaConfig` for family 'llama'). */
  readonly config: unknown;
  readonly runner: FamilyRunner;
  readonly tokenizer: EngineTokenizer;
}

/**
 * Opens and uploads a checkpoint (no engine): for servers that own their engine. The model family
 * is the registered one that claims the checkpoint's config.json or GGUF architecture.
 */
export async function loadRunner(path?: string | Folder, o: LoadModelOptions = {}): Promise<LoadedRunner> {
  const where = path ?? builtinModelPath();
  const backend = o.backend ?? (await openBackend());
  const opened = await openModel(where);
  try {
    const location = typeof where === 'string' ? where : where.location;
    if (!opened.tokenizer) throw new Error(`${location}: no tokenizer (put tokenizer.json beside the weights)`);
    const { engine: _engine, ...runnerOptions } = o;
    const runner = await familyNamed(opened.family).loadRunner(opened, { ...runnerOptions, backend });
    const name = path === undefined ? 'tessera-builtin' : location.replace(/\/+$/, '').split('/').pop()!;
    const tokenizer = engineTokenizer(opened.tokenizer);
    return { name, family: opened.family, config: opened.config, runner, tokenizer };
  } finally {
    await opened.weights.close();
  }
}

/**
 * `path`: a model folder or .gguf file (a path in Node, a URL in a browser or as http(s) in Node), a
 * `Folder` (`urlFolder(base, { onProgress })`, `blobFolder(input.files)`), or nothing for the built-in model.
 */
export async function loadModel(path?: string | Folder, o: LoadModelOptions = {}): Promise<TesseraModel> {
  const { name, config, runner, tokenizer } = await loadRunner(path, o);
  const engine = new Engine(runner, tokenizer, {
    maxBatchTokens: runner.maxTokens,
    maxRunningSeqs: runner.maxSeqs,
    ...o.engine,
  });
  return new TesseraModel(name, config, runner, tokenizer, engine);
}
