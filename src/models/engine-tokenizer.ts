/**
 * The checkpoint's tokenizer (`src/io`) as the serving engine's `EngineTokenizer`: one tokenizer
 * implementation serves loading, the CLI and the server.
 */
import type { Tokenizer } from '../io/tokenizer.js';
import type { ChatTemplateOptions, EngineTokenizer } from '../engine/tokenizer.js';
import type { ChatMessage } from '../io/chat-template.js';

export function engineTokenizer(tok: Tokenizer): EngineTokenizer {
  const stopTokenIds = [...tok.stopTokenIds];
  return {
    stopTokenIds,
    templateSupportsTools: tok.templateSupportsTools,
    encode: (text, o) => tok.encode(text, { addSpecialTokens: o?.addSpecialTokens ?? true }),
    decode: (ids, o) =>
      tok.decode(ids, { skipSpecialTokens: o?.skipSpecialTokens ?? true, cleanUpTokenizationSpaces: false }),
    applyChatTemplate: (messages: readonly ChatMessage[], o: ChatTemplateOptions) =>
      tok.applyChatTemplate(
        messages.map((m) => ({ ...m, content: m.content ?? '' })),
        { addGenerationPrompt: o.addGenerationPrompt, ...(o.tools ? { tools: o.tools } : {}) },
      ),
    vocabulary: () => ({ tokens: tok.vocabulary(), type: tok.vocabularyKind }),
  };
}
