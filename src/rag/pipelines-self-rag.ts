/**
 * Self-RAG-style: the model is asked whether the question needs retrieval at all; if it says no,
 * the answer is grounded in nothing. Otherwise the question is retrieved for and each passage is
 * critiqued ("is this passage relevant?"), only the passages judged relevant kept; a reply that
 * is neither yes nor no counts as yes (retrieving, keeping), the cautious side.
 *
 * How it differs from Self-RAG (Asai et al.): there a model trained to emit reflection tokens
 * ([Retrieve], [IsRel], [IsSup], [IsUse]) decides per generated segment, scores candidate segments
 * by those tokens' probabilities and keeps the best in a segment-level beam. Here an untrained chat
 * model is prompted: one retrieval decision per question, a yes/no relevance critique per passage,
 * and no support or usefulness critique of the answer (the caller writes the answer afterwards).
 *
 * Lookahead: the only query is the question, known before any generation, so it is observed first
 * and its clusters upload while the model writes the retrieval decision; a "no" wastes them.
 */
import {
  type GatheredPassages,
  type PipelineOptions,
  type TextGenerator,
  checkAborted,
  verdictOf,
} from './pipelines-common.js';
import type { Passage, PassageRetriever } from './pipelines-retriever.js';

export function retrievalNeedPrompt(question: string): string {
  return `Does answering this question need facts from documents? Reply yes or no.\nQuestion: ${question}\nReply:`;
}

export function relevancePrompt(question: string, passage: Passage): string {
  return `Is the passage relevant to the question? Reply yes or no.\nQuestion: ${question}\nPassage: ${passage.text}\nReply:`;
}

export async function selfRag(
  question: string,
  generate: TextGenerator,
  retriever: PassageRetriever,
  o: PipelineOptions,
): Promise<GatheredPassages> {
  retriever.observe(question);
  const decision = await generate(retrievalNeedPrompt(question), { maxTokens: 4 });
  checkAborted(o.signal);
  if (verdictOf(decision) === 'no') return { passages: [], queries: [], drafts: [decision] };
  const retrieved = await retriever.retrieve(question);
  const drafts = [decision];
  const kept: Passage[] = [];
  for (const p of retrieved) {
    const verdict = await generate(relevancePrompt(question, p), { maxTokens: 4 });
    checkAborted(o.signal);
    drafts.push(verdict);
    if (verdictOf(verdict) !== 'no') kept.push(p);
  }
  return { passages: kept, queries: [question], drafts };
}
