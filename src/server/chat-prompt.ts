/**
 * Chat messages → prompt text → tokens, shared by /v1/chat/completions and /tokenize so that the
 * count /tokenize reports is exactly the prompt_tokens a chat completion of the same messages uses.
 */
import type { ChatMessage } from '../io/chat-template.js';
import { ApiError } from './errors.js';
import type { ChatCompletionRequest, FunctionTool } from './schemas.js';
import type { ChatModel } from './served-models.js';
import { messagesForTemplate } from './tools.js';

type RequestMessage = ChatCompletionRequest['messages'][number];

/** OpenAI request messages as template messages; 400 for a tool message without tool_call_id. */
export function templateMessages(messages: readonly RequestMessage[]): ChatMessage[] {
  messages.forEach((m, i) => {
    if (m.role === 'tool' && !m.tool_call_id)
      throw new ApiError(
        400,
        `messages[${i}]: a message with role 'tool' needs tool_call_id (the id of the call it answers)`,
        'invalid_request_error',
        `messages.${i}.tool_call_id`,
        'invalid_value',
      );
  });
  return messages.map((m) => ({
    role: m.role === 'developer' ? 'system' : m.role,
    content:
      typeof m.content === 'string' || m.content == null ? (m.content ?? null) : m.content.map((p) => p.text).join(''),
    ...(m.name ? { name: m.name } : {}),
    ...(m.tool_calls ? { tool_calls: m.tool_calls } : {}),
    ...(m.tool_call_id ? { tool_call_id: m.tool_call_id } : {}),
  }));
}

/**
 * The prompt's tokens. Text that cannot fit the context is refused before the template renders
 * it unless `bounded` is false (/tokenize counts prompts of any length the body limit lets in).
 */
export async function encodeChatPrompt(
  model: ChatModel,
  messages: readonly ChatMessage[],
  tools: FunctionTool[],
  options: { addGenerationPrompt: boolean; addSpecialTokens: boolean; bounded: boolean },
): Promise<number[]> {
  if (options.bounded)
    model.prompts.checkLength(
      messages.reduce((n, m) => n + (m.content?.length ?? 0), 0),
      'messages',
    );
  const tok = model.tokenizer;
  const text = tok.applyChatTemplate(messagesForTemplate(messages, tools, tok.templateSupportsTools), {
    addGenerationPrompt: options.addGenerationPrompt,
    ...(tok.templateSupportsTools && tools.length ? { tools } : {}),
  });
  return model.prompts.encode(text, 'messages', options.addSpecialTokens, options.bounded);
}
