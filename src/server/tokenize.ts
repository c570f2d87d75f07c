/**
 * vLLM's POST /tokenize and /detokenize. Tokenizing shares the prompt path of the completion
 * endpoints (the same chat rendering, the same sliced encoding that keeps the event loop free),
 * so `count` is the prompt_tokens a completion of the same input would use. Unlike those
 * endpoints, a prompt longer than the context is counted, not refused: the body limit bounds it.
 */
import { encodeChatPrompt, templateMessages } from './chat-prompt.js';
import { ApiError } from './errors.js';
import type { DetokenizeRequest, TokenizeRequest } from './schemas.js';
import type { ServerState } from './server-state.js';

export async function tokenize(state: ServerState, body: TokenizeRequest): Promise<Response> {
  const model = state.models.chat(body.model);
  let tokens: number[];
  if (body.messages != null) {
    // vLLM's defaults for chat input: the assistant's turn opened, no special tokens added again.
    tokens = await encodeChatPrompt(model, templateMessages(body.messages), body.tools ?? [], {
      addGenerationPrompt: body.add_generation_prompt ?? true,
      addSpecialTokens: body.add_special_tokens ?? false,
      bounded: false,
    });
  } else {
    tokens = await model.prompts.encode(body.prompt ?? '', 'prompt', body.add_special_tokens ?? true, false);
  }
  const vocabulary = body.return_token_strs ? model.tokenizer.vocabulary().tokens : null;
  return Response.json({
    count: tokens.length,
    max_model_len: model.maxContext,
    tokens,
    ...(vocabulary ? { token_strs: tokens.map((id) => vocabulary[id] ?? '') } : {}),
  });
}

export function detokenize(state: ServerState, body: DetokenizeRequest): Response {
  const model = state.models.chat(body.model);
  const vocab = model.engine.runner.vocabSize;
  const bad = body.tokens.findIndex((t) => t < 0 || t >= vocab);
  if (bad !== -1)
    throw new ApiError(
      400,
      `tokens[${bad}] = ${body.tokens[bad]} is outside the vocabulary [0, ${vocab})`,
      'invalid_request_error',
      'tokens',
      'invalid_value',
    );
  return Response.json({ prompt: model.tokenizer.decode(body.tokens, { skipSpecialTokens: false }) });
}
