import { describe, expect, it } from 'vitest';
import { forcedCallSchema, messagesForTemplate, parseToolCalls, ToolCallStreamFilter } from '../../src/server/tools.js';
import type { FunctionTool } from '../../src/server/schemas.js';

const tools: FunctionTool[] = [
  {
    type: 'function',
    function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } },
  },
  { type: 'function', function: { name: 'get_time' } },
];
let n = 0;
const id = () => `call-${n++}`;

describe('tool calls', () => {
  it('parses Hermes-style blocks, keeps surrounding text, ignores unknown tools and bad JSON', () => {
    const r = parseToolCalls(
      'Let me check.\n<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>\n<tool_call>{"name": "get_time", "arguments": {}}</tool_call>',
      tools,
      id,
    );
    expect(r.content).toBe('Let me check.');
    expect(r.toolCalls.map((c) => [c.function.name, JSON.parse(c.function.arguments)])).toEqual([
      ['get_weather', { city: 'Oslo' }],
      ['get_time', {}],
    ]);
    expect(parseToolCalls('<tool_call>{"name": "rm_rf", "arguments": {}}</tool_call>', tools, id).toolCalls).toEqual(
      [],
    );
    expect(parseToolCalls('<tool_call>{"name": "get_time", "argu', tools, id)).toEqual({
      content: '<tool_call>{"name": "get_time", "argu',
      toolCalls: [],
    });
    expect(parseToolCalls('plain answer', tools, id)).toEqual({ content: 'plain answer', toolCalls: [] });
  });

  it("parses a bare JSON call (Llama 3.1's style, and forced calls)", () => {
    const r = parseToolCalls(' {"name": "get_weather", "parameters": {"city": "Rome"}} ', tools, id);
    expect(r.content).toBeNull();
    expect(r.toolCalls[0]!.function).toEqual({ name: 'get_weather', arguments: '{"city":"Rome"}' });
  });

  it('forced-call schemas: one function, or any of them', () => {
    expect(forcedCallSchema(tools, 'auto')).toBeNull();
    expect(forcedCallSchema(tools, { type: 'function', function: { name: 'get_time' } })).toMatchObject({
      properties: { name: { const: 'get_time' }, arguments: { type: 'object' } },
    });
    expect((forcedCallSchema(tools, 'required') as { anyOf: unknown[] }).anyOf).toHaveLength(2);
  });

  it('describes tools in a system message and rewrites tool turns for templates without tool support', () => {
    const msgs = messagesForTemplate(
      [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Weather?' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [{ id: 'c1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } }],
        },
        { role: 'tool', content: '{"t":3}', tool_call_id: 'c1' },
      ],
      tools,
      false,
    );
    expect(msgs[0]!.content).toContain('Be brief.');
    expect(msgs[0]!.content).toContain('"name":"get_weather"');
    expect(msgs[2]!.content).toBe('<tool_call>{"name":"get_weather","arguments":{"city":"Oslo"}}</tool_call>');
    expect(msgs[3]).toEqual({ role: 'user', content: '<tool_response>\n{"t":3}\n</tool_response>' });
    expect(messagesForTemplate(msgs, tools, true)).toEqual(msgs);
  });

  it('the stream filter passes text until a call starts, across chunk boundaries', () => {
    const f = new ToolCallStreamFilter();
    expect(f.push('Sure <to')).toBe('Sure ');
    expect(f.push('ol')).toBe('');
    expect(f.push('_call>{"name"')).toBe('');
    expect(f.push(' more')).toBe('');
    expect(f.flush()).toBe('');
    const g = new ToolCallStreamFilter();
    expect(g.push('a <tool')).toBe('a ');
    expect(g.push('box')).toBe('<toolbox');
    expect(g.push(' <t')).toBe(' ');
    expect(g.flush()).toBe('<t');
  });
});
