/**
 * The page's side of the worker-hosted engine: `createWorkerEngine` starts a module worker that
 * imports this same bundle and hosts the engine (browser-worker-host.ts); the page holds an
 * OpenAI-style client whose calls become messages. No model code runs on the page's thread.
 *
 * @example
 * ```ts
 * const engine = await createWorkerEngine({ modelUrl: '/models/builtin/', onNotice: console.warn });
 * const reply = await engine.chat.completions.create({ messages: [{ role: 'user', content: 'Hi' }], max_tokens: 20 });
 * for await (const chunk of await engine.chat.completions.create({ messages, stream: true })) out.append(chunk.choices[0]?.delta.content ?? '');
 * ```
 */
import { ChatCompletionError, CrossOriginIsolationError, WorkerEngineError } from './browser-errors.js';
import { pushStream } from './util/push-stream.js';
import type { BackendPreference, ErrorFields, FromWorker, NoticeCode, ToWorker } from './browser-protocol.js';
import {
  DeviceLostError,
  GpuError,
  LimitExceededError,
  MissingFeatureError,
  NoAdapterError,
  OutOfMemoryError,
} from './backends/webgpu/errors.js';

export interface WorkerEngineOptions {
  /** The model folder's URL (config.json, tokenizer files, safetensors), relative to the page. */
  modelUrl: string;
  /** Default 'auto': WebGPU where the browser has it, else the CPU backend (with a notice). */
  backend?: BackendPreference;
  actDtype?: 'f16' | 'f32';
  /** The URL of this bundle, which the worker imports (default: where this module was loaded from). */
  bundleUrl?: string | URL;
  onProgress?: (p: { loaded: number; total: number | null }) => void;
  /**
   * Messages worth showing the user, such as a fallback from WebGPU to the CPU ('no-webgpu'), from f16
   * to f32 ('no-f16'), or to a smaller engine after running out of GPU memory ('smaller-batch').
   */
  onNotice?: (message: string, code: NoticeCode) => void;
  /** Keep the model's files in the Origin Private File System, checked by size and SHA-256 (default true). */
  cache?: boolean;
  /** Each model file's cache outcome: read from the cache, or fetched and why. */
  onCache?: (e: { file: string; hit: boolean; reason?: string }) => void;
  /**
   * Bytes the WebGPU backend may allocate. Over it, the engine loads smaller (fewer sequences at once,
   * shorter steps; a 'smaller-batch' notice); a model whose smallest engine is over fails with OutOfMemoryError.
   */
  memoryBudget?: number;
  /**
   * The GPU device was lost (driver reset, GPU process crash, `loseDevice()`): requests in flight
   * and later ones fail with this error; `reload()` starts a new engine.
   */
  onDeviceLost?: (error: DeviceLostError) => void;
}

export interface ChatCompletionCreateParams {
  messages: { role: string; content: string | null; [k: string]: unknown }[];
  max_tokens?: number | null;
  temperature?: number | null;
  stream?: boolean | null;
  [field: string]: unknown;
}

export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: { index: number; message: { role: 'assistant'; content: string }; logprobs: null; finish_reason: string }[];
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
}

export interface ChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  choices: {
    index: number;
    delta: { role?: string; content?: string };
    logprobs: null;
    finish_reason: string | null;
  }[];
  usage?: ChatCompletion['usage'];
}

/** A stream of chunks; `abort()` cancels the generation in the worker. */
export interface ChatCompletionStream extends AsyncIterable<ChatCompletionChunk> {
  abort(): void;
}

export interface WorkerEngine {
  /** 'webgpu' or 'cpu': what the worker runs on. */
  readonly backend: string;
  readonly model: string;
  readonly chat: {
    readonly completions: {
      create(body: ChatCompletionCreateParams & { stream: true }): Promise<ChatCompletionStream>;
      create(body: ChatCompletionCreateParams & { stream?: false | null }): Promise<ChatCompletion>;
      create(body: ChatCompletionCreateParams): Promise<ChatCompletion | ChatCompletionStream>;
    };
  };
  /** Stops the worker; requests in flight end with an error. */
  terminate(): void;
  /** Set once the GPU device is lost; every request then fails with it until `reload()`. */
  readonly lost: DeviceLostError | null;
  /** Stops this engine and starts a new one with the same options (the path out of a device loss). */
  reload(): Promise<WorkerEngine>;
  /** Destroys the worker's GPU device, as a driver reset would, to exercise the recovery path. */
  loseDevice(): void;
}

/** GPU errors by name, so that a page can test `instanceof` on what crossed the worker boundary. */
const GPU_ERRORS: Record<string, { prototype: GpuError }> = {
  DeviceLostError,
  OutOfMemoryError,
  NoAdapterError,
  LimitExceededError,
  MissingFeatureError,
  GpuError,
};

/** A GpuError subclass rebuilt from its fields (its constructor composes messages, which arrive composed). */
function reviveGpuError(f: ErrorFields): GpuError | null {
  const cls = GPU_ERRORS[f.name];
  if (!cls) return null;
  const e = Object.create(cls.prototype) as GpuError & { hint: string };
  Object.defineProperties(e, {
    message: { value: f.message, writable: true, configurable: true },
    name: { value: f.name, writable: true, configurable: true },
    hint: { value: f.hint ?? '', writable: true, configurable: true },
    stack: { value: `${f.name}: ${f.message}`, writable: true, configurable: true },
  });
  return e;
}

