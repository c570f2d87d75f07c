/** Log-probabilities in the two OpenAI shapes (chat: `logprobs.content`; legacy completions: parallel arrays). */
import type { GeneratedToken } from '../engine/request.js';
import type { EngineTokenizer } from '../engine/tokenizer.js';

export interface ChatLogprob {
  token: string;
  logprob: number;
  bytes: number[];
  top_logprobs: { token: string; logprob: number; bytes: number[] }[];
}

const encoder = new TextEncoder();

export function tokenText(tokenizer: EngineTokenizer, id: number): string {
  return tokenizer.decode([id], { skipSpecialTokens: false });
}

export function chatLogprobs(tokenizer: EngineTokenizer, tokens: readonly GeneratedToken[]): ChatLogprob[] {
  return tokens.map((t) => {
    const token = tokenText(tokenizer, t.id);
    return {
      token,
      logprob: t.logprob ?? 0,
      bytes: [...encoder.encode(token)],
      top_logprobs: (t.topLogprobs ?? []).map((alt) => {
        const text = tokenText(tokenizer, alt.token);
        return { token: text, logprob: alt.logprob, bytes: [...encoder.encode(text)] };
      }),
    };
  });
}

export interface CompletionLogprobs {
  tokens: string[];
  token_logprobs: number[];
  top_logprobs: Record<string, number>[];
  text_offset: number[];
}

export function completionLogprobs(
  tokenizer: EngineTokenizer,
  tokens: readonly GeneratedToken[],
  startOffset: number,
): CompletionLogprobs {
  const out: CompletionLogprobs = { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
  let offset = startOffset;
  for (const t of tokens) {
    const text = tokenText(tokenizer, t.id);
    out.tokens.push(text);
    out.token_logprobs.push(t.logprob ?? 0);
    out.top_logprobs.push(
      Object.fromEntries((t.topLogprobs ?? []).map((alt) => [tokenText(tokenizer, alt.token), alt.logprob])),
    );
    out.text_offset.push(offset);
    offset += text.length;
  }
  return out;
}
