/**
 * The TeleRAG paper's other pipelines (SubQ, IRG, FLARE, Self-RAG-style) driven by a scripted
 * generator over the tiny datastore with nprobe = nlist, so each retrieval must equal float64
 * exact search of the query the program is defined to make: the queries, the retrieval calls
 * (counted by a wrapping retriever), what is observed for lookahead, and the merged passages
 * (round-robin by rank, computed here from exact ids). Then the lookahead hit rate on a store
 * whose clusters are known by construction, against a hand count.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { CpuBackend } from '../../src/backends/cpu/cpu-backend.js';
import {
  type Embedder,
  GpuClusterCache,
  type Passage,
  type PassageRetriever,
  type TextStore,
  TextStoreRetriever,
  buildTextStore,
  endsSentence,
  firstSentence,
  gatherPassages,
  maskedQuery,
  mergePassages,
  parseSubQuestions,
  verdictOf,
} from '../../src/rag/index.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { scriptedGenerator } from './scripted-generator.js';
import { TOPICS, exactIds, tinyEmbedder, tinyStore } from './tiny-corpus.js';

const seed = testSeed();
afterAll(() => console.log(`pipelines (paper): ${seedNote(seed)}`));
const embed = tinyEmbedder(seed);
const K = 3;

/** Counts retrievals and records observations around a real retriever. */
function counting(inner: PassageRetriever) {
  const log = { retrieved: [] as string[], observed: [] as string[] };
  const retriever: PassageRetriever = {
    observe: (t) => {
      log.observed.push(t);
      inner.observe(t);
    },
    retrieve: (q) => {
      log.retrieved.push(q);
      return inner.retrieve(q);
    },
  };
  return { retriever, log };
}

/** Round-robin by rank, each id once, capped at the longest list: the merge the programs promise. */
function roundRobin(lists: number[][]): number[] {
  const out: number[] = [];
  const cap = Math.max(...lists.map((l) => l.length));
  for (let rank = 0; rank < cap; rank++)
    for (const l of lists) if (rank < l.length && !out.includes(l[rank]!) && out.length < cap) out.push(l[rank]!);
  return out;
}

const ids = (ps: readonly Passage[]) => ps.map((p) => p.id);
const ln = Math.log;

describe(`text rules of the pipelines (${seedNote(seed)})`, () => {
  it('sentences, verdicts, sub-question lists, masked queries and merges', () => {
    expect(endsSentence('The ship')).toBe(false);
    expect(endsSentence('The ship sails.')).toBe(true);
    expect(endsSentence(' e.g')).toBe(false);
    expect(firstSentence(' The ship sails. Then more')).toBe('The ship sails.');
    expect(firstSentence('no end mark')).toBe('no end mark');
    expect(verdictOf(' Yes, it is')).toBe('yes');
    expect(verdictOf('"no."')).toBe('no');
    expect(verdictOf('maybe not')).toBeNull();
    expect(parseSubQuestions('1. a cat?\n- b ship\n\n3) c\n4. d', 3)).toEqual(['a cat?', 'b ship', 'c']);
    const pieces = [
      { text: ' The ship', logprobs: [ln(0.9), ln(0.8)] },
      { text: ' zebra', logprobs: [ln(0.1)] },
      { text: ' sails.', logprobs: [ln(0.5)] },
    ];
    expect(maskedQuery(pieces, 0.4)).toBe('The ship sails.');
    const p = (id: number): Passage => ({ id, text: `${id}`, source: '', distance: 0 });
    expect(
      ids(
        mergePassages([
          [p(1), p(2), p(3)],
          [p(2), p(4), p(5)],
        ]),
      ),
    ).toEqual([1, 2, 4]);
    expect(ids(mergePassages([]))).toEqual([]);
  });
});

