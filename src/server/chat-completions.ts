/**
 * POST /v1/chat/completions: the chat template, sampling, structured output, tool calls, and
 * the response as one JSON body or as SSE chunks. The request is routed to the chat model its
 * `model` field names.
 */
import type { FinishReason, GeneratedToken } from '../engine/request.js';
import type { SamplingParams } from '../engine/sampling-params.js';
import type { ToolCallMessagePart } from '../io/chat-template.js';
import { encodeChatPrompt, templateMessages } from './chat-prompt.js';
import { ApiError } from './errors.js';
import { Generation, samplingParams } from './generation.js';
import { chatLogprobs } from './logprobs-format.js';
import { responseFormatConstraint } from './response-format.js';
import type { ChatCompletionRequest, FunctionTool } from './schemas.js';
import type { ChatModel } from './served-models.js';
import type { ServerState } from './server-state.js';
import { type SseWriter, sseResponse } from './sse.js';
import { forcedCallSchema, parseToolCalls, ToolCallStreamFilter } from './tools.js';

type ToolMode = 'none' | 'auto' | 'forced';
type ToolChoice = NonNullable<ChatCompletionRequest['tool_choice']>;

interface ToolPlan {
  readonly tools: FunctionTool[];
  readonly choice: ToolChoice;
  /** parallel_tool_calls: false allows at most one call per reply; the first one is kept. */
  readonly callLimit: number;
  readonly mode: ToolMode;
}

/** Everything the JSON and the streamed reply share. */
interface ChatReply {
  readonly state: ServerState;
  readonly model: ChatModel;
  /** The response's `model`: the name the request asked for when it named an adapter (as OpenAI echoes it), else the model's. */
  readonly modelId: string;
  readonly body: ChatCompletionRequest;
  readonly gen: Generation;
  readonly plan: ToolPlan;
  readonly id: string;
  readonly created: number;
}

export async function chatCompletion(
  state: ServerState,
  body: ChatCompletionRequest,
  signal: AbortSignal | undefined,
): Promise<Response> {
  const { model, adapter } = state.models.chatRoute(body.model);
  const plan = toolPlan(body);
  const prompt = await encodeChatPrompt(model, templateMessages(body.messages), plan.tools, {
    addGenerationPrompt: true,
    addSpecialTokens: false,
    bounded: true,
  });
  const params: Partial<SamplingParams> = {
    ...samplingParams(model, body, prompt.length, body.max_completion_tokens ?? body.max_tokens),
    logprobs: body.logprobs ?? false,
    topLogprobs: body.logprobs ? (body.top_logprobs ?? 0) : 0,
    ...(adapter !== undefined ? { adapter } : {}),
  };
  const constraint = await constraintFor(model, body, plan);
  if (constraint) params.constraint = constraint;
  const gen = await Generation.start(state, model, 'chat', [prompt], params, signal);
  const reply: ChatReply = {
    state,
    model,
    modelId: adapter !== undefined && body.model ? body.model : model.name,
    body,
    gen,
    plan,
    id: state.newId('chatcmpl'),
    created: Math.floor(Date.now() / 1000),
  };
  return body.stream ? streamedReply(reply, params.n ?? 1) : jsonReply(reply);
}

function toolPlan(body: ChatCompletionRequest): ToolPlan {
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
  return {
    tools,
    choice,
    callLimit: body.parallel_tool_calls === false ? 1 : Number.POSITIVE_INFINITY,
    mode: tools.length === 0 ? 'none' : choice === 'auto' ? 'auto' : 'forced',
  };
}

/** The grammar a forced tool call or a response_format asks for, if any. */
async function constraintFor(
  model: ChatModel,
  body: ChatCompletionRequest,
  plan: ToolPlan,
): Promise<SamplingParams['constraint'] | undefined> {
  const forced = forcedCallSchema(plan.tools, plan.choice);
  if (forced) return (await model.grammarService()).jsonSchema(forced, 'tools');
  return responseFormatConstraint(model, body);
}

const finishOf = (reason: FinishReason, calls: readonly ToolCallMessagePart[]) =>
  calls.length ? 'tool_calls' : reason;

