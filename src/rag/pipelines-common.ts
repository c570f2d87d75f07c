/**
 * What every RAG pipeline program shares: the text generator it drives, its options and result,
 * the prompts that show passages, the throttled lookahead observer, and the small text rules
 * (sentence ends, yes/no verdicts, merging several retrievals).
 */
import type { Passage, PassageRetriever } from './pipelines-retriever.js';

/** One piece of generated text and the log-probabilities of the tokens it decodes from. */
export interface GeneratedPiece {
  readonly text: string;
  readonly logprobs: readonly number[];
}

export interface GenerateOptions {
  readonly maxTokens: number;
  /** Sees the text so far after each piece. */
  readonly onText?: (soFar: string) => void;
  /** Ends generation once it holds for the text so far; the text up to then is returned. */
  readonly stopWhen?: (soFar: string) => boolean;
  /** Sees each piece with its tokens' log-probabilities; a generator given it must report them (FLARE). */
  readonly onPiece?: (piece: GeneratedPiece) => void;
}

/** Generates a continuation of `prompt`. */
export type TextGenerator = (prompt: string, o: GenerateOptions) => Promise<string>;

export interface PipelineOptions {
  /** Tokens of each intermediate generation (HyDE's passage, drafts, sub-question lists). */
  readonly draftTokens?: number;
  /** Rounds of retrieval of Iter-RetGen (default 2), IRG and FLARE (default 3). */
  readonly rounds?: number;
  /** Observe a growing draft every this many characters of new text (default 24). */
  readonly observeEvery?: number;
  /** SubQ: most sub-questions used (default 3). */
  readonly maxSubQuestions?: number;
  /** FLARE: a sentence with a token less likely than this triggers retrieval (default 0.4). */
  readonly flareThreshold?: number;
  /** Stops the program between steps (a client that went away). */
  readonly signal?: AbortSignal;
}

export interface GatheredPassages {
  readonly passages: Passage[];
  /** Each retrieval's query, in order (one entry per retrieval call). */
  readonly queries: string[];
  /** The intermediate texts generated, in order. */
  readonly drafts: string[];
}

/** The passages numbered [1]…[n], as the grounded prompt and the server's system message show them. */
export function passageBlock(passages: readonly Passage[]): string {
  return passages.map((p, i) => `[${i + 1}] ${p.text}`).join('\n');
}

export function groundedPrompt(question: string, passages: readonly Passage[]): string {
  return `Answer the question using the passages.\nPassages:\n${passageBlock(passages)}\nQuestion: ${question}\nAnswer:`;
}

/**
 * Hands a growing draft to lookahead as the query will read it (`queryOf` of the text so far),
 * at most once per `observeEvery` characters of new text.
 */
export function observer(
  retriever: PassageRetriever,
  o: PipelineOptions,
  queryOf: (soFar: string) => string,
): (soFar: string) => void {
  const every = o.observeEvery ?? 24;
  let observedAt = 0;
  return (soFar) => {
    if (soFar.length - observedAt < every) return;
    observedAt = soFar.length;
    retriever.observe(queryOf(soFar));
  };
}

/** A sentence ends at . ! ? or a newline once it has some words (so "e.g" mid-word does not end it). */
export function endsSentence(soFar: string): boolean {
  const t = soFar.trimStart();
  return /\S\s*[.!?](\s|$)|\S\n/.test(t) && t.split(/\s+/).filter(Boolean).length >= 2;
}

/** The first sentence of a text (through its end mark), trimmed. */
export function firstSentence(text: string): string {
  const t = text.trimStart();
  const m = /^[\s\S]*?\S\s*[.!?](?=\s|$)|^[^\n]*\S(?=\n)/.exec(t);
  return (m ? m[0] : t).trim();
}

/** 'yes' or 'no' when the reply starts with one of them; null when it says neither. */
export function verdictOf(reply: string): 'yes' | 'no' | null {
  const m = /^[\s"'*[(]*(yes|no)\b/i.exec(reply);
  return m ? (m[1]!.toLowerCase() as 'yes' | 'no') : null;
}

/**
 * Several retrievals' passages as one list: round-robin by rank (each query's nearest first),
 * each passage once, at most as many as the longest list, so every query is represented.
 */
export function mergePassages(lists: readonly (readonly Passage[])[]): Passage[] {
  const cap = Math.max(0, ...lists.map((l) => l.length));
  const seen = new Set<number>();
  const out: Passage[] = [];
  for (let rank = 0; out.length < cap && lists.some((l) => rank < l.length); rank++)
    for (const l of lists) {
      const p = l[rank];
      if (!p || seen.has(p.id) || out.length >= cap) continue;
      seen.add(p.id);
      out.push(p);
    }
  return out;
}

export function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('aborted');
}
