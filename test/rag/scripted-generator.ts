/**
 * A scripted text generator for pipeline tests: the reply to a prompt is chosen by the test and
 * streamed in pieces, each with its log-probability, honouring `stopWhen` as the engine's
 * generator does; every prompt is recorded. Each piece arrives on a later turn of the event loop,
 * as the engine's do, so lookahead's prefetch work runs while the text is being "generated" (the
 * final query drops prefetch work not yet done, as it would after a real generation).
 */
import type { GeneratedPiece, TextGenerator } from '../../src/rag/index.js';

/** A reply: plain text (streamed 4 characters at a time, log-probability 0) or explicit pieces. */
export type Script = (prompt: string) => string | GeneratedPiece[];

export function scriptedGenerator(script: Script): { generate: TextGenerator; prompts: string[] } {
  const prompts: string[] = [];
  const generate: TextGenerator = async (prompt, o) => {
    prompts.push(prompt);
    const reply = script(prompt);
    const pieces =
      typeof reply === 'string'
        ? Array.from({ length: Math.ceil(reply.length / 4) }, (_, i) => ({
            text: reply.slice(4 * i, 4 * i + 4),
            logprobs: [0],
          }))
        : reply;
    let text = '';
    for (const p of pieces) {
      await new Promise((r) => setImmediate(r));
      text += p.text;
      o.onPiece?.(p);
      o.onText?.(text);
      if (o.stopWhen?.(text)) break;
    }
    return text;
  };
  return { generate, prompts };
}
