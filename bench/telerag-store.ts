/**
 * The datastore of the pipeline latency bench: built in seconds at a size past the GPU cluster
 * budget, with a query embedder whose cluster rankings move smoothly as a text grows (what
 * lookahead relies on in a real embedding space).
 *
 * - Centroids lie near a low-rank subspace (rank 16 of d), so clusters near one another in that
 *   subspace rank together and a query's top-nprobe clusters are a neighbourhood, not a random set.
 * - Every cluster holds the same number of rows: its centroid plus seeded uniform noise, laid out
 *   by the cluster that generated it (no k-means: the generating centre is the IVF centroid).
 * - The embedder is a hashed bag of words: any word maps to a centroid chosen by its hash plus
 *   its own seeded noise, a text to the mean of its words. Adding words moves the mean by 1/m of a
 *   word, so a partial text probes mostly the clusters its finished text will.
 * - Passage texts are seeded word strings from a small vocabulary, unrelated to their vectors:
 *   they give the prompts their length; the vectors give retrieval its work.
 */
import type { Embedder, IvfStore, TextStore } from '../src/rag/index.js';

const RANK = 16;
const WORDS = (
  'the of and to in is was for on that with as by at from his her it an were are which this be ' +
  'city river war king music film team science law church ship star bread school game book art ' +
  'north south old new first great small early late water light stone iron gold field house road'
).split(' ');

/** xorshift32 in [-1, 1): the noise of 10⁸–10⁹ floats must cost about a nanosecond each. */
function noise(seed: number): () => number {
  let s = seed >>> 0 || 0x9e3779b9;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2147483648 - 1;
  };
}

function hash(word: string): number {
  let h = 2166136261;
  for (let i = 0; i < word.length; i++) h = Math.imul(h ^ word.charCodeAt(i), 16777619);
  return h >>> 0;
}

export interface SyntheticStoreOptions {
  readonly seed: number;
  readonly nlist: number;
  readonly rowsPerCluster: number;
  readonly d: number;
  /** Noise amplitude of a row around its centroid, per coordinate (default 0.5). */
  readonly spread?: number;
}

export function syntheticTextStore(o: SyntheticStoreOptions): { store: TextStore; embed: Embedder } {
  const { nlist, rowsPerCluster: per, d } = o;
  const spread = o.spread ?? 0.5;
  const rnd = noise(o.seed);
  const basis = Float32Array.from({ length: d * RANK }, () => rnd() * Math.sqrt(3 / RANK) * 2);
  const centroids = new Float32Array(nlist * d);
  for (let c = 0; c < nlist; c++) {
    const z = Array.from({ length: RANK }, () => rnd() * Math.sqrt(3));
    for (let j = 0; j < d; j++) {
      let v = 0.2 * rnd();
      for (let r = 0; r < RANK; r++) v += basis[j * RANK + r]! * z[r]!;
      centroids[c * d + j] = v;
    }
  }
  const n = nlist * per;
  const vectors = new Float32Array(n * d);
  for (let c = 0; c < nlist; c++)
    for (let i = c * per; i < (c + 1) * per; i++)
      for (let j = 0; j < d; j++) vectors[i * d + j] = centroids[c * d + j]! + spread * rnd();
  const offsets = Int32Array.from({ length: nlist + 1 }, (_, c) => c * per);
  const ivf: IvfStore = {
    d,
    nlist,
    dtype: 'f32',
    centroids,
    offsets,
    ids: Int32Array.from({ length: n }, (_, i) => i),
    vectors,
  };

  const words = noise(o.seed + 1);
  const passages = Array.from({ length: n }, (_, id) => ({
    id,
    text: Array.from({ length: 14 }, () => WORDS[Math.floor((words() + 1) * 0.5 * WORDS.length)]!).join(' '),
    source: `synthetic#${id}`,
  }));

  const wordVectors = new Map<string, Float32Array>();
  const wordVector = (w: string): Float32Array => {
    let v = wordVectors.get(w);
    if (!v) {
      const h = hash(w);
      const c = h % nlist;
      const r = noise(h);
      v = Float32Array.from({ length: d }, (_, j) => centroids[c * d + j]! + spread * r());
      wordVectors.set(w, v);
    }
    return v;
  };
  const embed: Embedder = async (texts) =>
    texts.map((t) => {
      const ws = t.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? ['<empty>'];
      const out = new Float32Array(d);
      for (const w of ws) {
        const v = wordVector(w);
        for (let j = 0; j < d; j++) out[j]! += v[j]! / ws.length;
      }
      return out;
    });
  return { store: { ivf, passages, embedder: 'hashed-bag-of-words' }, embed };
}