function toError(f: ErrorFields): Error {
  if (f.name === 'ChatCompletionError')
    return new ChatCompletionError(
      f.message,
      f.status ?? 500,
      f.type ?? 'server_error',
      f.param ?? null,
      f.code ?? null,
    );
  if (f.name === 'CrossOriginIsolationError') return new CrossOriginIsolationError();
  return reviveGpuError(f) ?? new WorkerEngineError(`${f.name}: ${f.message}`);
}

/** Per-request receiver of the worker's messages. */
interface Pending {
  onMessage(m: FromWorker): void;
  fail(e: Error): void;
}

/** The reply of a non-streamed request: its response once the worker ends it. */
function completeOnce(pending: Map<number, Pending>, id: number): Promise<ChatCompletion> {
  return new Promise((resolve, reject) => {
    let response: ChatCompletion | null = null;
    pending.set(id, {
      fail: reject,
      onMessage: (m) => {
        if (m.type === 'response') response = m.response as ChatCompletion;
        else if (m.type === 'error') reject(toError(m.error));
        else if (m.type === 'end') response ? resolve(response) : reject(new WorkerEngineError('no response'));
        if (m.type === 'error' || m.type === 'end') pending.delete(id);
      },
    });
  });
}

/** A streamed request: chunks queue up as they arrive and are handed out as the page iterates. */
function streamOf(pending: Map<number, Pending>, send: (m: ToWorker) => void, id: number): ChatCompletionStream {
  const cancel = () => send({ type: 'cancel', id });
  const stream = pushStream<ChatCompletionChunk>(cancel);
  pending.set(id, {
    fail: (e) => stream.fail(e),
    onMessage: (m) => {
      if (m.type === 'chunk') stream.push(m.chunk as ChatCompletionChunk);
      else if (m.type === 'error') stream.fail(toError(m.error));
      else if (m.type === 'end') stream.end();
      if (m.type === 'error' || m.type === 'end') pending.delete(id);
    },
  });
  return { abort: cancel, [Symbol.asyncIterator]: () => stream[Symbol.asyncIterator]() };
}

/** Starts the worker, loads the model in it, and resolves once it can serve. */
export async function createWorkerEngine(options: WorkerEngineOptions): Promise<WorkerEngine> {
  const bundle = new URL(String(options.bundleUrl ?? import.meta.url), location.href).href;
  const source = `import { hostWorkerEngine } from ${JSON.stringify(bundle)}; hostWorkerEngine();`;
  const scriptUrl = URL.createObjectURL(new Blob([source], { type: 'text/javascript' }));
  const worker = new Worker(scriptUrl, { type: 'module', name: 'tessera-engine' });
  const pending = new Map<number, Pending>();
  let nextId = 1;
  let loaded: { resolve: (m: { backend: string; model: string }) => void; reject: (e: Error) => void } | null = null;
  const ready = new Promise<{ backend: string; model: string }>((resolve, reject) => (loaded = { resolve, reject }));

  let lost: DeviceLostError | null = null;
  const failAll = (e: Error) => {
    loaded?.reject(e);
    for (const p of pending.values()) p.fail(e);
    pending.clear();
  };
  worker.onerror = (e) => failAll(new WorkerEngineError(`the engine's worker failed: ${e.message || 'script error'}`));
  worker.onmessage = (e: MessageEvent<FromWorker>) => {
    const m = e.data;
    if (m.type === 'progress') options.onProgress?.({ loaded: m.loaded, total: m.total });
    else if (m.type === 'notice') options.onNotice?.(m.message, m.code);
    else if (m.type === 'cache')
      options.onCache?.({ file: m.file, hit: m.hit, ...(m.reason ? { reason: m.reason } : {}) });
    else if (m.type === 'ready') loaded?.resolve({ backend: m.backend, model: m.model });
    else if (m.type === 'load-error') loaded?.reject(toError(m.error));
    else if (m.type === 'device-lost') {
      lost = toError(m.error) as DeviceLostError;
      failAll(lost);
      options.onDeviceLost?.(lost);
    } else pending.get(m.id)?.onMessage(m);
  };
  const send = (m: ToWorker) => worker.postMessage(m);
  send({
    type: 'load',
    modelUrl: new URL(options.modelUrl, location.href).href,
    backend: options.backend ?? 'auto',
    ...(options.actDtype ? { actDtype: options.actDtype } : {}),
    ...(options.cache === false ? { cache: false } : {}),
    ...(options.memoryBudget === undefined ? {} : { memoryBudget: options.memoryBudget }),
  });
  let info: { backend: string; model: string };
  try {
    info = await ready;
  } catch (e) {
    worker.terminate();
    throw e;
  } finally {
    URL.revokeObjectURL(scriptUrl);
  }

  function terminate(): void {
    worker.terminate();
    failAll(new WorkerEngineError('the engine was terminated'));
  }

  async function create(body: ChatCompletionCreateParams): Promise<ChatCompletion | ChatCompletionStream> {
    if (lost) throw lost;
    const id = nextId++;
    const result = body.stream ? streamOf(pending, send, id) : completeOnce(pending, id);
    send({ type: 'chat', id, body });
    return result;
  }

  return {
    backend: info.backend,
    model: info.model,
    chat: { completions: { create: create as WorkerEngine['chat']['completions']['create'] } },
    terminate,
    get lost() {
      return lost;
    },
    reload: () => {
      terminate();
      return createWorkerEngine(options);
    },
    loseDevice: () => send({ type: 'lose-device' }),
  };
}
