/**
 * SubQ: the model decomposes the question into sub-questions, one per line; each is retrieved for
 * on its own and the passages merged round-robin, so every sub-question grounds the answer.
 *
 * Lookahead: the question is observed before the decomposition starts (sub-questions stay near
 * it, so its clusters are a first guess that overlaps the whole generation); then each
 * sub-question is observed while it is written (its partial line, throttled) and again the moment
 * its line ends, when its text, and so its query, is exact. By the time the list is finished every
 * sub-question's clusters have been asked for, most of them while later lines were generated.
 */
import {
  type GatheredPassages,
  type PipelineOptions,
  type TextGenerator,
  checkAborted,
  mergePassages,
} from './pipelines-common.js';
import type { Passage, PassageRetriever } from './pipelines-retriever.js';

export function subQuestionPrompt(question: string, most: number): string {
  return `Break the question into at most ${most} simpler questions, one per line.\nQuestion: ${question}\nSimpler questions:\n`;
}

/** The sub-questions of a generated list: one per non-empty line, numbering and bullets removed. */
export function parseSubQuestions(text: string, most: number): string[] {
  return text
    .split('\n')
    .map((l) => l.replace(/^\s*(?:\d+[.)]|[-*•])\s*/, '').trim())
    .filter((l) => /\w/.test(l))
    .slice(0, most);
}

export async function subQuestions(
  question: string,
  generate: TextGenerator,
  retriever: PassageRetriever,
  o: PipelineOptions,
): Promise<GatheredPassages> {
  const most = Math.max(1, o.maxSubQuestions ?? 3);
  const every = o.observeEvery ?? 24;
  retriever.observe(question);
  let completeLines = 0;
  let observedAt = 0;
  const list = await generate(subQuestionPrompt(question, most), {
    maxTokens: o.draftTokens ?? 48,
    stopWhen: (soFar) => parseSubQuestions(soFar.split('\n').slice(0, -1).join('\n'), most).length >= most,
    onText: (soFar) => {
      const lines = soFar.split('\n');
      // lines before the last are finished: their queries are exact now
      for (; completeLines < lines.length - 1; completeLines++) {
        const [sub] = parseSubQuestions(lines[completeLines]!, 1);
        if (sub) retriever.observe(sub);
        observedAt = soFar.length;
      }
      if (soFar.length - observedAt >= every) {
        observedAt = soFar.length;
        const [partial] = parseSubQuestions(lines.at(-1)!, 1);
        if (partial) retriever.observe(partial);
      }
    },
  });
  checkAborted(o.signal);
  const subs = parseSubQuestions(list, most);
  // a list the model failed to write leaves the question itself as the one query
  const queries = subs.length ? subs : [question];
  const lists: Passage[][] = [];
  for (const q of queries) lists.push(await retriever.retrieve(q));
  return { passages: mergePassages(lists), queries, drafts: [list] };
}
