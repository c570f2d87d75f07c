/**
 * A tiny datastore for pipeline tests: a few dozen short passages over a small vocabulary, embedded
 * by the bag-of-words embedder over seeded random word vectors (so the embedder is the real code and
 * the vectors need no download), and the float64 exact top-k that retrieval is checked against.
 */
import { BagOfWordsEmbedder, type Embedder, type TextStore, buildTextStore, exactSearch } from '../../src/rag/index.js';
import { Rng } from '../../src/util/rng.js';

export const TOPICS = {
  cats: 'cat kitten whiskers purr mouse',
  ships: 'ship sail harbor ocean anchor',
  bread: 'bread flour oven yeast baker',
  stars: 'star telescope planet orbit comet',
  music: 'violin melody choir song rhythm',
} as const;

const FILLER = 'the a of and is in on with by to'.split(' ');
export const D = 16;

export function tinyEmbedder(seed: number): Embedder {
  const rng = new Rng(seed);
  const words = [...new Set([...Object.values(TOPICS).join(' ').split(' '), ...FILLER])].sort();
  const vectors: Record<string, number[]> = {};
  for (const w of words) vectors[w] = Array.from({ length: D }, () => rng.normal());
  const bow = new BagOfWordsEmbedder({ dimensions: D, vectors });
  return async (texts) => texts.map((t) => bow.embed(t) ?? new Float32Array(D));
}

/** Passages of 6-9 words, each mostly from one topic. */
export function tinyPassages(seed: number, n = 40): { text: string; source: string }[] {
  const rng = new Rng(seed + 1);
  const names = Object.keys(TOPICS) as (keyof typeof TOPICS)[];
  return Array.from({ length: n }, (_, i) => {
    const topic = names[i % names.length]!;
    const pool = TOPICS[topic].split(' ');
    const words = Array.from({ length: rng.int(6, 9) }, () => (rng.next() < 0.7 ? rng.pick(pool) : rng.pick(FILLER)));
    return { text: words.join(' '), source: `${topic}#${i}` };
  });
}

export async function tinyStore(seed: number, embed: Embedder): Promise<TextStore> {
  return buildTextStore(tinyPassages(seed), embed, { embedderName: 'tiny', seed, nlist: 6 });
}

/** The ids of the exact (float64) k nearest passages to `query`'s embedding. */
export async function exactIds(store: TextStore, embed: Embedder, query: string, k: number): Promise<number[]> {
  const [q] = await embed([query]);
  return Array.from(exactSearch(store.ivf, q!, k).ids).filter((x) => x >= 0);
}
