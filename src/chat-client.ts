/**
 * The OpenAI-style client on the calling thread: `chatClient(model).chat.completions.create(body)`
 * over a model loaded here, with no worker and no HTTP. The same request handling as the
 * worker-hosted engine and the server (browser-chat.ts); for code that already runs off the UI
 * thread (its own worker, Node). A page's main thread wants `createWorkerEngine` instead.
 *
 * @example
 * const client = chatClient(await loadModel());
 * const reply = await client.chat.completions.create({ messages: [{ role: 'user', content: 'Hi' }], max_tokens: 20 });
 */
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionCreateParams,
  ChatCompletionStream,
} from './browser-client.js';
import { ChatCompletionError } from './browser-errors.js';
import { pageChatModel, runChatCompletion } from './browser-chat.js';
import type { EngineRequest } from './engine/request.js';
import { pushStream } from './util/push-stream.js';
import type { TesseraModel } from './models/load-model.js';
import { ApiError, toApiError } from './server/errors.js';

export interface ChatClient {
  readonly model: string;
  readonly chat: {
    readonly completions: {
      create(body: ChatCompletionCreateParams & { stream: true }): Promise<ChatCompletionStream>;
      create(body: ChatCompletionCreateParams & { stream?: false | null }): Promise<ChatCompletion>;
      create(body: ChatCompletionCreateParams): Promise<ChatCompletion | ChatCompletionStream>;
    };
  };
}

/** The server's error as the page's typed one (the class the worker-hosted engine throws too). */
function typed(e: unknown): ChatCompletionError {
  const a = e instanceof ApiError ? e : toApiError(e);
  return new ChatCompletionError(a.message, a.status, a.type, a.param, a.code);
}

export function chatClient(model: TesseraModel): ChatClient {
  const chat = pageChatModel(model.name, model.engine, model.tokenizer);
  let next = 0;

  async function complete(body: ChatCompletionCreateParams): Promise<ChatCompletion> {
    let response: ChatCompletion | null = null;
    const sink = { chunk: () => undefined, response: (r: unknown) => (response = r as ChatCompletion) };
    await runChatCompletion(chat, body, `chatcmpl-${++next}`, sink, () => undefined).catch((e: unknown) => {
      throw typed(e);
    });
    return response!;
  }

  /** Chunks queue up as the engine makes them and are handed out as the caller iterates. */
  function stream(body: ChatCompletionCreateParams): ChatCompletionStream {
    let requests: EngineRequest[] = [];
    const abort = () => {
      for (const r of requests) r.abort();
    };
    const chunks = pushStream<ChatCompletionChunk>(abort);
    const sink = { chunk: (c: unknown) => chunks.push(c as ChatCompletionChunk), response: () => undefined };
    runChatCompletion(chat, body, `chatcmpl-${++next}`, sink, (r) => {
      requests = r;
    }).then(
      () => chunks.end(),
      (e: unknown) => chunks.fail(typed(e)),
    );
    return { abort, [Symbol.asyncIterator]: () => chunks[Symbol.asyncIterator]() };
  }

  function create(body: ChatCompletionCreateParams & { stream: true }): Promise<ChatCompletionStream>;
  function create(body: ChatCompletionCreateParams & { stream?: false | null }): Promise<ChatCompletion>;
  function create(body: ChatCompletionCreateParams): Promise<ChatCompletion | ChatCompletionStream>;
  async function create(body: ChatCompletionCreateParams): Promise<ChatCompletion | ChatCompletionStream> {
    return body.stream ? stream(body) : complete(body);
  }

  return { model: model.name, chat: { completions: { create } } };
}
