/**
 * OpenAI validation the server used to skip, driven through the official SDK: logit_bias ids
 * outside the vocabulary, a tool message without tool_call_id, and parallel_tool_calls: false
 * (honoured: a reply naming two calls returns only the first).
 */
import type OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EngineRequest, RequestEvent, RequestResult } from '../../src/engine/request.js';
import { startTestServer, type TestServer } from './helpers.js';

const MODEL = 'tessera-toy';
let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(async () => {
  await s.close();
});

const tools: OpenAI.ChatCompletionTool[] = [
  { type: 'function', function: { name: 'get_time', parameters: { type: 'object', properties: {} } } },
  { type: 'function', function: { name: 'get_date', parameters: { type: 'object', properties: {} } } },
];
const TWO_CALLS =
  '<tool_call>{"name": "get_time", "arguments": {}}</tool_call>\n<tool_call>{"name": "get_date", "arguments": {}}</tool_call>';

/** Makes the engine answer the next requests with `text` (the toy model cannot be steered into tool calls). */
function replyWith(text: string): () => void {
  const original = s.engine.submit.bind(s.engine);
  s.engine.submit = async (prompt, _params, id = 'scripted') => {
    const events: RequestEvent[] = [
      { type: 'delta', index: 0, text, tokens: [{ id: 5 }] },
      { type: 'finish', index: 0, reason: 'stop' },
    ];
    const result: RequestResult = {
      id,
      choices: [{ index: 0, text, tokens: [{ id: 5 }], finishReason: 'stop' }],
      promptTokens: prompt.length,
      completionTokens: 1,
      cachedTokens: 0,
      arrivedAt: 0,
      firstTokenAt: 0,
      finishedAt: 0,
    };
    const request: EngineRequest = {
      id,
      promptTokens: prompt.length,
      result: Promise.resolve(result),
      admitted: true,
      abort: () => {},
      [Symbol.asyncIterator]: async function* () {
        yield* events;
      },
    };
    return request;
  };
  return () => {
    s.engine.submit = original;
  };
}

describe('validation gaps', () => {
  it('rejects logit_bias token ids outside the vocabulary', async () => {
    const vocab = s.engine.runner.vocabSize;
    const call = s.client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 2,
      logit_bias: { [String(vocab)]: 5 },
    });
    await expect(call).rejects.toMatchObject({ status: 400, param: 'logit_bias', type: 'invalid_request_error' });
    const ok = await s.client.completions.create({
      model: MODEL,
      prompt: 'hi',
      max_tokens: 2,
      logit_bias: { [String(vocab - 1)]: 5 },
    });
    expect(ok.choices).toHaveLength(1);
  });

  it('rejects a tool message without tool_call_id', async () => {
    const call = s.client.chat.completions.create({
      model: MODEL,
      messages: [
        { role: 'user', content: 'time?' },
        { role: 'tool', content: '12:00' } as unknown as OpenAI.ChatCompletionToolMessageParam,
      ],
      max_tokens: 2,
    });
    await expect(call).rejects.toMatchObject({ status: 400, param: 'messages.1.tool_call_id' });
  });

  it('honours parallel_tool_calls: false with at most one call, streamed or not', async () => {
    const restore = replyWith(TWO_CALLS);
    try {
      const ask = { model: MODEL, messages: [{ role: 'user' as const, content: 'both' }], tools, max_tokens: 50 };
      const both = await s.client.chat.completions.create(ask);
      expect(both.choices[0]!.message.tool_calls?.map((c) => c.type === 'function' && c.function.name)).toEqual([
        'get_time',
        'get_date',
      ]);
      const one = await s.client.chat.completions.create({ ...ask, parallel_tool_calls: false });
      expect(one.choices[0]!.message.tool_calls?.map((c) => c.type === 'function' && c.function.name)).toEqual([
        'get_time',
      ]);
      expect(one.choices[0]!.finish_reason).toBe('tool_calls');
      const stream = await s.client.chat.completions.create({ ...ask, parallel_tool_calls: false, stream: true });
      const names: string[] = [];
      for await (const c of stream) for (const t of c.choices[0]?.delta.tool_calls ?? []) names.push(t.function!.name!);
      expect(names).toEqual(['get_time']);
    } finally {
      restore();
    }
  });
});
