/** POST /v1/completions: raw prompts (text or token ids, one or several), JSON or SSE. */
import type { SamplingParams } from '../engine/sampling-params.js';
import { usage } from './chat-completions.js';
import { ApiError } from './errors.js';
import { Generation, samplingParams } from './generation.js';
import { completionLogprobs } from './logprobs-format.js';
import type { CompletionRequest } from './schemas.js';
import type { ChatModel } from './served-models.js';
import type { ServerState } from './server-state.js';
import { sseResponse } from './sse.js';

/** Everything the JSON and the streamed reply share. */
interface CompletionReply {
  readonly model: ChatModel;
  /** The response's `model`: the name the request asked for when it named an adapter, else the model's. */
  readonly modelId: string;
  readonly body: CompletionRequest;
  readonly gen: Generation;
  /** Completions per prompt. */
  readonly n: number;
  /** Per prompt: the prompt's text when echoed, else ''. */
  readonly echoText: readonly string[];
  readonly id: string;
  readonly created: number;
}

export async function completion(
  state: ServerState,
  body: CompletionRequest,
  signal: AbortSignal | undefined,
): Promise<Response> {
  const { model, adapter } = state.models.chatRoute(body.model);
  checkUnsupported(body);
  const prompts = await promptTokens(model, body.prompt);
  const longest = Math.max(...prompts.map((p) => p.length));
  const params: Partial<SamplingParams> = {
    // OpenAI's default for this endpoint is 16 tokens.
    ...samplingParams(model, body, longest, body.max_tokens ?? 16),
    logprobs: body.logprobs != null,
    topLogprobs: body.logprobs ?? 0,
    ...(adapter !== undefined ? { adapter } : {}),
  };
  const echoText = prompts.map((p) => (body.echo ? model.tokenizer.decode(p) : ''));
  const gen = await Generation.start(state, model, 'completions', prompts, params, signal);
  const reply: CompletionReply = {
    model,
    modelId: adapter !== undefined && body.model ? body.model : model.name,
    body,
    gen,
    n: body.n ?? 1,
    echoText,
    id: state.newId('cmpl'),
    created: Math.floor(Date.now() / 1000),
  };
  return body.stream ? streamedReply(reply) : jsonReply(reply);
}

function checkUnsupported(body: CompletionRequest): void {
  if (body.suffix) throw new ApiError(400, 'suffix is not supported', 'invalid_request_error', 'suffix');
  if (body.best_of != null && body.best_of !== (body.n ?? 1))
    throw new ApiError(400, 'best_of other than n is not supported', 'invalid_request_error', 'best_of');
  if (body.echo && body.logprobs != null)
    throw new ApiError(
      400,
      'echo with logprobs (prompt log-probabilities) is not supported',
      'invalid_request_error',
      'echo',
    );
}

/** The prompts as token ids; every text is length-checked before any is tokenized. */
async function promptTokens(model: ChatModel, raw: CompletionRequest['prompt']): Promise<number[][]> {
  const texts = typeof raw === 'string' ? [raw] : typeof raw[0] === 'string' ? (raw as string[]) : null;
  for (const t of texts ?? []) model.prompts.checkLength(t.length, 'prompt');
  const prompts: number[][] = [];
  if (texts) for (const t of texts) prompts.push(await model.prompts.encode(t, 'prompt', true));
  else prompts.push(...(typeof raw[0] === 'number' ? [raw as number[]] : (raw as number[][])));
  const vocab = model.engine.runner.vocabSize;
  for (const p of prompts) {
    if (p.some((t) => t < 0 || t >= vocab))
      throw new ApiError(400, `prompt token ids must be in [0, ${vocab})`, 'invalid_request_error', 'prompt');
  }
  return prompts;
}

async function jsonReply(r: CompletionReply): Promise<Response> {
  const { gen, body, n, echoText } = r;
  let generated = 0;
  try {
    for await (const ev of gen.events()) if (ev.event.type === 'delta') generated += ev.event.tokens.length;
    const interrupted = gen.interruption();
    if (interrupted) throw interrupted;
    const results = await gen.results();
    const choices = results.flatMap((res, p) =>
      res.choices.map((c) => ({
        index: p * n + c.index,
        text: echoText[p] + c.text,
        logprobs: body.logprobs != null ? completionLogprobs(r.model.tokenizer, c.tokens, echoText[p]!.length) : null,
        finish_reason: c.finishReason,
      })),
    );
    const cached = results.reduce((s, res) => s + res.cachedTokens, 0);
    return Response.json({
      id: r.id,
      object: 'text_completion',
      created: r.created,
      model: r.modelId,
      choices,
      usage: usage(gen.promptTokens, generated, cached),
    });
  } finally {
    gen.close(generated);
  }
}

function streamedReply(r: CompletionReply): Response {
  const { gen, body, n, echoText } = r;
  const offsets = new Array(echoText.length * n).fill(0).map((_, c) => echoText[Math.floor(c / n)]!.length);
  const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) => ({
    id: r.id,
    object: 'text_completion',
    created: r.created,
    model: r.modelId,
    choices,
    ...extra,
  });
  const text = (index: number, t: string, logprobs: unknown, finish: string | null) =>
    chunk([{ index, text: t, logprobs, finish_reason: finish }]);
  return sseResponse(
    async (out) => {
      let generated = 0;
      try {
        if (body.echo)
          echoText.forEach((t, p) => {
            for (let j = 0; j < n; j++) out.send(text(p * n + j, t, null, null));
          });
        for await (const { choice, event } of gen.events()) {
          if (event.type === 'delta') {
            generated += event.tokens.length;
            const logprobs =
              body.logprobs != null ? completionLogprobs(r.model.tokenizer, event.tokens, offsets[choice]) : null;
            offsets[choice] += event.text.length;
            if (event.text || logprobs) out.send(text(choice, event.text, logprobs, null));
          } else if (event.reason !== 'abort') {
            // a cut-short completion gets no finish chunk; the stream ends with an error below
            out.send(text(choice, '', null, event.reason));
          }
        }
        const interrupted = gen.interruption();
        if (interrupted) return out.fail(interrupted.body());
        if (body.stream_options?.include_usage) out.send(chunk([], { usage: usage(gen.promptTokens, generated, 0) }));
        out.done();
      } finally {
        gen.close(generated);
      }
    },
    () => gen.cancel('aborted'),
  );
}