describe(`SubQ, IRG, FLARE and Self-RAG over the CPU search (${seedNote(seed)})`, async () => {
  const store = await tinyStore(seed, embed);
  const exact = (q: string) => exactIds(store, embed, q, K);
  const fresh = () => counting(new TextStoreRetriever(store, embed, { k: K, nprobe: store.ivf.nlist }));
  const q = 'where does the cat purr';

  it('SubQ retrieves once per sub-question and merges their passages', async () => {
    const subs = ['where does the ship anchor in the harbor', 'the cat and the mouse', 'bread in the oven'];
    const { generate, prompts } = scriptedGenerator(() => `1. ${subs.join('\n2. ')}\n4. star and comet\n`);
    const { retriever, log } = fresh();
    const out = await gatherPassages('subq', q, generate, retriever, { maxSubQuestions: 3, observeEvery: 1e9 });
    expect(prompts).toHaveLength(1);
    expect(out.queries).toEqual(subs);
    expect(log.retrieved).toEqual(subs);
    // the question first, then each sub-question the moment its line ends
    expect(log.observed).toEqual([q, ...subs]);
    expect(ids(out.passages)).toEqual(roundRobin(await Promise.all(subs.map(exact))));
  });

  it('IRG retrieves for the question, then for each new sentence, until one states the answer', async () => {
    const thoughts = ['The ship sails to the harbor.', 'The anchor is in the ocean.', 'So the answer is the harbor.'];
    let call = 0;
    const { generate, prompts } = scriptedGenerator(() => ` ${thoughts[call++]} And then`);
    const { retriever, log } = fresh();
    const out = await gatherPassages('irg', q, generate, retriever, { rounds: 5, observeEvery: 8 });
    expect(out.drafts).toEqual(thoughts);
    expect(out.queries).toEqual([q, thoughts[0], thoughts[1]]);
    expect(log.retrieved).toEqual(out.queries);
    expect(prompts[2]).toContain(`Reasoning: ${thoughts[0]} ${thoughts[1]}`);
    // the sentence was observed while written, as the query will read (no question prefix)
    expect(log.observed.some((t) => thoughts[0]!.startsWith(t) && t.length < thoughts[0]!.length)).toBe(true);
    expect(ids(out.passages)).toEqual(roundRobin(await Promise.all(out.queries.map(exact))));
  });

  it('FLARE retrieves only for a sentence with an unlikely token, with the masked sentence as the query', async () => {
    const replies = [
      [
        { text: ' The cat', logprobs: [ln(0.9), ln(0.7)] },
        { text: ' purrs.', logprobs: [ln(0.6)] },
      ],
      [
        { text: ' The ship', logprobs: [ln(0.9), ln(0.9)] },
        { text: ' zebra', logprobs: [ln(0.1)] },
        { text: ' sails.', logprobs: [ln(0.9)] },
      ],
      [{ text: ' The ship sails to the harbor.', logprobs: [0] }],
      [{ text: ' Done', logprobs: [0] }],
    ];
    let call = 0;
    const { generate, prompts } = scriptedGenerator(() => replies[call++]!);
    const { retriever, log } = fresh();
    const out = await gatherPassages('flare', q, generate, retriever, { rounds: 3, flareThreshold: 0.4 });
    const masked = `${q} The ship sails.`;
    expect(out.queries).toEqual([q, masked]);
    expect(log.retrieved).toEqual([q, masked]);
    expect(out.drafts).toEqual(['The cat purrs.', 'The ship sails to the harbor.', 'Done']);
    expect(prompts).toHaveLength(4);
    // the rewrite of the uncertain sentence reads the passages of its masked query
    const second = await exact(masked);
    for (const id of second) expect(prompts[2]).toContain(store.passages[id]!.text);
    expect(prompts[2]).toContain('Answer: The cat purrs.');
    expect(ids(out.passages)).toEqual(roundRobin([await exact(q), second]));
  });

  it('Self-RAG-style keeps the passages judged relevant, and skips retrieval when told it is not needed', async () => {
    const catWords = TOPICS.cats.split(' ');
    const { generate } = scriptedGenerator((prompt) => {
      if (prompt.startsWith('Does answering')) return prompt.includes('hello') ? ' No.' : ' Yes';
      const passage = /Passage: (.*)\n/.exec(prompt)![1]!;
      return catWords.some((w) => passage.includes(w)) ? ' Yes' : ' No';
    });
    const { retriever, log } = fresh();
    const out = await gatherPassages('self-rag', q, generate, retriever);
    expect(log.observed).toEqual([q]);
    expect(log.retrieved).toEqual([q]);
    const want = (await exact(q)).filter((id) => catWords.some((w) => store.passages[id]!.text.includes(w)));
    expect(ids(out.passages)).toEqual(want);
    expect(out.drafts).toHaveLength(1 + K);

    const none = fresh();
    const skipped = await gatherPassages('self-rag', 'hello there', generate, none.retriever);
    expect(none.log.retrieved).toEqual([]);
    expect(skipped.passages).toEqual([]);
    expect(skipped.queries).toEqual([]);
  });

  it('stops between steps once its signal is aborted', async () => {
    const ctl = new AbortController();
    const { generate } = scriptedGenerator(() => {
      ctl.abort(new Error('client went away'));
      return ' one\n two\n';
    });
    const { retriever, log } = fresh();
    await expect(gatherPassages('subq', q, generate, retriever, { signal: ctl.signal })).rejects.toThrow(
      'client went away',
    );
    expect(log.retrieved).toEqual([]);
  });
});

