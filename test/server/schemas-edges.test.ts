/**
 * Request validation at its boundaries: for each field, a value just inside and just outside the
 * documented range (OpenAI's API reference for its fields; the vLLM extensions' own ranges; this
 * server's caps on n, stop and tools), checked on the zod schemas directly.
 */
import { describe, expect, it } from 'vitest';
import { chatCompletionRequest, completionRequest, functionTool } from '../../src/server/schemas.js';

const chat = (over: Record<string, unknown>) =>
  chatCompletionRequest.safeParse({ model: 'm', messages: [{ role: 'user', content: 'hi' }], ...over });
const text = (over: Record<string, unknown>) => completionRequest.safeParse({ model: 'm', prompt: 'hi', ...over });

type Case = [field: string, ok: unknown[], bad: unknown[]];
const shared: Case[] = [
  ['model', ['m'], ['', 3]],
  ['max_tokens', [1, null], [0, 1.5, -1]],
  ['temperature', [0, 2, null], [-0.01, 2.01]],
  ['top_p', [1, 0.001], [0, 1.01]],
  ['n', [1, 16], [0, 17, 1.5]],
  ['stream', [true, false, null], ['yes']],
  ['stream_options', [{ include_usage: true }, {}, null], [{ include_usage: 'x' }, 'x']],
  ['stop', ['x', ['a', 'b'], Array(16).fill('s'), null], [Array(17).fill('s'), 3, [3]]],
  ['presence_penalty', [-2, 2], [-2.01, 2.01]],
  ['frequency_penalty', [-2, 2], [-2.01, 2.01]],
  [
    'logit_bias',
    [{ '0': -100, '50256': 100 }, {}, null],
    [{ '0': 100.5 }, { '0': -101 }, { abc: 1 }, { '-1': 1 }, { '1a': 1 }, { a1: 1 }],
  ],
  ['seed', [0, -5, null], [1.5]],
  ['user', ['u'], [5]],
  ['top_k', [-1, 0, 50], [-2, 1.5]],
  ['min_p', [0, 1], [-0.01, 1.01]],
  ['repetition_penalty', [0.01, 10], [0, 10.01]],
  ['ignore_eos', [true], ['true']],
  ['stop_token_ids', [[0, 7], [], null], [[-1], [1.5], 3]],
];

describe('shared sampling fields, on both endpoints', () => {
  for (const [field, ok, bad] of shared) {
    for (const [name, parse] of [
      ['chat', chat],
      ['completions', text],
    ] as const) {
      it(`${name}.${field}: accepts ${JSON.stringify(ok)}, rejects ${JSON.stringify(bad)}`, () => {
        for (const v of ok) expect(parse({ [field]: v }).success, `${field} = ${JSON.stringify(v)}`).toBe(true);
        for (const v of bad) expect(parse({ [field]: v }).success, `${field} = ${JSON.stringify(v)}`).toBe(false);
      });
    }
  }
  // Unknown top-level fields are refused before the schema runs (test/server/unknown-params.test.ts).
  it('a missing model is rejected', () => {
    expect(chatCompletionRequest.safeParse({ messages: [{ role: 'user', content: 'hi' }] }).success).toBe(false);
  });
  it('logit_bias keys must be whole token ids: the message says so', () => {
    const r = chat({ logit_bias: { x: 1 } });
    expect(r.success).toBe(false);
    expect(JSON.stringify(r.error!.issues)).toContain('logit_bias keys are token ids');
  });
});

