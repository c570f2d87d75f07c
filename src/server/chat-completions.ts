/**
 * POST /v1/chat/completions: the chat template, sampling, structured output, tool calls, and
 * the response as one JSON body or as SSE chunks.
 */
import type { FinishReason, GeneratedToken } from '../engine/request.js';
import type { SamplingParams } from '../engine/sampling-params.js';
import type { ToolCallMessagePart } from '../io/chat-template.js';
import { encodeChatPrompt, templateMessages } from './chat-prompt.js';
import { ApiError } from './errors.js';
import { Generation, samplingParams } from './generation.js';
import { chatLogprobs } from './logprobs-format.js';
import type { ChatCompletionRequest } from './schemas.js';
import type { ServerState } from './server-state.js';
import { sseResponse } from './sse.js';
import { forcedCallSchema, parseToolCalls, ToolCallStreamFilter } from './tools.js';

type ToolMode = 'none' | 'auto' | 'forced';

export async function chatCompletion(
  state: ServerState,
  body: ChatCompletionRequest,
  signal: AbortSignal | undefined,
): Promise<Response> {
  const tools = body.tool_choice === 'none' ? [] : (body.tools ?? []);
  const choice = body.tool_choice ?? (tools.length ? 'auto' : 'none');
  if (typeof choice === 'object' && !tools.some((t) => t.function.name === choice.function.name)) {
    throw new ApiError(
      400,
      `tool_choice names function '${choice.function.name}', which is not in tools`,
      'invalid_request_error',
      'tool_choice',
    );
  }
  if (choice === 'required' && tools.length === 0)
    throw new ApiError(400, "tool_choice 'required' needs at least one tool", 'invalid_request_error', 'tool_choice');
  // parallel_tool_calls: false allows at most one call per reply; the first one is kept.
  const callLimit = body.parallel_tool_calls === false ? 1 : Number.POSITIVE_INFINITY;
  const toolMode: ToolMode = tools.length === 0 ? 'none' : choice === 'auto' ? 'auto' : 'forced';

  const messages = templateMessages(body.messages);
  const prompt = await encodeChatPrompt(state, messages, tools, {
    addGenerationPrompt: true,
    addSpecialTokens: false,
    bounded: true,
  });
  const tok = state.tokenizer;

  const params: Partial<SamplingParams> = {
    ...samplingParams(state, body, prompt.length, body.max_completion_tokens ?? body.max_tokens),
    logprobs: body.logprobs ?? false,
    topLogprobs: body.logprobs ? (body.top_logprobs ?? 0) : 0,
  };
  const forced = forcedCallSchema(tools, choice);
  if (forced) params.constraint = await (await state.grammarService()).jsonSchema(forced, 'tools');
  else if (body.response_format?.type === 'json_object')
    params.constraint = await (await state.grammarService()).jsonObject();
  else if (body.response_format?.type === 'json_schema') {
    const schema = body.response_format.json_schema.schema;
    if (!schema)
      throw new ApiError(
        400,
        'response_format.json_schema.schema is required',
        'invalid_request_error',
        'response_format.json_schema.schema',
      );
    params.constraint = await (await state.grammarService()).jsonSchema(schema);
  }

  const gen = await Generation.start(state, 'chat', [prompt], params, signal);
  const id = state.newId('chatcmpl');
  const created = Math.floor(Date.now() / 1000);
  const makeCallId = () => state.newId('call');
  const finishOf = (reason: FinishReason, calls: ToolCallMessagePart[]) => (calls.length ? 'tool_calls' : reason);

  if (!body.stream) {
    let completion = 0;
    try {
      for await (const ev of gen.events()) if (ev.event.type === 'delta') completion += ev.event.tokens.length;
      const interrupted = gen.interruption();
      if (interrupted) throw interrupted;
      const [result] = await gen.results();
      const choices = result!.choices.map((c) => {
        const reply =
          toolMode === 'none' ? { content: c.text, toolCalls: [] } : parseToolCalls(c.text, tools, makeCallId);
        reply.toolCalls = reply.toolCalls.slice(0, callLimit);
        return {
          index: c.index,
          message: {
            role: 'assistant',
            content: reply.content,
            ...(reply.toolCalls.length ? { tool_calls: reply.toolCalls } : {}),
          },
          logprobs: body.logprobs ? { content: chatLogprobs(tok, c.tokens) } : null,
          finish_reason: finishOf(c.finishReason, reply.toolCalls),
        };
      });
      return Response.json({
        id,
        object: 'chat.completion',
        created,
        model: state.modelName,
        choices,
        usage: usage(result!.promptTokens, result!.completionTokens, result!.cachedTokens),
      });
    } finally {
      gen.close(completion);
    }
  }

  const n = params.n ?? 1;
  const includeUsage = body.stream_options?.include_usage ?? false;
  const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) => ({
    id,
    object: 'chat.completion.chunk',
    created,
    model: state.modelName,
    choices,
    ...extra,
  });
  return sseResponse(
    async (out) => {
      let completion = 0;
      try {
        const filters = Array.from({ length: n }, () => new ToolCallStreamFilter());
        const texts = Array.from({ length: n }, () => '');
        const tokens: GeneratedToken[][] = Array.from({ length: n }, () => []);
        for (let i = 0; i < n; i++)
          out.send(
            chunk([{ index: i, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }]),
          );
        for await (const { choice: i, event } of gen.events()) {
          if (event.type === 'delta') {
            completion += event.tokens.length;
            texts[i] += event.text;
            tokens[i]!.push(...event.tokens);
            const visible =
              toolMode === 'forced' ? '' : toolMode === 'auto' ? filters[i]!.push(event.text) : event.text;
            const logprobs = body.logprobs ? { content: chatLogprobs(tok, event.tokens) } : null;
            if (visible || logprobs)
              out.send(chunk([{ index: i, delta: { content: visible }, logprobs, finish_reason: null }]));
            continue;
          }
          // A cut-short completion gets no finish chunk; the stream ends with an error below.
          if (event.reason === 'abort') continue;
          let calls: ToolCallMessagePart[] = [];
          if (toolMode !== 'none') {
            const tail = toolMode === 'auto' ? filters[i]!.flush() : '';
            if (tail) out.send(chunk([{ index: i, delta: { content: tail }, logprobs: null, finish_reason: null }]));
            calls = parseToolCalls(texts[i]!, tools, makeCallId).toolCalls.slice(0, callLimit);
            if (toolMode === 'forced' && calls.length === 0 && texts[i])
              out.send(chunk([{ index: i, delta: { content: texts[i] }, logprobs: null, finish_reason: null }]));
            if (calls.length) {
              const deltas = calls.map((c, k) => ({
                index: k,
                id: c.id,
                type: 'function',
                function: { name: c.function.name, arguments: c.function.arguments },
              }));
              out.send(chunk([{ index: i, delta: { tool_calls: deltas }, logprobs: null, finish_reason: null }]));
            }
          }
          out.send(chunk([{ index: i, delta: {}, logprobs: null, finish_reason: finishOf(event.reason, calls) }]));
        }
        const interrupted = gen.interruption();
        if (interrupted) return out.fail(interrupted.body());
        if (includeUsage) {
          const results = await gen.results();
          out.send(chunk([], { usage: usage(gen.promptTokens, completion, results[0]!.cachedTokens) }));
        }
        out.done();
      } finally {
        gen.close(completion);
      }
    },
    () => gen.cancel('aborted'),
  );
}

export function usage(prompt: number, completion: number, cached: number) {
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    prompt_tokens_details: { cached_tokens: cached },
  };
}
