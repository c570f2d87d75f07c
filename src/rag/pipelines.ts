/**
 * RAG pipelines as programs over a text generator and a retriever: the six of the TeleRAG paper
 * (HyDE, SubQ, Iter-RetGen, IRG, FLARE, Self-RAG-style) and plain retrieve-then-read. Each program
 * gathers the passages the final answer is grounded in, generating whatever intermediate text its
 * queries need; the caller writes the final answer from `groundedPrompt` (the CLI) or from chat
 * messages carrying the passages (the server), so the last generation runs wherever the caller's
 * sampling and streaming live.
 *
 * Each program hands `retriever.observe` the text that will become its next query as soon as it
 * is known or while it is being generated (lookahead: the clusters that query will probe are
 * prefetched to the GPU meanwhile). What is observed when, per program:
 *
 * | pipeline | query | observed |
 * |---|---|---|
 * | plain | the question | nothing (no generation to overlap) |
 * | hyde | question + hypothetical passage | the partial passage, question first, as it grows |
 * | subq | each sub-question | the question first; each line while written and when it ends (`pipelines-subq.ts`) |
 * | iter-retgen | question + previous round's draft | the draft, question first, as it grows |
 * | irg | the question, then each new reasoning sentence | the sentence as it grows (`pipelines-irg.ts`) |
 * | flare | the question, then question + masked uncertain sentence | the tentative sentence as it grows (`pipelines-flare.ts`) |
 * | self-rag | the question | the question, before the retrieval decision is generated (`pipelines-self-rag.ts`) |
 */
import { activeRetrieval } from './pipelines-flare.js';
import { interleavedRetrieval } from './pipelines-irg.js';
import { selfRag } from './pipelines-self-rag.js';
import { subQuestions } from './pipelines-subq.js';
import {
  type GatheredPassages,
  type PipelineOptions,
  type TextGenerator,
  checkAborted,
  groundedPrompt,
  observer,
} from './pipelines-common.js';
import type { Passage, PassageRetriever } from './pipelines-retriever.js';

export * from './pipelines-common.js';
export { maskedQuery, flarePrompt } from './pipelines-flare.js';
export { irgPrompt } from './pipelines-irg.js';
export { relevancePrompt, retrievalNeedPrompt } from './pipelines-self-rag.js';
export { parseSubQuestions, subQuestionPrompt } from './pipelines-subq.js';

export const PIPELINES = ['plain', 'hyde', 'subq', 'iter-retgen', 'irg', 'flare', 'self-rag'] as const;
export type PipelineName = (typeof PIPELINES)[number];

export function isPipelineName(x: unknown): x is PipelineName {
  return typeof x === 'string' && (PIPELINES as readonly string[]).includes(x);
}

export function hydePrompt(question: string): string {
  return `Write a short passage that answers the question.\nQuestion: ${question}\nPassage:`;
}

export async function gatherPassages(
  name: PipelineName,
  question: string,
  generate: TextGenerator,
  retriever: PassageRetriever,
  o: PipelineOptions = {},
): Promise<GatheredPassages> {
  checkAborted(o.signal);
  switch (name) {
    case 'plain':
      return { passages: await retriever.retrieve(question), queries: [question], drafts: [] };
    case 'hyde':
      return hyde(question, generate, retriever, o);
    case 'subq':
      return subQuestions(question, generate, retriever, o);
    case 'iter-retgen':
      return iterRetGen(question, generate, retriever, o);
    case 'irg':
      return interleavedRetrieval(question, generate, retriever, o);
    case 'flare':
      return activeRetrieval(question, generate, retriever, o);
    case 'self-rag':
      return selfRag(question, generate, retriever, o);
  }
}

/** HyDE: the model writes a hypothetical passage; the question plus that passage is the query. */
async function hyde(
  question: string,
  generate: TextGenerator,
  retriever: PassageRetriever,
  o: PipelineOptions,
): Promise<GatheredPassages> {
  const passage = await generate(hydePrompt(question), {
    maxTokens: o.draftTokens ?? 48,
    onText: observer(retriever, o, (soFar) => `${question} ${soFar}`),
  });
  checkAborted(o.signal);
  const query = `${question} ${passage}`;
  return { passages: await retriever.retrieve(query), queries: [query], drafts: [passage] };
}

/**
 * Iter-RetGen: retrieval and generation alternate; each round's draft answer, appended to the
 * question, is the next round's query, and the last round's passages ground the final answer.
 */
async function iterRetGen(
  question: string,
  generate: TextGenerator,
  retriever: PassageRetriever,
  o: PipelineOptions,
): Promise<GatheredPassages> {
  const rounds = Math.max(1, o.rounds ?? 2);
  const queries: string[] = [];
  const drafts: string[] = [];
  let passages: Passage[] = [];
  for (let r = 0; r < rounds; r++) {
    const query = r === 0 ? question : `${question} ${drafts.at(-1)!}`;
    queries.push(query);
    passages = await retriever.retrieve(query);
    if (r + 1 < rounds) {
      const draft = await generate(groundedPrompt(question, passages), {
        maxTokens: o.draftTokens ?? 48,
        onText: observer(retriever, o, (soFar) => `${question} ${soFar}`),
      });
      checkAborted(o.signal);
      drafts.push(draft);
    }
  }
  return { passages, queries, drafts };
}
