/**
 * Chat templates: the Jinja program a model ships in `tokenizer_config.json` (or
 * `chat_template.jinja`) that turns a message list into the exact prompt text it was trained on.
 * Rendered with `@huggingface/jinja`, given the variables transformers provides.
 */
import { Template } from '@huggingface/jinja';

/** An assistant tool call, OpenAI-shaped, as chat templates expect it. */
export interface ToolCallMessagePart {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

/** One chat turn, OpenAI-shaped: what the server receives, the CLI builds and templates render. */
export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | 'tool' | 'developer';
  content: string | null;
  name?: string;
  tool_calls?: ToolCallMessagePart[];
  tool_call_id?: string;
}

export interface ChatTemplateOptions {
  /** Append the assistant turn header so the model continues as the assistant (default true). */
  readonly addGenerationPrompt?: boolean;
  /** JSON-schema tool definitions (OpenAI `tools` shape) for templates that support tools. */
  readonly tools?: readonly unknown[];
  /** A named template (e.g. 'tool_use') when the model ships several. */
  readonly templateName?: string;
  /** Extra template variables (e.g. `enable_thinking: false` for Qwen3). */
  readonly variables?: Readonly<Record<string, unknown>>;
}

/** A parsed chat template, compiled once and rendered per request. */
export class ChatTemplate {
  private readonly template: Template;

  constructor(readonly source: string) {
    this.template = new Template(source);
  }

  render(
    messages: readonly ChatMessage[],
    specialTokens: Readonly<Record<string, string | null>>,
    options: ChatTemplateOptions = {},
  ): string {
    return this.template.render({
      ...specialTokens,
      ...options.variables,
      messages,
      add_generation_prompt: options.addGenerationPrompt ?? true,
      ...(options.tools !== undefined ? { tools: options.tools } : {}),
    });
  }
}

/**
 * The templates a tokenizer_config.json declares: `chat_template` is either one string or a list
 * of `{ name, template }` (the unnamed one is 'default').
 */
export function chatTemplatesFromConfig(raw: unknown): Map<string, string> {
  const out = new Map<string, string>();
  if (typeof raw === 'string') out.set('default', raw);
  else if (Array.isArray(raw)) {
    for (const entry of raw) {
      const e = entry as { name?: unknown; template?: unknown };
      if (typeof e?.name === 'string' && typeof e.template === 'string') out.set(e.name, e.template);
    }
  } else if (typeof raw === 'object' && raw !== null) {
    for (const [name, template] of Object.entries(raw)) if (typeof template === 'string') out.set(name, template);
  }
  return out;
}
