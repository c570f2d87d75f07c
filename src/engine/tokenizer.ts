/**
 * What the engine and server need from a tokenizer. Structural, so the checkpoint loader's
 * tokenizer (src/io) or any adapter over it fits without the engine importing the loader.
 */
import type { ChatMessage } from '../io/chat-template.js';

export interface ChatTemplateOptions {
  addGenerationPrompt: boolean;
  /** OpenAI-style tool definitions, handed to templates that know about tools. */
  tools?: unknown[];
}

export interface EngineTokenizer {
  encode(text: string, options?: { addSpecialTokens?: boolean }): number[];
  decode(ids: readonly number[], options?: { skipSpecialTokens?: boolean }): string;
  /** Renders messages with the model's chat template; the result is tokenized without adding special tokens again. */
  applyChatTemplate(messages: readonly ChatMessage[], options: ChatTemplateOptions): string;
  /** Whether the chat template itself renders `tools` (otherwise the server describes tools in a system message). */
  readonly templateSupportsTools: boolean;
  /** Tokens that end generation (EOS and the like). */
  readonly stopTokenIds: readonly number[];
  /** Raw vocabulary strings in id order and how they encode bytes, for grammar-constrained decoding. */
  vocabulary(): { tokens: string[]; type: 'byte_level' | 'byte_fallback' | 'raw' };
}
