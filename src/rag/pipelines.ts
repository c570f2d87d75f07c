/**
 * RAG pipelines as programs over a text generator and a retriever (the paper's HyDE, Iter-RetGen,
 * and plain retrieve-then-read). Each program gathers the passages the final answer is grounded
 * in, generating whatever intermediate text its queries need; the caller writes the final answer
 * from `groundedPrompt` (the CLI) or from chat messages carrying the passages (the server), so the
 * last generation runs wherever the caller's sampling and streaming live.
 *
 * - plain: the question is the query.
 * - hyde: the model writes a hypothetical passage answering the question; the question plus that
 *   passage is the query. The partial passage is handed to `observe` as it grows, so the clusters
 *   the final query will probe are on the GPU by the time it is asked (lookahead).
 * - iter-retgen: retrieval and generation alternate: each round's draft answer, appended to the
 *   question, is the next round's query; the last round's passages ground the final answer.
 */
import type { Passage, PassageRetriever } from './pipelines-retriever.js';

export const PIPELINES = ['plain', 'hyde', 'iter-retgen'] as const;
export type PipelineName = (typeof PIPELINES)[number];

export function isPipelineName(x: unknown): x is PipelineName {
  return typeof x === 'string' && (PIPELINES as readonly string[]).includes(x);
}

/** Generates a continuation of `prompt`; `onText` sees the text so far after each piece. */
export type TextGenerator = (
  prompt: string,
  o: { maxTokens: number; onText?: (soFar: string) => void },
) => Promise<string>;

export interface PipelineOptions {
  /** Tokens of each intermediate generation (HyDE's passage, Iter-RetGen's drafts). */
  readonly draftTokens?: number;
  /** Iter-RetGen's rounds of retrieval (default 2). */
  readonly rounds?: number;
  /** Observe a growing draft every this many characters of new text (default 24). */
  readonly observeEvery?: number;
}

export interface GatheredPassages {
  readonly passages: Passage[];
  /** Each retrieval's query, in order. */
  readonly queries: string[];
  /** The intermediate texts generated (HyDE's passage, Iter-RetGen's drafts). */
  readonly drafts: string[];
}

export function hydePrompt(question: string): string {
  return `Write a short passage that answers the question.\nQuestion: ${question}\nPassage:`;
}

/** The passages numbered [1]…[n], as the grounded prompt and the server's system message show them. */
export function passageBlock(passages: readonly Passage[]): string {
  return passages.map((p, i) => `[${i + 1}] ${p.text}`).join('\n');
}

export function groundedPrompt(question: string, passages: readonly Passage[]): string {
  return `Answer the question using the passages.\nPassages:\n${passageBlock(passages)}\nQuestion: ${question}\nAnswer:`;
}

export async function gatherPassages(
  name: PipelineName,
  question: string,
  generate: TextGenerator,
  retriever: PassageRetriever,
  o: PipelineOptions = {},
): Promise<GatheredPassages> {
  const draftTokens = o.draftTokens ?? 48;
  if (name === 'plain') return { passages: await retriever.retrieve(question), queries: [question], drafts: [] };
  if (name === 'hyde') {
    const passage = await generate(hydePrompt(question), {
      maxTokens: draftTokens,
      onText: observer(question, retriever, o),
    });
    const query = `${question} ${passage}`;
    return { passages: await retriever.retrieve(query), queries: [query], drafts: [passage] };
  }
  const rounds = Math.max(1, o.rounds ?? 2);
  const queries: string[] = [];
  const drafts: string[] = [];
  let passages: Passage[] = [];
  for (let r = 0; r < rounds; r++) {
    const query = r === 0 ? question : `${question} ${drafts.at(-1)!}`;
    queries.push(query);
    passages = await retriever.retrieve(query);
    if (r + 1 < rounds) {
      // the draft is what the next query is made of: observe it so its clusters prefetch
      const draft = await generate(groundedPrompt(question, passages), {
        maxTokens: draftTokens,
        onText: observer(question, retriever, o),
      });
      drafts.push(draft);
    }
  }
  return { passages, queries, drafts };
}

/** Hands the growing draft (after the question, as the query will read) to lookahead, throttled. */
function observer(question: string, retriever: PassageRetriever, o: PipelineOptions): (soFar: string) => void {
  const every = o.observeEvery ?? 24;
  let observedAt = 0;
  return (soFar) => {
    if (soFar.length - observedAt < every) return;
    observedAt = soFar.length;
    retriever.observe(`${question} ${soFar}`);
  };
}
