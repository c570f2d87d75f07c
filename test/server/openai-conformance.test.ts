/**
 * Every endpoint driven through the official `openai` SDK, for what test/server/api.test.ts does
 * not already check: streaming equal to non-streaming on both completion endpoints (greedy, and
 * seeded at temperature > 0), with n > 1, logprobs, stop strings, forced tool calls and
 * json_schema output; the model objects; /tokenize and /detokenize through the SDK's raw `post`;
 * and the SDK's typed errors for the common 4xx answers (400, 401, 404, 413, 429).
 * The oracle is always the server's other path (the non-streamed answer) or the tokenizer.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers.js';

const MODEL = 'tessera-toy';
const SEED = 1234;
let s: TestServer;
beforeAll(async () => {
  console.log(`[conformance] seed ${SEED}`);
  s = await startTestServer();
});
afterAll(async () => {
  await s.close();
});

type ChatParams = OpenAI.ChatCompletionCreateParamsNonStreaming;
type TextParams = OpenAI.CompletionCreateParamsNonStreaming;

interface ChatChoice {
  content: string | null;
  finish: string | null;
  tokens: string[];
  logprobs: number[];
  calls: { name: string; arguments: string }[];
}

/** The same chat request, non-streamed and streamed, each reduced to per-choice results. */
async function chatBothWays(req: ChatParams) {
  const full = await s.client.chat.completions.create(req);
  const whole: ChatChoice[] = full.choices.map((c) => ({
    content: c.message.content,
    finish: c.finish_reason,
    tokens: c.logprobs?.content?.map((t) => t.token) ?? [],
    logprobs: c.logprobs?.content?.map((t) => t.logprob) ?? [],
    calls: (c.message.tool_calls ?? []).map((t) =>
      t.type === 'function' ? { name: t.function.name, arguments: t.function.arguments } : { name: '', arguments: '' },
    ),
  }));
  const streamed: ChatChoice[] = full.choices.map(() => ({
    content: null,
    finish: null,
    tokens: [],
    logprobs: [],
    calls: [],
  }));
  let usage: OpenAI.CompletionUsage | null = null;
  const stream = await s.client.chat.completions.create({
    ...req,
    stream: true,
    stream_options: { include_usage: true },
  });
  for await (const chunk of stream) {
    expect(chunk.object).toBe('chat.completion.chunk');
    expect(chunk.model).toBe(MODEL);
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      const out = streamed[c.index]!;
      if (c.delta.content != null) out.content = (out.content ?? '') + c.delta.content;
      for (const t of c.logprobs?.content ?? []) {
        out.tokens.push(t.token);
        out.logprobs.push(t.logprob);
      }
      for (const t of c.delta.tool_calls ?? []) {
        out.calls[t.index] ??= { name: '', arguments: '' };
        out.calls[t.index]!.name += t.function?.name ?? '';
        out.calls[t.index]!.arguments += t.function?.arguments ?? '';
      }
      out.finish = c.finish_reason ?? out.finish;
    }
  }
  // A streamed reply with only tool calls opens with empty content; non-streamed content is then null.
  for (const [i, c] of streamed.entries()) if (c.content === '' && whole[i]!.content === null) c.content = null;
  // Token counts agree; cached_tokens may not (the first request fills the prefix cache).
  expect(usage).toMatchObject({
    prompt_tokens: full.usage!.prompt_tokens,
    completion_tokens: full.usage!.completion_tokens,
    total_tokens: full.usage!.total_tokens,
  });
  return { full, whole, streamed };
}

/** The same text completion request, non-streamed and streamed, reduced per choice. */
async function textBothWays(req: TextParams) {
  const full = await s.client.completions.create(req);
  const whole = full.choices.map((c) => ({ text: c.text, finish: c.finish_reason, logprobs: c.logprobs ?? null }));
  const streamed = full.choices.map(() => ({
    text: '',
    finish: null as string | null,
    logprobs: req.logprobs != null ? { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] } : null,
  })) as typeof whole;
  let usage: OpenAI.CompletionUsage | null = null;
  for await (const chunk of await s.client.completions.create({
    ...req,
    stream: true,
    stream_options: { include_usage: true },
  })) {
    expect(chunk.object).toBe('text_completion');
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      const out = streamed[c.index]!;
      out.text += c.text;
      out.finish = c.finish_reason ?? out.finish;
      if (c.logprobs && out.logprobs) {
        out.logprobs.tokens!.push(...(c.logprobs.tokens ?? []));
        out.logprobs.token_logprobs!.push(...(c.logprobs.token_logprobs ?? []));
        out.logprobs.top_logprobs!.push(...(c.logprobs.top_logprobs ?? []));
        out.logprobs.text_offset!.push(...(c.logprobs.text_offset ?? []));
      }
    }
  }
  expect(usage?.completion_tokens).toBe(full.usage!.completion_tokens);
  expect(usage?.prompt_tokens).toBe(full.usage!.prompt_tokens);
  return { full, whole, streamed };
}

