/** The bag-of-words embedder against a float64 mean of unit word vectors computed here. */
import { describe, expect, it } from 'vitest';
import { BagOfWordsEmbedder } from '../../src/rag/index.js';

// trailing fields past the dimensions (wink's norm and word index) must be ignored
const table = {
  dimensions: 3,
  vectors: { cat: [3, 0, 4, 5, 0], dog: [0, 2, 0, 2, 1], "don't": [1, 1, 1, 1.7, 2] },
};

describe('bag-of-words embedder', () => {
  const e = new BagOfWordsEmbedder(table);

  it('is the unit-length mean of the unit vectors of the known words', () => {
    const got = e.embed('The CAT, the dog; and a zebra.')!;
    const mean = [0.6 / 2, 1 / 2, 0.8 / 2];
    const norm = Math.hypot(...mean);
    mean.forEach((m, j) => expect(got[j]).toBeCloseTo(m / norm, 6));
  });

  it('counts repeated words and keeps inner apostrophes', () => {
    expect(BagOfWordsEmbedder.words("Don't stop, cat-dog 42")).toEqual(["don't", 'stop', 'cat', 'dog', '42']);
    const twice = e.embed('cat cat dog')!;
    const mean = [1.2, 1, 1.6];
    const norm = Math.hypot(...mean);
    mean.forEach((m, j) => expect(twice[j]).toBeCloseTo(m / norm, 6));
  });

  it('returns null for a text without a known word', () => {
    expect(e.embed('zebra giraffe')).toBeNull();
    expect(e.embed('')).toBeNull();
  });
});
