/**
 * The k nearest of a stream of (distance, id) candidates: a bounded max-heap ordered by distance,
 * then id, so every path (CPU scan, GPU scan, exact search) breaks ties the same way and their
 * results can be compared id for id.
 */
export class TopK {
  private readonly dist: Float64Array;
  private readonly id: Int32Array;
  private size = 0;

  constructor(readonly k: number) {
    this.dist = new Float64Array(k);
    this.id = new Int32Array(k);
  }

  /** The distance a candidate must beat to enter (Infinity until the heap is full). */
  bound(): number {
    return this.size < this.k ? Infinity : this.dist[0]!;
  }

  private worse(i: number, j: number): boolean {
    const a = this.dist[i]!;
    const b = this.dist[j]!;
    return a > b || (a === b && this.id[i]! > this.id[j]!);
  }

  push(d: number, id: number): void {
    if (this.k === 0) return;
    if (this.size < this.k) {
      let i = this.size++;
      this.dist[i] = d;
      this.id[i] = id;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (!this.worse(i, p)) break;
        this.swap(i, p);
        i = p;
      }
      return;
    }
    const top = this.dist[0]!;
    if (d > top || (d === top && id >= this.id[0]!)) return;
    this.dist[0] = d;
    this.id[0] = id;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let w = i;
      if (l < this.size && this.worse(l, w)) w = l;
      if (r < this.size && this.worse(r, w)) w = r;
      if (w === i) break;
      this.swap(i, w);
      i = w;
    }
  }

  private swap(i: number, j: number): void {
    const d = this.dist[i]!;
    this.dist[i] = this.dist[j]!;
    this.dist[j] = d;
    const t = this.id[i]!;
    this.id[i] = this.id[j]!;
    this.id[j] = t;
  }

  /** Nearest first, written at `at` into `ids`/`dists`; slots past the candidates seen get id −1, distance Infinity. */
  writeSorted(ids: Int32Array, dists: Float32Array, at: number): void {
    const order = Array.from({ length: this.size }, (_, i) => i).sort(
      (a, b) => this.dist[a]! - this.dist[b]! || this.id[a]! - this.id[b]!,
    );
    for (let j = 0; j < this.k; j++) {
      const i = order[j];
      ids[at + j] = i === undefined ? -1 : this.id[i]!;
      dists[at + j] = i === undefined ? Infinity : this.dist[i]!;
    }
  }
}

/** Results of a batch of queries: row i holds query i's k nearest, nearest first. */
export interface SearchResult {
  readonly k: number;
  readonly ids: Int32Array;
  readonly dists: Float32Array;
}

export function collect(heaps: readonly TopK[], k: number): SearchResult {
  const ids = new Int32Array(heaps.length * k);
  const dists = new Float32Array(heaps.length * k);
  heaps.forEach((h, i) => h.writeSorted(ids, dists, i * k));
  return { k, ids, dists };
}

/** Mean over queries of |found ∩ truth| / k (recall@k), each row's −1 padding ignored. */
export function recallAtK(found: SearchResult, truth: SearchResult): number {
  const k = truth.k;
  const nq = truth.ids.length / k;
  let sum = 0;
  for (let i = 0; i < nq; i++) {
    const want = new Set(Array.from(truth.ids.subarray(i * k, (i + 1) * k)).filter((x) => x >= 0));
    let hit = 0;
    for (let j = 0; j < found.k; j++) if (want.has(found.ids[i * found.k + j]!)) hit++;
    sum += want.size === 0 ? 1 : hit / want.size;
  }
  return sum / nq;
}