describe(`lookahead hit rate against a hand count (${seedNote(seed)})`, async () => {
  // four topic words embed to the four unit axes; every passage is one topic word repeated, so the
  // four IVF clusters are exactly the four topics and a query's one probed cluster is its topic's
  const words = ['cat', 'ship', 'bread', 'star'];
  const axes: Embedder = async (texts) =>
    texts.map((t) => {
      const v = new Float32Array(4);
      for (const w of t.split(/\s+/)) if (words.includes(w)) v[words.indexOf(w)]! += 1;
      const n = Math.hypot(...v) || 1;
      return v.map((x) => x / n);
    });
  const passages = words.flatMap((w) =>
    Array.from({ length: 5 }, (_, i) => ({ text: `${w} `.repeat(i + 1), source: w })),
  );
  const store: TextStore = await buildTextStore(passages, axes, { embedderName: 'axes', seed, nlist: 4 });
  const retrieverWithCache = () =>
    new TextStoreRetriever(store, axes, {
      k: 2,
      nprobe: 1,
      cache: new GpuClusterCache(new CpuBackend(), store.ivf, 1 << 30),
      lookahead: { minPrefetch: 1, maxPrefetch: 1 },
    });

  it('the clusters are the topics', () => {
    const clusterOf = new Map<number, string>();
    for (let c = 0; c < 4; c++)
      for (let r = store.ivf.offsets[c]!; r < store.ivf.offsets[c + 1]!; r++) {
        const topic = store.passages[store.ivf.ids[r]!]!.source;
        expect(clusterOf.get(c) ?? topic).toBe(topic);
        clusterOf.set(c, topic);
      }
    expect(new Set(clusterOf.values()).size).toBe(4);
  });

  it('SubQ: the finished first line hits, the unfinished last line misses: 1 of 2', async () => {
    // observed: 'bread' (the question) and 'ship ship' (a finished line); 'cat cat' is never finished
    const { generate } = scriptedGenerator(() => 'ship ship\ncat cat');
    const r = retrieverWithCache();
    const out = await gatherPassages('subq', 'bread', generate, r, { observeEvery: 1e9 });
    expect(out.queries).toEqual(['ship ship', 'cat cat']);
    expect(r.retrievals).toBe(2);
    expect(r.lookaheadStats).toMatchObject({ queries: 2, probed: 2, hits: 1, prefetched: 2, uploaded: 2 });
    expect(r.hitRate).toBe(0.5);
  });

  it('Self-RAG-style: the question is observed before the decision, so its one retrieval hits: 1 of 1', async () => {
    const { generate } = scriptedGenerator(() => ' Yes');
    const r = retrieverWithCache();
    await gatherPassages('self-rag', 'star', generate, r);
    expect(r.retrievals).toBe(1);
    expect(r.hitRate).toBe(1);
    const idle = retrieverWithCache();
    expect(idle.hitRate).toBeNull();
  });
});