async function jsonReply(r: ChatReply): Promise<Response> {
  const { gen, body, plan } = r;
  const makeCallId = () => r.state.newId('call');
  let completion = 0;
  try {
    for await (const ev of gen.events()) if (ev.event.type === 'delta') completion += ev.event.tokens.length;
    const interrupted = gen.interruption();
    if (interrupted) throw interrupted;
    const [result] = await gen.results();
    const choices = result!.choices.map((c) => {
      const reply =
        plan.mode === 'none' ? { content: c.text, toolCalls: [] } : parseToolCalls(c.text, plan.tools, makeCallId);
      reply.toolCalls = reply.toolCalls.slice(0, plan.callLimit);
      return {
        index: c.index,
        message: {
          role: 'assistant',
          content: reply.content,
          ...(reply.toolCalls.length ? { tool_calls: reply.toolCalls } : {}),
        },
        logprobs: body.logprobs ? { content: chatLogprobs(r.model.tokenizer, c.tokens) } : null,
        finish_reason: finishOf(c.finishReason, reply.toolCalls),
      };
    });
    return Response.json({
      id: r.id,
      object: 'chat.completion',
      created: r.created,
      model: r.modelId,
      choices,
      usage: usage(result!.promptTokens, result!.completionTokens, result!.cachedTokens),
    });
  } finally {
    gen.close(completion);
  }
}

/** Per-choice state of a streamed reply. */
interface StreamChoice {
  readonly filter: ToolCallStreamFilter;
  text: string;
  readonly tokens: GeneratedToken[];
}

function streamedReply(r: ChatReply, n: number): Response {
  const { gen, body, plan } = r;
  const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) => ({
    id: r.id,
    object: 'chat.completion.chunk',
    created: r.created,
    model: r.modelId,
    choices,
    ...extra,
  });
  const delta = (i: number, d: unknown, logprobs: unknown = null) =>
    chunk([{ index: i, delta: d, logprobs, finish_reason: null }]);
  return sseResponse(
    async (out) => {
      let completion = 0;
      try {
        const choices: StreamChoice[] = Array.from({ length: n }, () => ({
          filter: new ToolCallStreamFilter(),
          text: '',
          tokens: [],
        }));
        for (let i = 0; i < n; i++) out.send(delta(i, { role: 'assistant', content: '' }));
        for await (const { choice: i, event } of gen.events()) {
          const c = choices[i]!;
          if (event.type === 'delta') {
            completion += event.tokens.length;
            c.text += event.text;
            c.tokens.push(...event.tokens);
            const visible = plan.mode === 'forced' ? '' : plan.mode === 'auto' ? c.filter.push(event.text) : event.text;
            const logprobs = body.logprobs ? { content: chatLogprobs(r.model.tokenizer, event.tokens) } : null;
            if (visible || logprobs) out.send(delta(i, { content: visible }, logprobs));
            continue;
          }
          // A cut-short completion gets no finish chunk; the stream ends with an error below.
          if (event.reason === 'abort') continue;
          const calls = sendToolCalls(r, out, i, c, delta);
          out.send(chunk([{ index: i, delta: {}, logprobs: null, finish_reason: finishOf(event.reason, calls) }]));
        }
        const interrupted = gen.interruption();
        if (interrupted) return out.fail(interrupted.body());
        if (body.stream_options?.include_usage) {
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

/** At a choice's end: the text held back while a tool call might start, then the calls parsed from it. */
function sendToolCalls(
  r: ChatReply,
  out: SseWriter,
  i: number,
  c: StreamChoice,
  delta: (i: number, d: unknown) => unknown,
): ToolCallMessagePart[] {
  const { plan } = r;
  if (plan.mode === 'none') return [];
  const tail = plan.mode === 'auto' ? c.filter.flush() : '';
  if (tail) out.send(delta(i, { content: tail }));
  const calls = parseToolCalls(c.text, plan.tools, () => r.state.newId('call')).toolCalls.slice(0, plan.callLimit);
  if (plan.mode === 'forced' && calls.length === 0 && c.text) out.send(delta(i, { content: c.text }));
  if (calls.length) {
    const deltas = calls.map((call, k) => ({
      index: k,
      id: call.id,
      type: 'function',
      function: { name: call.function.name, arguments: call.function.arguments },
    }));
    out.send(delta(i, { tool_calls: deltas }));
  }
  return calls;
}

export function usage(prompt: number, completion: number, cached: number) {
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    prompt_tokens_details: { cached_tokens: cached },
  };
}
