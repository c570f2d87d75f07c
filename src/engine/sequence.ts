/**
 * One completion being generated: its tokens, how many of them have KV in its pages, and the
 * per-completion state of sampling and text output.
 */
import { StreamDecoder } from '../io/stream-decoder.js';
import type { SequenceLongContext } from './long-context.js';
import type { PrefixNode } from './prefix-cache.js';
import type { RequestState } from './request.js';
import { StopStringMatcher } from './stop-strings.js';
import type { TokenConstraint } from './token-constraint.js';
import type { EngineTokenizer } from './tokenizer.js';

export type SequenceStatus = 'waiting' | 'running' | 'finished';

export class Sequence {
  status: SequenceStatus = 'waiting';
  /** Prompt followed by generated tokens. */
  readonly tokens: number[];
  /** Tokens whose KV is in `pages` (positions [0, numComputed)). */
  numComputed = 0;
  pages: number[] = [];
  /** Leading full pages already in the prefix cache, and the cache node of the last of them. */
  cachedPages = 0;
  cacheNode: PrefixNode | null = null;
  /** Long-context mode (long-context.ts): its store and how far its pages moved there; null outside the mode. */
  longContext: SequenceLongContext | null = null;
  readonly outputCounts = new Map<number, number>();
  readonly seen: Set<number>;
  readonly detokenizer: StreamDecoder;
  readonly stopMatcher: StopStringMatcher;
  /** Text emitted so far. */
  text = '';

  constructor(
    readonly request: RequestState,
    readonly index: number,
    prompt: readonly number[],
    tokenizer: EngineTokenizer,
    readonly constraint: TokenConstraint | null,
  ) {
    this.tokens = [...prompt];
    this.seen = new Set(prompt);
    this.detokenizer = streamDecoderFor(tokenizer);
    this.stopMatcher = new StopStringMatcher(request.params.stop);
  }

  get promptLength(): number {
    return this.request.prompt.length;
  }

  get outputLength(): number {
    return this.tokens.length - this.request.prompt.length;
  }

  /** Tokens still to run through the model before the next token can be sampled. */
  get pendingTokens(): number {
    return this.tokens.length - this.numComputed;
  }

  /** Scheduling priority: older requests first, then completion index. Larger means newer. */
  isNewerThan(other: Sequence): boolean {
    return this.request.order !== other.request.order
      ? this.request.order > other.request.order
      : this.index > other.index;
  }

  appendToken(token: number): void {
    this.tokens.push(token);
    this.seen.add(token);
    this.outputCounts.set(token, (this.outputCounts.get(token) ?? 0) + 1);
  }
}

/** The completion's text deltas: special tokens (EOS and the like) are not part of the text. */
export function streamDecoderFor(tokenizer: Pick<EngineTokenizer, 'decode'>): StreamDecoder {
  return new StreamDecoder((ids) => tokenizer.decode(ids, { skipSpecialTokens: true }));
}
