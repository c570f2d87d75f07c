/**
 * FLARE (active retrieval, the "direct" form): retrieve for the question, then write the answer a
 * sentence at a time. Each next sentence is first generated tentatively from the current
 * passages; if every token of it is at least `flareThreshold` likely it is kept as is, otherwise
 * retrieval runs with the question plus the tentative sentence with its unsure pieces masked out,
 * and the sentence is written again from the new passages. Token probabilities come from the
 * generator's log-probabilities (the engine's `logprobs`); masking works per generated piece, the
 * unit the generator reports text in (one or a few tokens).
 *
 * Lookahead: the tentative sentence is the query retrieval would use, so it is observed while it
 * is generated (question first, as the query reads); when the sentence turns out uncertain, its
 * clusters are already uploading. Confident sentences waste their prefetch, the price of not
 * knowing in advance whether retrieval will trigger.
 */
import {
  type GatheredPassages,
  type GeneratedPiece,
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

export function flarePrompt(question: string, passages: readonly Passage[], answer: string): string {
  return `Answer the question using the passages.\nPassages:\n${passageBlock(passages)}\nQuestion: ${question}\nAnswer:${answer ? ` ${answer}` : ''}`;
}

/** The tentative sentence with the pieces holding an unlikely token removed: FLARE's masked query. */
export function maskedQuery(pieces: readonly GeneratedPiece[], threshold: number): string {
  const floor = Math.log(threshold);
  return pieces
    .filter((p) => p.logprobs.every((lp) => lp >= floor))
    .map((p) => p.text)
    .join('')
    .replace(/\s+/g, ' ')
    .trim();
}

export async function activeRetrieval(
  question: string,
  generate: TextGenerator,
  retriever: PassageRetriever,
  o: PipelineOptions,
): Promise<GatheredPassages> {
  const rounds = Math.max(1, o.rounds ?? 3);
  const threshold = o.flareThreshold ?? 0.4;
  const maxTokens = o.draftTokens ?? 48;
  const queries = [question];
  const lists: Passage[][] = [await retriever.retrieve(question)];
  const sentences: string[] = [];
  // one sentence per step; at most `rounds` retrievals in all, and as many sentences again
  for (let step = 0; step < 2 * rounds; step++) {
    checkAborted(o.signal);
    const pieces: GeneratedPiece[] = [];
    const answer = sentences.join(' ');
    const tentative = await generate(flarePrompt(question, lists.at(-1)!, answer), {
      maxTokens,
      stopWhen: endsSentence,
      onPiece: (p) => pieces.push(p),
      onText: observer(retriever, o, (soFar) => `${question} ${soFar.trim()}`),
    });
    checkAborted(o.signal);
    let sentence = firstSentence(tentative);
    if (!sentence) break;
    const floor = Math.log(threshold);
    if (queries.length < rounds && pieces.some((p) => p.logprobs.some((lp) => lp < floor))) {
      const query = `${question} ${maskedQuery(pieces, threshold)}`.trim();
      queries.push(query);
      lists.push(await retriever.retrieve(query));
      sentence = firstSentence(
        await generate(flarePrompt(question, lists.at(-1)!, answer), { maxTokens, stopWhen: endsSentence }),
      );
      checkAborted(o.signal);
      if (!sentence) break;
    }
    sentences.push(sentence);
    // a reply that stopped without ending its sentence has nothing more to say
    if (!endsSentence(tentative)) break;
  }
  return { passages: mergePassages(lists), queries, drafts: sentences };
}
