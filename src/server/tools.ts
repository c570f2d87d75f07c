/**
 * Tool calling through the chat template.
 *
 * Templates that render `tools` themselves (Llama 3.1, Qwen 2.5, …) get them as is. For others
 * the tools are described in a system message that asks for Hermes-style calls,
 * `<tool_call>{"name": …, "arguments": {…}}</tool_call>`, the format Qwen's template also uses.
 * Calls are parsed back from that format or from a reply that is one bare JSON call (Llama 3.1's
 * style). With `tool_choice` "required" or a named function, decoding is constrained to a JSON
 * call by a grammar, so even a small model produces a well-formed one.
 */
import type { ChatMessage, ToolCallMessagePart } from '../io/chat-template.js';
import type { ChatCompletionRequest, FunctionTool } from './schemas.js';

export const TOOL_CALL_OPEN = '<tool_call>';
export const TOOL_CALL_CLOSE = '</tool_call>';

export type ToolChoice = NonNullable<ChatCompletionRequest['tool_choice']>;

export function toolSystemPrompt(tools: readonly FunctionTool[]): string {
  const specs = tools.map((t) =>
    JSON.stringify({
      name: t.function.name,
      description: t.function.description ?? '',
      parameters: t.function.parameters ?? { type: 'object' },
    }),
  );
  return [
    'You can call the following functions:',
    ...specs,
    `To call a function, reply with ${TOOL_CALL_OPEN}{"name": "<function name>", "arguments": {<arguments as JSON>}}${TOOL_CALL_CLOSE}; otherwise reply normally.`,
  ].join('\n');
}

/** Messages as the template will see them: tool turns rewritten for templates that do not know tools. */
export function messagesForTemplate(
  messages: readonly ChatMessage[],
  tools: readonly FunctionTool[] | null,
  templateSupportsTools: boolean,
): ChatMessage[] {
  if (templateSupportsTools) return [...messages];
  const out: ChatMessage[] = messages.map((m) => {
    if (m.role === 'tool') return { role: 'user', content: `<tool_response>\n${m.content ?? ''}\n</tool_response>` };
    if (m.role === 'assistant' && m.tool_calls?.length) {
      const calls = m.tool_calls.map(
        (c) =>
          `${TOOL_CALL_OPEN}${JSON.stringify({ name: c.function.name, arguments: safeJson(c.function.arguments) })}${TOOL_CALL_CLOSE}`,
      );
      return { role: 'assistant', content: [m.content ?? '', ...calls].filter(Boolean).join('\n') };
    }
    return m;
  });
  if (tools?.length) {
    const prompt = toolSystemPrompt(tools);
    if (out[0]?.role === 'system') out[0] = { ...out[0], content: `${out[0].content ?? ''}\n\n${prompt}` };
    else out.unshift({ role: 'system', content: prompt });
  }
  return out;
}

/** The JSON schema a forced call must satisfy, or null when the model may answer freely. */
export function forcedCallSchema(
  tools: readonly FunctionTool[],
  choice: ToolChoice | null | undefined,
): Record<string, unknown> | null {
  if (!choice || choice === 'auto' || choice === 'none') return null;
  const allowed = choice === 'required' ? tools : tools.filter((t) => t.function.name === choice.function.name);
  const variants = allowed.map((t) => ({
    type: 'object',
    properties: { name: { const: t.function.name }, arguments: t.function.parameters ?? { type: 'object' } },
    required: ['name', 'arguments'],
    additionalProperties: false,
  }));
  return variants.length === 1 ? variants[0]! : { anyOf: variants };
}

export interface ParsedReply {
  content: string | null;
  toolCalls: ToolCallMessagePart[];
}

/** Splits a reply into text and tool calls; calls naming unknown tools stay text. */
export function parseToolCalls(text: string, tools: readonly FunctionTool[], makeId: () => string): ParsedReply {
  const known = new Set(tools.map((t) => t.function.name));
  const toCall = (raw: string): ToolCallMessagePart | null => {
    const value = safeJson(raw.trim()) as { name?: unknown; arguments?: unknown; parameters?: unknown } | undefined;
    if (!value || typeof value !== 'object' || typeof value.name !== 'string' || !known.has(value.name)) return null;
    const args = value.arguments ?? value.parameters ?? {};
    return {
      id: makeId(),
      type: 'function',
      function: { name: value.name, arguments: typeof args === 'string' ? args : JSON.stringify(args) },
    };
  };
  const calls: ToolCallMessagePart[] = [];
  let rest = '';
  let at = 0;
  for (;;) {
    const open = text.indexOf(TOOL_CALL_OPEN, at);
    if (open < 0) break;
    const close = text.indexOf(TOOL_CALL_CLOSE, open);
    const body = text.slice(open + TOOL_CALL_OPEN.length, close < 0 ? text.length : close);
    const call = toCall(body);
    rest += text.slice(at, open);
    if (call) calls.push(call);
    else rest += text.slice(open, close < 0 ? text.length : close + TOOL_CALL_CLOSE.length);
    at = close < 0 ? text.length : close + TOOL_CALL_CLOSE.length;
  }
  rest += text.slice(at);
  if (calls.length === 0) {
    const bare = toCall(text);
    if (bare) return { content: null, toolCalls: [bare] };
  }
  const content = rest.trim();
  return { content: calls.length && !content ? null : calls.length ? content : text, toolCalls: calls };
}

/**
 * For streaming with tools in "auto" mode: passes text through until a tool call begins, then
 * holds everything back (the calls are sent, parsed, when generation ends).
 */
export class ToolCallStreamFilter {
  private pending = '';
  private inCall = false;

  push(delta: string): string {
    if (this.inCall) return '';
    const buffer = this.pending + delta;
    const open = buffer.indexOf(TOOL_CALL_OPEN);
    if (open >= 0) {
      this.inCall = true;
      this.pending = '';
      return buffer.slice(0, open);
    }
    let hold = 0;
    for (let len = Math.min(TOOL_CALL_OPEN.length - 1, buffer.length); len > 0; len--) {
      if (buffer.endsWith(TOOL_CALL_OPEN.slice(0, len))) {
        hold = len;
        break;
      }
    }
    this.pending = buffer.slice(buffer.length - hold);
    return buffer.slice(0, buffer.length - hold);
  }

  /** Text held back when generation ends outside a call. */
  flush(): string {
    const rest = this.inCall ? '' : this.pending;
    this.pending = '';
    return rest;
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
