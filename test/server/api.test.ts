import { Ajv } from 'ajv';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers.js';

const MODEL = 'tessera-toy';
let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(async () => {
  await s.close();
});

const user = (content: string) => [{ role: 'user' as const, content }];

async function rawPost(path: string, body: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${s.url}${path}`, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json', ...headers },
  });
  return {
    status: res.status,
    headers: res.headers,
    json: (await res.json()) as { error: { message: string; type: string; param: string | null; code: string | null } },
  };
}

async function expectApiError(
  p: Promise<unknown>,
  status: number,
  match: Partial<{ code: string; param: string; type: string }> = {},
) {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(OpenAI.APIError);
  const err = e as InstanceType<typeof OpenAI.APIError>;
  expect(err.status).toBe(status);
  const body = err.error as Record<string, unknown>;
  for (const [k, v] of Object.entries(match)) expect(body[k]).toBe(v);
  expect(typeof body.message).toBe('string');
  return err;
}

describe('models, health, metrics, page', () => {
  it('lists and retrieves the model; unknown models are 404', async () => {
    const list = await s.client.models.list();
    expect(list.data.map((m) => m.id)).toEqual([MODEL]);
    expect((await s.client.models.retrieve(MODEL)).id).toBe(MODEL);
    await expectApiError(s.client.models.retrieve('gpt-4'), 404, { code: 'model_not_found' });
  });

  it('serves /health, /metrics (after traffic) and the chat page', async () => {
    await s.client.chat.completions.create({ model: MODEL, messages: user('metrics please'), max_tokens: 5 });
    const health = await (await fetch(`${s.url}/health`)).json();
    expect(health).toMatchObject({ status: 'ok', model: MODEL, pagesTotal: 512 });
    const metrics = await (await fetch(`${s.url}/metrics`)).text();
    for (const name of [
      'tessera_requests_waiting',
      'tessera_time_to_first_token_seconds_count',
      'tessera_inter_token_latency_seconds_bucket',
      'tessera_kv_usage_ratio',
      'tessera_generation_tokens_per_second',
      'tessera_prefix_cache_hit_rate',
    ]) {
      expect(metrics).toContain(name);
    }
    expect(Number(/tessera_generation_tokens_total (\d+)/.exec(metrics)![1])).toBeGreaterThanOrEqual(5);
    const page = await fetch(`${s.url}/`);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(await page.text()).toContain('/v1/chat/completions');
  });
});

describe('chat and text completions', () => {
  it('streaming and non-streaming chat return the same greedy text and honest usage', async () => {
    const req = { model: MODEL, messages: user('Tell me a story'), max_tokens: 20, temperature: 0 };
    const full = await s.client.chat.completions.create(req);
    expect(full.object).toBe('chat.completion');
    expect(full.choices[0]!.finish_reason).toBe('length');
    expect(full.usage).toMatchObject({ completion_tokens: 20, total_tokens: full.usage!.prompt_tokens + 20 });
    const stream = await s.client.chat.completions.create({
      ...req,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let finish: string | null = null;
    let usage: unknown = null;
    let first = true;
    for await (const chunk of stream) {
      if (first) expect(chunk.choices[0]!.delta.role).toBe('assistant');
      first = false;
      if (chunk.usage) usage = chunk.usage;
      for (const c of chunk.choices) {
        text += c.delta.content ?? '';
        finish = c.finish_reason ?? finish;
      }
    }
    expect(text).toBe(full.choices[0]!.message.content);
    expect(finish).toBe('length');
    expect(usage).toMatchObject({ prompt_tokens: full.usage!.prompt_tokens, completion_tokens: 20 });
  });

  it('completions: text, token-id and batched prompts, echo, streaming', async () => {
    const prompt = 'The weather today is';
    const one = await s.client.completions.create({ model: MODEL, prompt, max_tokens: 12, temperature: 0 });
    expect(one.choices[0]!.finish_reason).toBe('length');
    const ids = s.model.tokenizer.encode(prompt);
    const byIds = await s.client.completions.create({ model: MODEL, prompt: ids, max_tokens: 12, temperature: 0 });
    expect(byIds.choices[0]!.text).toBe(one.choices[0]!.text);
    const batch = await s.client.completions.create({
      model: MODEL,
      prompt: ['Other prompt', prompt],
      max_tokens: 12,
      temperature: 0,
      n: 2,
    });
    expect(batch.choices.map((c) => c.index)).toEqual([0, 1, 2, 3]);
    expect(batch.choices[2]!.text).toBe(one.choices[0]!.text);
    expect(batch.choices[3]!.text).toBe(one.choices[0]!.text); // greedy: both completions agree
    const echoed = await s.client.completions.create({
      model: MODEL,
      prompt,
      max_tokens: 12,
      temperature: 0,
      echo: true,
    });
    expect(echoed.choices[0]!.text).toBe(prompt + one.choices[0]!.text);
    const stream = await s.client.completions.create({
      model: MODEL,
      prompt,
      max_tokens: 12,
      temperature: 0,
      stream: true,
    });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.text ?? '';
    expect(text).toBe(one.choices[0]!.text);
    // OpenAI's default for /v1/completions is 16 tokens.
    expect((await s.client.completions.create({ model: MODEL, prompt })).usage!.completion_tokens).toBe(16);
  });

  it('n > 1: distinct seeded completions, the same streamed and not', async () => {
    const req = { model: MODEL, messages: user('Give me three ideas'), max_tokens: 15, temperature: 1, seed: 5, n: 3 };
    const full = await s.client.chat.completions.create(req);
    expect(full.choices.map((c) => c.index)).toEqual([0, 1, 2]);
    expect(new Set(full.choices.map((c) => c.message.content)).size).toBe(3);
    expect(full.usage!.completion_tokens).toBe(45);
    const texts = ['', '', ''];
    for await (const chunk of await s.client.chat.completions.create({ ...req, stream: true })) {
      for (const c of chunk.choices) texts[c.index] += c.delta.content ?? '';
    }
    expect(texts).toEqual(full.choices.map((c) => c.message.content));
  });

  it('stop sequences cut the output before the stop text, streamed or not', async () => {
    const req = { model: MODEL, messages: user('Keep talking'), max_tokens: 30, temperature: 0 };
    const text = (await s.client.chat.completions.create(req)).choices[0]!.message.content!;
    const stop = text.slice(12, 15);
    const expected = text.slice(0, text.indexOf(stop));
    const cut = await s.client.chat.completions.create({ ...req, stop: [stop] });
    expect(cut.choices[0]!.message.content).toBe(expected);
    expect(cut.choices[0]!.finish_reason).toBe('stop');
    let streamed = '';
    for await (const chunk of await s.client.chat.completions.create({ ...req, stop, stream: true }))
      streamed += chunk.choices[0]?.delta.content ?? '';
    expect(streamed).toBe(expected);
  });

  it('logprobs: chosen token and top alternatives, in chat and completions shapes', async () => {
    const r = await s.client.chat.completions.create({
      model: MODEL,
      messages: user('Probabilities'),
      max_tokens: 8,
      temperature: 0,
      logprobs: true,
      top_logprobs: 3,
    });
    const content = r.choices[0]!.logprobs!.content!;
    expect(content).toHaveLength(8);
    expect(content.map((t) => t.token).join('')).toBe(r.choices[0]!.message.content);
    for (const t of content) {
      expect(t.logprob).toBeLessThanOrEqual(0);
      expect(t.top_logprobs).toHaveLength(3);
      // Greedy without penalties: the chosen token is the most likely one.
      expect(t.top_logprobs[0]!.token).toBe(t.token);
      expect(t.top_logprobs[0]!.logprob).toBeCloseTo(t.logprob, 5);
      expect(t.top_logprobs[1]!.logprob).toBeLessThanOrEqual(t.top_logprobs[0]!.logprob);
    }
    const c = await s.client.completions.create({
      model: MODEL,
      prompt: 'Probabilities',
      max_tokens: 6,
      temperature: 0,
      logprobs: 2,
    });
    const lp = c.choices[0]!.logprobs!;
    expect(lp.tokens).toHaveLength(6);
    expect(lp.token_logprobs!.every((x) => x <= 0)).toBe(true);
    expect(lp.top_logprobs!.every((m) => Object.keys(m).length <= 2)).toBe(true);
    expect(lp.text_offset![0]).toBe(0);
  });
});

describe('structured output and tools', () => {
  const schema = {
    type: 'object',
    properties: {
      name: { type: 'string', maxLength: 8 },
      mood: { enum: ['happy', 'sad', 'calm'] },
      ok: { type: 'boolean' },
      tags: { type: 'array', items: { type: 'string', maxLength: 4 }, maxItems: 2 },
    },
    required: ['name', 'mood', 'ok', 'tags'],
    additionalProperties: false,
  };

  it('json_schema output parses and validates against its schema, streamed or not', async () => {
    const validate = new Ajv().compile(schema);
    for (const seed of [1, 2, 3]) {
      const r = await s.client.chat.completions.create({
        model: MODEL,
        messages: user('Describe a person as JSON'),
        max_tokens: 120,
        temperature: 1,
        seed,
        response_format: { type: 'json_schema', json_schema: { name: 'person', schema } },
      });
      expect(r.choices[0]!.finish_reason).toBe('stop');
      const value = JSON.parse(r.choices[0]!.message.content!);
      expect(validate(value), JSON.stringify(validate.errors)).toBe(true);
    }
    let streamed = '';
    for await (const chunk of await s.client.chat.completions.create({
      model: MODEL,
      messages: user('JSON again'),
      max_tokens: 120,
      temperature: 0,
      stream: true,
      response_format: { type: 'json_schema', json_schema: { name: 'person', schema } },
    }))
      streamed += chunk.choices[0]?.delta.content ?? '';
    expect(validate(JSON.parse(streamed))).toBe(true);
  });

  it('json_object output is a JSON object', async () => {
    // Bias toward closing so a random model ends its object within the budget.
    const close = s.model.tokenizer.encode('}', { addSpecialTokens: false })[0]!;
    const r = await s.client.chat.completions.create({
      model: MODEL,
      messages: user('Any JSON object'),
      max_tokens: 60,
      temperature: 0,
      logit_bias: { [close]: 20 },
      response_format: { type: 'json_object' },
    });
    const value = JSON.parse(r.choices[0]!.message.content!);
    expect(typeof value === 'object' && value !== null && !Array.isArray(value)).toBe(true);
  });

  const weather = {
    type: 'function' as const,
    function: {
      name: 'get_weather',
      description: 'Weather for a city',
      parameters: {
        type: 'object',
        properties: { city: { type: 'string', maxLength: 10 }, unit: { enum: ['C', 'F'] } },
        required: ['city', 'unit'],
        additionalProperties: false,
      },
    },
  };
  const clock = {
    type: 'function' as const,
    function: {
      name: 'get_time',
      parameters: {
        type: 'object',
        properties: { zone: { enum: ['UTC', 'CET'] } },
        required: ['zone'],
        additionalProperties: false,
      },
    },
  };

  it('forced tool calls come back as tool_calls with arguments matching the function schema', async () => {
    const validate = new Ajv().compile(weather.function.parameters);
    const named = await s.client.chat.completions.create({
      model: MODEL,
      messages: user('Weather in Paris?'),
      max_tokens: 80,
      temperature: 0.7,
      seed: 3,
      tools: [weather, clock],
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
    });
    const choice = named.choices[0]!;
    expect(choice.finish_reason).toBe('tool_calls');
    expect(choice.message.content).toBeNull();
    const call = choice.message.tool_calls![0]!;
    expect(call.type).toBe('function');
    if (call.type !== 'function') throw new Error('unreachable');
    expect(call.function.name).toBe('get_weather');
    expect(validate(JSON.parse(call.function.arguments))).toBe(true);
    expect(call.id).toMatch(/^call-/);

    // "required" with streaming: one of the tools, delivered as a tool_calls delta.
    let name = '';
    let args = '';
    let finish = '';
    for await (const chunk of await s.client.chat.completions.create({
      model: MODEL,
      messages: user('Time or weather?'),
      max_tokens: 80,
      temperature: 0,
      tools: [weather, clock],
      tool_choice: 'required',
      stream: true,
    })) {
      for (const tc of chunk.choices[0]?.delta.tool_calls ?? []) {
        name += tc.function?.name ?? '';
        args += tc.function?.arguments ?? '';
      }
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(['get_weather', 'get_time']).toContain(name);
    expect(finish).toBe('tool_calls');
    expect(typeof JSON.parse(args)).toBe('object');
  });

  it('tool turns in the history render through the template (auto mode answers in text)', async () => {
    const r = await s.client.chat.completions.create({
      model: MODEL,
      max_tokens: 10,
      temperature: 0,
      tools: [weather],
      messages: [
        { role: 'user', content: 'Weather in Oslo?' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            {
              id: 'call-1',
              type: 'function',
              function: { name: 'get_weather', arguments: '{"city":"Oslo","unit":"C"}' },
            },
          ],
        },
        { role: 'tool', tool_call_id: 'call-1', content: '{"temp": -3}' },
      ],
    });
    expect(r.choices[0]!.finish_reason).toBe('length');
    expect(typeof r.choices[0]!.message.content).toBe('string');
  });
});

describe('bad requests', () => {
  it('malformed JSON, unknown model, bad values, unknown tool: OpenAI-style 400/404 bodies', async () => {
    const bad = await rawPost('/v1/chat/completions', '{"model": "tessera-toy", "messages": [');
    expect(bad.status).toBe(400);
    expect(bad.json.error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_json' });
    await expectApiError(s.client.chat.completions.create({ model: 'gpt-4o', messages: user('hi') }), 404, {
      code: 'model_not_found',
      param: 'model',
    });
    await expectApiError(
      s.client.chat.completions.create({ model: MODEL, messages: user('hi'), max_tokens: -5 }),
      400,
      { param: 'max_tokens', type: 'invalid_request_error' },
    );
    await expectApiError(s.client.completions.create({ model: MODEL, prompt: 'hi', max_tokens: 0 }), 400, {
      param: 'max_tokens',
    });
    await expectApiError(s.client.chat.completions.create({ model: MODEL, messages: [] }), 400, { param: 'messages' });
    await expectApiError(
      s.client.chat.completions.create({ model: MODEL, messages: user('hi'), temperature: 7 }),
      400,
      { param: 'temperature' },
    );
    await expectApiError(s.client.completions.create({ model: MODEL, prompt: [99999] }), 400, { param: 'prompt' });
    await expectApiError(
      s.client.chat.completions.create({
        model: MODEL,
        messages: user('hi'),
        tools: [{ type: 'function', function: { name: 'a' } }],
        tool_choice: { type: 'function', function: { name: 'b' } },
      }),
      400,
      { param: 'tool_choice' },
    );
  });

  it('context overflow is an explicit 400, never truncation', async () => {
    const long = 'word '.repeat(400); // > 1024 tokens of context
    await expectApiError(s.client.chat.completions.create({ model: MODEL, messages: user(long) }), 400, {
      code: 'context_length_exceeded',
    });
    await expectApiError(s.client.completions.create({ model: MODEL, prompt: 'short', max_tokens: 5000 }), 400, {
      code: 'context_length_exceeded',
    });
  });

  it('an invalid JSON schema is a 400 naming the schema', async () => {
    await expectApiError(
      s.client.chat.completions.create({
        model: MODEL,
        messages: user('hi'),
        response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'objekt' } } },
      }),
      400,
      { code: 'invalid_json_schema', param: 'response_format.json_schema.schema' },
    );
    await expectApiError(
      s.client.chat.completions.create({
        model: MODEL,
        messages: user('hi'),
        response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'object', properties: 5 } } },
      }),
      400,
      { code: 'invalid_json_schema' },
    );
    // The grammar engine survives bad schemas: a good one still works afterwards.
    const ok = await s.client.chat.completions.create({
      model: MODEL,
      messages: user('hi'),
      max_tokens: 30,
      response_format: {
        type: 'json_schema',
        json_schema: { name: 'x', schema: { type: 'object', properties: { a: { type: 'boolean' } }, required: ['a'] } },
      },
    });
    expect(typeof JSON.parse(ok.choices[0]!.message.content!).a).toBe('boolean');
  });
});
