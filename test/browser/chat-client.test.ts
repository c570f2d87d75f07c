/**
 * `chatClient(model)`: the OpenAI-style client on the calling thread (no worker, no HTTP), in Node
 * on the CPU backend, the built-in model. A greedy reply equals the engine's own greedy text for
 * the template-rendered prompt; the streamed chunks add up to it; a json_schema request returns
 * JSON satisfying the schema; a field the in-page engine does not serve is a typed 400. The
 * worker-hosted engine runs the same request handling in Chromium (worker-engine.test.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CpuBackend } from '../../src/backends/cpu/cpu-backend.js';
import type { ChatCompletionChunk } from '../../src/browser-client.js';
import { ChatCompletionError } from '../../src/browser-errors.js';
import { chatClient } from '../../src/chat-client.js';
import { loadModel, type TesseraModel } from '../../src/models/load-model.js';

const MESSAGES = [{ role: 'user' as const, content: 'The jury said' }];
const STEPS = 12;

describe('chatClient: chat.completions.create on this thread', () => {
  let model: TesseraModel;

  beforeAll(async () => {
    model = await loadModel(undefined, { backend: new CpuBackend(), actDtype: 'f32' });
  });

  afterAll(async () => {
    await model?.close();
  });

  async function engineGreedy(): Promise<{ text: string; promptTokens: number }> {
    const prompt = model.tokenizer.encode(model.tokenizer.applyChatTemplate(MESSAGES, { addGenerationPrompt: true }), {
      addSpecialTokens: false,
    });
    let text = '';
    for await (const ev of await model.engine.submit(prompt, { temperature: 0, maxTokens: STEPS, ignoreEos: true }))
      if (ev.type === 'delta') text += ev.text;
    return { text, promptTokens: prompt.length };
  }

  it('greedy reply equals the engine; streamed chunks add up to it', async () => {
    const client = chatClient(model);
    const body = { messages: MESSAGES, max_tokens: STEPS, temperature: 0, ignore_eos: true };
    const reply = await client.chat.completions.create(body);
    const want = await engineGreedy();
    expect(want.text.length).toBeGreaterThan(0);
    expect(reply.object).toBe('chat.completion');
    expect(reply.choices[0]!.message.content).toBe(want.text);
    expect(reply.choices[0]!.finish_reason).toBe('length');
    expect(reply.usage).toMatchObject({ prompt_tokens: want.promptTokens, completion_tokens: STEPS });
    const chunks: ChatCompletionChunk[] = [];
    for await (const c of await client.chat.completions.create({
      ...body,
      stream: true,
      stream_options: { include_usage: true },
    }))
      chunks.push(c);
    expect(chunks.every((c) => c.object === 'chat.completion.chunk')).toBe(true);
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe(want.text);
    expect(chunks.at(-1)!.usage).toMatchObject({ completion_tokens: STEPS });
  });

  it('a json_schema request returns JSON satisfying the schema', async () => {
    const schema = {
      type: 'object',
      properties: { verdict: { type: 'string', enum: ['guilty', 'not guilty'] } },
      required: ['verdict'],
      additionalProperties: false,
    };
    const reply = await chatClient(model).chat.completions.create({
      messages: MESSAGES,
      max_tokens: 40,
      temperature: 0,
      response_format: { type: 'json_schema', json_schema: { name: 'verdict', schema } },
    });
    const value = JSON.parse(reply.choices[0]!.message.content) as { verdict: string };
    expect(Object.keys(value)).toEqual(['verdict']);
    expect(['guilty', 'not guilty']).toContain(value.verdict);
    expect(reply.choices[0]!.finish_reason).toBe('stop');
  });

  it('a field only the HTTP server serves is a typed 400, streamed or not', async () => {
    const client = chatClient(model);
    const body = { messages: MESSAGES, tools: [{ type: 'function', function: { name: 'f' } }] };
    const err = await client.chat.completions.create(body).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChatCompletionError);
    expect(err).toMatchObject({ status: 400, param: 'tools' });
    const stream = await client.chat.completions.create({ ...body, stream: true });
    await expect(
      (async () => {
        for await (const _ of stream);
      })(),
    ).rejects.toMatchObject({ name: 'ChatCompletionError', status: 400 });
  });
});