const user = (content: string) => [{ role: 'user' as const, content }];

describe('models', () => {
  it('list (iterated as the SDK pages it) and retrieve give the same OpenAI model object', async () => {
    const ids: OpenAI.Model[] = [];
    for await (const m of s.client.models.list()) ids.push(m);
    expect(ids).toHaveLength(1);
    const one = await s.client.models.retrieve(MODEL);
    expect(one).toEqual(ids[0]);
    expect(one).toMatchObject({ id: MODEL, object: 'model', owned_by: 'tessera' });
    expect(Number.isInteger(one.created)).toBe(true);
  });
});

describe('chat completions: streamed equals non-streamed', () => {
  it('greedy, with logprobs', async () => {
    const { whole, streamed, full } = await chatBothWays({
      model: MODEL,
      messages: user('Stream me'),
      max_tokens: 16,
      temperature: 0,
      logprobs: true,
      top_logprobs: 2,
    });
    expect(full.object).toBe('chat.completion');
    expect(whole[0]!.tokens).toHaveLength(16);
    expect(streamed).toEqual(whole);
  });

  it('seeded at temperature 1 with n = 3 and penalties', async () => {
    const { whole, streamed } = await chatBothWays({
      model: MODEL,
      messages: user('Three different answers'),
      max_tokens: 12,
      temperature: 1,
      top_p: 0.9,
      presence_penalty: 0.5,
      seed: SEED,
      n: 3,
    });
    expect(new Set(whole.map((c) => c.content)).size).toBeGreaterThan(1);
    expect(streamed).toEqual(whole);
  });

  it('stop strings', async () => {
    const base = { model: MODEL, messages: user('Until the stop'), max_tokens: 24, temperature: 0 };
    const text = (await s.client.chat.completions.create(base)).choices[0]!.message.content!;
    const stop = text.slice(8, 10);
    const { whole, streamed } = await chatBothWays({ ...base, stop: [stop, 'never-there'] });
    expect(whole[0]).toMatchObject({ content: text.slice(0, text.indexOf(stop)), finish: 'stop' });
    expect(streamed).toEqual(whole);
  });

  it('forced tool calls', async () => {
    const tool: OpenAI.ChatCompletionTool = {
      type: 'function',
      function: {
        name: 'lookup',
        parameters: {
          type: 'object',
          properties: { q: { type: 'string', maxLength: 6 }, n: { enum: [1, 2, 3] } },
          required: ['q', 'n'],
          additionalProperties: false,
        },
      },
    };
    const { whole, streamed } = await chatBothWays({
      model: MODEL,
      messages: user('Look it up'),
      max_tokens: 60,
      temperature: 0.8,
      seed: SEED,
      tools: [tool],
      tool_choice: 'required',
    });
    expect(whole[0]!.finish).toBe('tool_calls');
    expect(whole[0]!.calls[0]!.name).toBe('lookup');
    expect(Object.keys(JSON.parse(whole[0]!.calls[0]!.arguments)).sort()).toEqual(['n', 'q']);
    expect(streamed).toEqual(whole);
  });

  it('response_format json_schema', async () => {
    const schema = {
      type: 'object',
      properties: { word: { type: 'string', maxLength: 6 }, yes: { type: 'boolean' } },
      required: ['word', 'yes'],
      additionalProperties: false,
    };
    const { whole, streamed } = await chatBothWays({
      model: MODEL,
      messages: user('JSON please'),
      max_tokens: 60,
      temperature: 0.7,
      seed: SEED,
      response_format: { type: 'json_schema', json_schema: { name: 'w', schema, strict: true } },
    });
    expect(Object.keys(JSON.parse(whole[0]!.content!)).sort()).toEqual(['word', 'yes']);
    expect(streamed).toEqual(whole);
  });
});