describe('chat messages', () => {
  it('accepts every role, string or text-part content, null content with tool calls', () => {
    for (const role of ['system', 'developer', 'user', 'assistant', 'tool'])
      expect(chat({ messages: [{ role, content: 'x' }] }).success, role).toBe(true);
    expect(chat({ messages: [{ role: 'user', content: [{ type: 'text', text: 'a' }] }] }).success).toBe(true);
    const call = { id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' } };
    expect(
      chat({
        messages: [
          { role: 'assistant', content: null, tool_calls: [call] },
          { role: 'tool', content: 'r', tool_call_id: 'c1' },
        ],
      }).success,
    ).toBe(true);
    expect(chat({ messages: [{ role: 'user', content: 'x', name: 'bob' }] }).success).toBe(true);
  });
  it('rejects no messages, unknown roles, non-text parts and malformed tool calls', () => {
    expect(chat({ messages: [] }).success).toBe(false);
    expect(chat({ messages: [{ role: 'robot', content: 'x' }] }).success).toBe(false);
    expect(chat({ messages: [{ role: 'user', content: [{ type: 'image_url', text: 'a' }] }] }).success).toBe(false);
    expect(chat({ messages: [{ role: 'user', content: [{ type: 'text' }] }] }).success).toBe(false);
    expect(
      chat({
        messages: [
          {
            role: 'assistant',
            content: null,
            tool_calls: [{ id: 'c', type: 'other', function: { name: 'f', arguments: '{}' } }],
          },
        ],
      }).success,
    ).toBe(false);
    expect(
      chat({
        messages: [
          { role: 'assistant', content: null, tool_calls: [{ id: 'c', type: 'function', function: { name: 'f' } }] },
        ],
      }).success,
    ).toBe(false);
  });
});

describe('chat-only fields', () => {
  const tool = (name: string) => ({ type: 'function', function: { name, parameters: { type: 'object' } } });
  it('max_completion_tokens ≥ 1, top_logprobs in [0, 20], logprobs boolean', () => {
    expect(chat({ max_completion_tokens: 1 }).success).toBe(true);
    expect(chat({ max_completion_tokens: 0 }).success).toBe(false);
    expect(chat({ top_logprobs: 0 }).success).toBe(true);
    expect(chat({ top_logprobs: 20 }).success).toBe(true);
    expect(chat({ top_logprobs: 21 }).success).toBe(false);
    expect(chat({ top_logprobs: -1 }).success).toBe(false);
    expect(chat({ logprobs: true }).success).toBe(true);
    expect(chat({ logprobs: 2 }).success).toBe(false);
  });
  it('response_format: text, json_object or json_schema with a name', () => {
    expect(chat({ response_format: { type: 'text' } }).success).toBe(true);
    expect(chat({ response_format: { type: 'json_object' } }).success).toBe(true);
    expect(
      chat({
        response_format: { type: 'json_schema', json_schema: { name: 's', schema: { type: 'object' }, strict: true } },
      }).success,
    ).toBe(true);
    expect(chat({ response_format: { type: 'json_schema', json_schema: { schema: {} } } }).success).toBe(false);
    expect(chat({ response_format: { type: 'json_schema' } }).success).toBe(false);
    expect(chat({ response_format: { type: 'xml' } }).success).toBe(false);
  });
  it('tools: up to 64 functions named with 1–64 letters, digits, _ or -', () => {
    expect(chat({ tools: [tool('get_weather-2')] }).success).toBe(true);
    expect(chat({ tools: Array.from({ length: 64 }, (_, i) => tool(`f${i}`)) }).success).toBe(true);
    expect(chat({ tools: Array.from({ length: 65 }, (_, i) => tool(`f${i}`)) }).success).toBe(false);
    expect(functionTool.safeParse(tool('a'.repeat(64))).success).toBe(true);
    for (const bad of ['', 'a'.repeat(65), 'has space', 'dot.name', 'x\ny'])
      expect(functionTool.safeParse(tool(bad)).success, JSON.stringify(bad)).toBe(false);
    expect(functionTool.safeParse({ type: 'other', function: { name: 'f' } }).success).toBe(false);
    const named = functionTool.safeParse(tool('bad name'));
    expect(JSON.stringify(named.error!.issues)).toContain('function names are 1-64 letters, digits, _ or -');
  });
  it('tool_choice: none, auto, required or a named function', () => {
    for (const c of ['none', 'auto', 'required', { type: 'function', function: { name: 'f' } }])
      expect(chat({ tool_choice: c }).success, JSON.stringify(c)).toBe(true);
    for (const c of ['any', '', { type: 'function' }, { type: 'tool', function: { name: 'f' } }])
      expect(chat({ tool_choice: c }).success, JSON.stringify(c)).toBe(false);
    expect(chat({ parallel_tool_calls: false }).success).toBe(true);
    expect(chat({ parallel_tool_calls: 'no' }).success).toBe(false);
  });
});

describe('completion prompts and fields', () => {
  it('prompt: a string, strings, token ids or lists of token ids, none empty', () => {
    for (const p of ['x', '', ['a', 'b'], [1, 2], [[1], [2, 3]]])
      expect(text({ prompt: p }).success, JSON.stringify(p)).toBe(true);
    for (const p of [[], [[]], [1.5], [[1.5]], 3, null])
      expect(text({ prompt: p }).success, JSON.stringify(p)).toBe(false);
  });
  it('logprobs in [0, 5], best_of ≥ 1, echo boolean, suffix string', () => {
    expect(text({ logprobs: 0 }).success).toBe(true);
    expect(text({ logprobs: 5 }).success).toBe(true);
    expect(text({ logprobs: 6 }).success).toBe(false);
    expect(text({ logprobs: -1 }).success).toBe(false);
    expect(text({ best_of: 1 }).success).toBe(true);
    expect(text({ best_of: 0 }).success).toBe(false);
    expect(text({ echo: true, suffix: 's' }).success).toBe(true);
    expect(text({ echo: 'yes' }).success).toBe(false);
    expect(text({ suffix: 1 }).success).toBe(false);
  });
});
