/** POST /v1/completions: raw prompts (text or token ids, one or several), JSON or SSE. */
import type { SamplingParams } from '../engine/sampling-params.js';
import { usage } from './chat-completions.js';
import { ApiError } from './errors.js';
import { Generation, samplingParams } from './generation.js';
import { completionLogprobs } from './logprobs-format.js';
import type { CompletionRequest } from './schemas.js';
import type { ServerState } from './server-state.js';
import { sseResponse } from './sse.js';

export async function completion(
  state: ServerState,
  body: CompletionRequest,
  signal: AbortSignal | undefined,
): Promise<Response> {
  if (body.suffix) throw new ApiError(400, 'suffix is not supported', 'invalid_request_error', 'suffix');
  const n = body.n ?? 1;
  if (body.best_of != null && body.best_of !== n)
    throw new ApiError(400, 'best_of other than n is not supported', 'invalid_request_error', 'best_of');
  if (body.echo && body.logprobs != null)
    throw new ApiError(
      400,
      'echo with logprobs (prompt log-probabilities) is not supported',
      'invalid_request_error',
      'echo',
    );
  const tok = state.tokenizer;
  const raw = body.prompt;
  const texts = typeof raw === 'string' ? [raw] : typeof raw[0] === 'string' ? (raw as string[]) : null;
  // Every text is length-checked before any is tokenized.
  for (const t of texts ?? []) state.prompts.checkLength(t.length, 'prompt');
  const prompts: number[][] = [];
  if (texts) for (const t of texts) prompts.push(await state.prompts.encode(t, 'prompt', true));
  else prompts.push(...(typeof raw[0] === 'number' ? [raw as number[]] : (raw as number[][])));
  const vocab = state.engine.runner.vocabSize;
  for (const p of prompts) {
    if (p.some((t) => t < 0 || t >= vocab))
      throw new ApiError(400, `prompt token ids must be in [0, ${vocab})`, 'invalid_request_error', 'prompt');
  }
  const longest = Math.max(...prompts.map((p) => p.length));
  const params: Partial<SamplingParams> = {
    // OpenAI's default for this endpoint is 16 tokens.
    ...samplingParams(state, body, longest, body.max_tokens ?? 16),
    logprobs: body.logprobs != null,
    topLogprobs: body.logprobs ?? 0,
  };
  const echoText = prompts.map((p) => (body.echo ? tok.decode(p) : ''));

  const gen = await Generation.start(state, 'completions', prompts, params, signal);
  const id = state.newId('cmpl');
  const created = Math.floor(Date.now() / 1000);
  const promptOf = (choice: number) => Math.floor(choice / n);

  if (!body.stream) {
    let generated = 0;
    try {
      for await (const ev of gen.events()) if (ev.event.type === 'delta') generated += ev.event.tokens.length;
      const interrupted = gen.interruption();
      if (interrupted) throw interrupted;
      const results = await gen.results();
      const choices = results.flatMap((r, p) =>
        r.choices.map((c) => ({
          index: p * n + c.index,
          text: echoText[p] + c.text,
          logprobs: body.logprobs != null ? completionLogprobs(tok, c.tokens, echoText[p]!.length) : null,
          finish_reason: c.finishReason,
        })),
      );
      const cached = results.reduce((s, r) => s + r.cachedTokens, 0);
      return Response.json({
        id,
        object: 'text_completion',
        created,
        model: state.modelName,
        choices,
        usage: usage(gen.promptTokens, generated, cached),
      });
    } finally {
      gen.close(generated);
    }
  }

  const offsets = new Array(prompts.length * n).fill(0).map((_, c) => echoText[promptOf(c)]!.length);
  const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) => ({
    id,
    object: 'text_completion',
    created,
    model: state.modelName,
    choices,
    ...extra,
  });
  return sseResponse(
    async (out) => {
      let generated = 0;
      try {
        if (body.echo)
          prompts.forEach((_, p) => {
            for (let j = 0; j < n; j++)
              out.send(chunk([{ index: p * n + j, text: echoText[p], logprobs: null, finish_reason: null }]));
          });
        for await (const { choice, event } of gen.events()) {
          if (event.type === 'delta') {
            generated += event.tokens.length;
            const logprobs = body.logprobs != null ? completionLogprobs(tok, event.tokens, offsets[choice]) : null;
            offsets[choice] += event.text.length;
            if (event.text || logprobs)
              out.send(chunk([{ index: choice, text: event.text, logprobs, finish_reason: null }]));
          } else if (event.reason !== 'abort') {
            // a cut-short completion gets no finish chunk; the stream ends with an error below
            out.send(
              chunk([
                {
                  index: choice,
                  text: '',
                  logprobs: null,
                  finish_reason: event.reason,
                },
              ]),
            );
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