describe('text completions: streamed equals non-streamed', () => {
  it('greedy with logprobs, and echo', async () => {
    const { whole, streamed } = await textBothWays({
      model: MODEL,
      prompt: 'Once upon',
      max_tokens: 10,
      temperature: 0,
      logprobs: 2,
    });
    expect(whole[0]!.logprobs!.tokens).toHaveLength(10);
    expect(streamed).toEqual(whole);
    const echo = await textBothWays({ model: MODEL, prompt: 'Echo me', max_tokens: 6, temperature: 0, echo: true });
    expect(echo.whole[0]!.text.startsWith('Echo me')).toBe(true);
    expect(echo.streamed).toEqual(echo.whole);
  });

  it('seeded at temperature 0.9, two prompts × n = 2, with a stop string', async () => {
    const { whole, streamed } = await textBothWays({
      model: MODEL,
      prompt: ['First prompt', 'Second prompt'],
      max_tokens: 14,
      temperature: 0.9,
      seed: SEED,
      n: 2,
      stop: ['zz'],
    });
    expect(whole).toHaveLength(4);
    expect(streamed).toEqual(whole);
  });
});

describe('tokenize and detokenize through the SDK', () => {
  it('round-trips, and counts what a completion counts', async () => {
    const root = new OpenAI({ baseURL: s.url, apiKey: 'unused', maxRetries: 0 });
    const prompt = 'Count these tokens';
    const t = await root.post<{ tokens: number[]; count: number; max_model_len: number }>('/tokenize', {
      body: { model: MODEL, prompt },
    });
    const c = await s.client.completions.create({ model: MODEL, prompt, max_tokens: 1 });
    expect(t.count).toBe(c.usage!.prompt_tokens);
    expect(t.max_model_len).toBe(s.model.runner.maxContext);
    const d = await root.post<{ prompt: string }>('/detokenize', { body: { model: MODEL, tokens: t.tokens } });
    // Special tokens are kept, as vLLM's /detokenize keeps them.
    expect(d.prompt).toBe(s.model.tokenizer.decode(t.tokens, { skipSpecialTokens: false }));
    expect(d.prompt.endsWith(prompt)).toBe(true);
    await expect(root.post('/detokenize', { body: { tokens: [s.model.runner.vocabSize] } })).rejects.toBeInstanceOf(
      OpenAI.BadRequestError,
    );
  });
});

describe('error shapes through the SDK’s typed errors', () => {
  const shapeOf = async (p: Promise<unknown>) => {
    const e = (await p.then(
      () => null,
      (err: unknown) => err,
    )) as InstanceType<typeof OpenAI.APIError>;
    expect(e).toBeInstanceOf(OpenAI.APIError);
    const body = e.error as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(['code', 'message', 'param', 'type']);
    return { e, body };
  };

  it('400 BadRequestError, 404 NotFoundError (unknown model and unknown route)', async () => {
    const bad = await shapeOf(s.client.chat.completions.create({ model: MODEL, messages: user('x'), n: 99 }));
    expect(bad.e).toBeInstanceOf(OpenAI.BadRequestError);
    expect(bad.body).toMatchObject({ type: 'invalid_request_error', param: 'n' });
    const model = await shapeOf(s.client.completions.create({ model: 'nope', prompt: 'x' }));
    expect(model.e).toBeInstanceOf(OpenAI.NotFoundError);
    expect(model.body.code).toBe('model_not_found');
    // a chat model asked for embeddings is not an embedding model of this server
    const kind = await shapeOf(s.client.embeddings.create({ model: MODEL, input: 'x' }));
    expect(kind.e).toBeInstanceOf(OpenAI.NotFoundError);
    expect(kind.body).toMatchObject({ code: 'model_not_found', param: 'model' });
    const route = await shapeOf(s.client.moderations.create({ input: 'x' }));
    expect(route.e).toBeInstanceOf(OpenAI.NotFoundError);
    expect(route.body.code).toBe('not_found');
  });

  it('401 AuthenticationError, 413 for a body beyond the limit, 429 RateLimitError with Retry-After', async () => {
    const strict = await startTestServer({
      server: { apiKey: 'k', maxBodyBytes: 2048, maxConcurrentRequests: 0, maxQueuedRequests: 0 },
    });
    try {
      const wrongKey = new OpenAI({ baseURL: `${strict.url}/v1`, apiKey: 'wrong', maxRetries: 0 });
      const auth = await shapeOf(wrongKey.models.list());
      expect(auth.e).toBeInstanceOf(OpenAI.AuthenticationError);
      const big = await shapeOf(strict.client.completions.create({ model: MODEL, prompt: 'x'.repeat(4096) }));
      expect(big.e.status).toBe(413);
      expect(big.body.code).toBe('request_too_large');
      const full = await shapeOf(strict.client.completions.create({ model: MODEL, prompt: 'x', max_tokens: 1 }));
      expect(full.e).toBeInstanceOf(OpenAI.RateLimitError);
      expect(full.e.headers?.get('retry-after')).toBe('1');
      expect(full.body).toMatchObject({ type: 'rate_limit_error', code: 'queue_full' });
    } finally {
      await strict.close();
    }
  });
});
