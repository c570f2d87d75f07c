/**
 * One chat completion inside the worker-hosted engine, with the server's request handling: the
 * body is checked by the server's field policy and zod schema, the messages go through the same
 * chat template path, and sampling fields map onto engine parameters by the server's
 * `samplingParams`, so a request means the same in a page as over HTTP. Structured output
 * (`response_format`: json_object, json_schema) runs the server's grammar service, loaded in its own
 * chunk of the bundle on the first such request. Tools and logprobs are the server's alone for now;
 * a body asking for them is refused by name.
 */
import type { Engine } from './engine/engine.js';
import type { EngineRequest } from './engine/request.js';
import type { GrammarService } from './server/grammar.js';
import type { EngineTokenizer } from './engine/tokenizer.js';
import { encodeChatPrompt, templateMessages } from './server/chat-prompt.js';
import { ApiError } from './server/errors.js';
import { samplingParams } from './server/generation.js';
import { PromptEncoder } from './server/prompt-encoder.js';
import { responseFormatConstraint } from './server/response-format.js';
import { checkFields } from './server/request-fields.js';
import { type ChatCompletionRequest, chatCompletionFields, chatCompletionRequest } from './server/schemas.js';
import type { ChatModel } from './server/served-models.js';

/** What the server's chat helpers read of a served model: its name, engine, tokenizer and prompt encoder. */
export interface PageChatModel {
  readonly name: string;
  readonly engine: Engine;
  readonly tokenizer: EngineTokenizer;
  readonly prompts: PromptEncoder;
  /** The grammar service, loaded (xgrammar's WebAssembly, the vocabulary indexed) on first use. */
  grammarService(): Promise<GrammarService>;
}

export function pageChatModel(name: string, engine: Engine, tokenizer: EngineTokenizer): PageChatModel {
  let grammar: Promise<GrammarService> | null = null;
  return {
    name,
    engine,
    tokenizer,
    prompts: new PromptEncoder(tokenizer, engine.runner.maxContext),
    grammarService() {
      grammar ??= import('./server/grammar.js')
        .then(({ GrammarService }) => GrammarService.create(tokenizer, engine.runner.vocabSize))
        .catch((e: unknown) => {
          grammar = null;
          throw new ApiError(
            501,
            `Structured output is unavailable: xgrammar failed to load (${(e as Error).message}).`,
            'server_error',
            'response_format',
          );
        });
      return grammar;
    },
  };
}

const SERVER_ONLY = ['tools', 'tool_choice', 'logprobs', 'top_logprobs'] as const;

/** The validated body, or the 400 the server would answer. */
export function parseChatBody(raw: unknown): ChatCompletionRequest {
  checkFields(raw, chatCompletionFields);
  const parsed = chatCompletionRequest.safeParse({ model: 'tessera', ...(raw as object) });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const param = issue.path.join('.');
    throw new ApiError(400, `${param ? `${param}: ` : ''}${issue.message}`, 'invalid_request_error', param || null);
  }
  for (const field of SERVER_ONLY) {
    const v = parsed.data[field];
    if (v != null && v !== false && !(Array.isArray(v) && v.length === 0))
      throw new ApiError(
        400,
        `'${field}' is supported by the HTTP server only, not yet by the in-page engine`,
        'invalid_request_error',
        field,
        'unsupported_parameter',
      );
  }
  return parsed.data;
}

export interface ChatSink {
  chunk(c: unknown): void;
  response(r: unknown): void;
}

/**
 * Runs one request to its end, sending OpenAI chunks (stream) or one response. `register` receives
 * the engine requests so that a cancel from the page can abort them.
 */
export async function runChatCompletion(
  model: PageChatModel,
  raw: unknown,
  id: string,
  sink: ChatSink,
  register: (requests: EngineRequest[]) => void,
): Promise<void> {
  const body = parseChatBody(raw);
  // The server's helpers take a ChatModel and read only the PageChatModel fields of it.
  const served = model as unknown as ChatModel;
  const prompt = await encodeChatPrompt(served, templateMessages(body.messages), [], {
    addGenerationPrompt: true,
    addSpecialTokens: false,
    bounded: true,
  });
  const params = samplingParams(served, body, prompt.length, body.max_completion_tokens ?? body.max_tokens);
  const constraint = await responseFormatConstraint(model, body);
  if (constraint) params.constraint = constraint;
  const request = await model.engine.submit(prompt, params);
  register([request]);
  const created = Math.floor(Date.now() / 1000);
  const n = params.n ?? 1;
  const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) => ({
    id,
    object: 'chat.completion.chunk',
    created,
    model: model.name,
    choices,
    ...extra,
  });
  if (body.stream)
    for (let i = 0; i < n; i++)
      sink.chunk(chunk([{ index: i, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }]));
  let completion = 0;
  for await (const ev of request) {
    if (ev.type === 'delta') {
      completion += ev.tokens.length;
      if (body.stream && ev.text)
        sink.chunk(chunk([{ index: ev.index, delta: { content: ev.text }, logprobs: null, finish_reason: null }]));
      continue;
    }
    if (ev.reason === 'abort')
      throw new ApiError(499, 'the request was cancelled', 'invalid_request_error', null, 'cancelled');
    if (body.stream) sink.chunk(chunk([{ index: ev.index, delta: {}, logprobs: null, finish_reason: ev.reason }]));
  }
  const result = await request.result;
  const usage = {
    prompt_tokens: result.promptTokens,
    completion_tokens: completion,
    total_tokens: result.promptTokens + completion,
    prompt_tokens_details: { cached_tokens: result.cachedTokens },
  };
  if (body.stream) {
    if (body.stream_options?.include_usage) sink.chunk(chunk([], { usage }));
    return;
  }
  sink.response({
    id,
    object: 'chat.completion',
    created,
    model: model.name,
    choices: result.choices.map((c) => ({
      index: c.index,
      message: { role: 'assistant', content: c.text },
      logprobs: null,
      finish_reason: c.finishReason,
    })),
    usage,
  });
}
