/**
 * IRG, iterative retrieval-generation interleaved sentence by sentence (in the manner of IRCoT):
 * retrieve for the question, then repeatedly let the model write one more reasoning sentence from
 * the passages gathered so far and retrieve with that sentence as the query, adding its passages.
 * It stops when a sentence states the answer ("answer is"), when the model writes nothing, or
 * after `rounds` retrievals. Unlike Iter-RetGen, whose query is the question plus a whole draft
 * answer and whose last round's passages replace the earlier ones, IRG's query is only the newest
 * sentence and the passages accumulate (merged round-robin).
 *
 * Lookahead: the first query (the question) is known before anything is generated; each later
 * query is the sentence being written, observed as it grows, so its clusters upload while the
 * model is still finishing it.
 */
import {
  type GatheredPassages,
  type PipelineOptions,
  type TextGenerator,
  checkAborted,
  endsSentence,
  firstSentence,
  mergePassages,
  observer,
  passageBlock,
} from './pipelines-common.js';
import type { Passage, PassageRetriever } from './pipelines-retriever.js';

export function irgPrompt(question: string, passages: readonly Passage[], thoughts: readonly string[]): string {
  const reasoning = thoughts.length ? ` ${thoughts.join(' ')}` : '';
  return `Passages:\n${passageBlock(passages)}\nQuestion: ${question}\nThink step by step, one sentence at a time; end with "So the answer is".\nReasoning:${reasoning}`;
}

export async function interleavedRetrieval(
  question: string,
  generate: TextGenerator,
  retriever: PassageRetriever,
  o: PipelineOptions,
): Promise<GatheredPassages> {
  const rounds = Math.max(1, o.rounds ?? 3);
  const queries = [question];
  const lists: Passage[][] = [await retriever.retrieve(question)];
  const thoughts: string[] = [];
  while (queries.length < rounds) {
    checkAborted(o.signal);
    const text = await generate(irgPrompt(question, mergePassages(lists), thoughts), {
      maxTokens: o.draftTokens ?? 48,
      stopWhen: endsSentence,
      onText: observer(retriever, o, (soFar) => soFar.trim()),
    });
    checkAborted(o.signal);
    const sentence = firstSentence(text);
    if (!sentence) break;
    thoughts.push(sentence);
    if (/answer is/i.test(sentence)) break;
    queries.push(sentence);
    lists.push(await retriever.retrieve(sentence));
  }
  return { passages: mergePassages(lists), queries, drafts: thoughts };
}
