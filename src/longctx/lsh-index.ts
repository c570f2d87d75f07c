/**
 * Hash tables over a key set: per table, the key ids grouped by code (a counting sort, so a bucket
 * is one contiguous run of ids), and the candidate search of one query: walk the query's bucket in
 * every table, count collisions per key, and keep the keys that reach the threshold. The counts
 * live in one array reused across queries and are cleared by the list of keys touched, so a query
 * costs the buckets it visits, not the context length.
 */
import { type LshConfig, SimHash } from './simhash.js';

export class LshIndex {
  readonly hash: SimHash;
  /** Per table, 2^K + 1 bucket starts into `ids`. */
  private readonly starts: Uint32Array;
  /** Per table, n key ids ordered by code. */
  private readonly ids: Uint32Array;
  private readonly counts: Uint16Array;
  private readonly touched: Uint32Array;
  private readonly found: Uint32Array;
  private readonly queryCodes: Uint16Array;

  private constructor(
    hash: SimHash,
    readonly n: number,
    readonly keyCodes: Uint16Array,
  ) {
    this.hash = hash;
    const { bits, tables } = hash.config;
    const buckets = 1 << bits;
    this.starts = new Uint32Array(tables * (buckets + 1));
    this.ids = new Uint32Array(tables * n);
    for (let t = 0; t < tables; t++) {
      const s0 = t * (buckets + 1);
      for (let i = 0; i < n; i++) this.starts[s0 + keyCodes[i * tables + t]! + 1]!++;
      for (let c = 0; c < buckets; c++) this.starts[s0 + c + 1]! += this.starts[s0 + c]!;
      const fill = this.starts.slice(s0, s0 + buckets);
      for (let i = 0; i < n; i++) this.ids[t * n + fill[keyCodes[i * tables + t]!]!++] = i;
    }
    this.counts = new Uint16Array(n);
    this.touched = new Uint32Array(n);
    this.found = new Uint32Array(n);
    this.queryCodes = new Uint16Array(tables);
  }

  /** Hashes `n` keys (row-major [n, dim], f32) and builds the tables. */
  static build(keys: Float32Array, n: number, dim: number, config: LshConfig): LshIndex {
    const hash = new SimHash(dim, config);
    return new LshIndex(hash, n, hash.hashRows(keys, n));
  }

  /** Ids of keys in [lo, hi) colliding with the query in ≥ minCollisions tables, ascending. The view is reused by the next call. */
  candidates(q: ArrayLike<number>, lo = 0, hi = this.n): Uint32Array {
    const { bits, tables, minCollisions } = this.hash.config;
    this.hash.hashRow(q, 0, this.queryCodes);
    const buckets = 1 << bits;
    const { counts, touched, found, ids, starts, n } = this;
    let nTouched = 0;
    let nFound = 0;
    for (let t = 0; t < tables; t++) {
      const s0 = t * (buckets + 1) + this.queryCodes[t]!;
      const end = starts[s0 + 1]!;
      for (let j = starts[s0]!; j < end; j++) {
        const id = ids[t * n + j]!;
        const c = ++counts[id]!;
        if (c === 1) touched[nTouched++] = id;
        if (c === minCollisions && id >= lo && id < hi) found[nFound++] = id;
      }
    }
    for (let j = 0; j < nTouched; j++) counts[touched[j]!] = 0;
    return found.subarray(0, nFound).sort();
  }
}
