/**
 * One (layer, KV head) of a sequence's long context in CPU memory, growing as tokens are appended:
 * keys and values in f16, each key's norm and SimHash codes, and the hash tables, all in the CPU
 * backend's shared wasm memory so the pool's workers scan them in place (sampled-scan.ts).
 *
 * The tables are a built part and a tail (wasm/lsh-attention.ts): keys [0, built) grouped by code
 * per table, keys [built, n) matched by their codes directly. Rebuilding is a counting sort over
 * all n keys (n·L), the tail costs every query tail·L/8 compares, so the tail is allowed to reach
 * √(8n): a rebuild every √(8n) appends costs about √(n/8)·L per append, the tail scan about as
 * much per query (128K keys: a tail of 1K, against ~19K bucket entries a query visits at K = 10,
 * L = 150).
 *
 * Keys are hashed after rounding to f16, so the codes and the sampling probability (from the
 * stored key's angle to the query) describe the same vector.
 *
 * Bytes per key: 4·dim (K and V, f16) + 6·L (codes u16, table ids u32) + 4 (norm) + per query head
 * of the group 10 (the scan's scratch).
 */
import { cpuRuntime } from '../backends/cpu/cpu-runtime.js';
import type { Block, Heap } from '../backends/cpu/heap.js';
import { f16Bits, f16ToNumber } from '../tensor/dtype.js';
import { type CpuShard, mainShard } from './cpu-shards.js';
import type { HeapSimHash } from './heap-simhash.js';

const MIN_TAIL = 64;
const MIN_CAPACITY = 256;

export class LshKvStream {
  /** Keys stored. */
  n = 0;
  /** Keys [0, built) are in the tables; the rest are the tail. */
  built = 0;
  private capacity = 0;
  keys!: Block;
  values!: Block;
  norms!: Block;
  codes!: Block;
  ids!: Block;
  readonly starts: Block;
  /** Per query head of the group: collision counts (u16 [cap]) and key lists (u32 [2·cap]). */
  readonly scratch: { counts: Block; list: Block }[] = [];
  private destroyed = false;

  constructor(
    readonly hash: HeapSimHash,
    readonly valueDim: number,
    /** Query heads sharing this KV head (each scans with its own scratch). */
    readonly groupSize: number,
    /** The memory it lives in (the pool's kernels scan it there). */
    readonly shard: CpuShard = mainShard(),
    /** Keys to make room for at once (it grows past them by doubling). */
    capacity = MIN_CAPACITY,
  ) {
    if (hash.dim % 4 || valueDim % 4)
      throw new Error(`LshKvStream: head dims must be multiples of 4 (${hash.dim}, ${valueDim})`);
    const { tables, bits } = hash.config;
    this.starts = this.heap.alloc(tables * ((1 << bits) + 1) * 4);
    new Uint32Array(this.heap.bytes(), this.starts.offset, tables * ((1 << bits) + 1)).fill(0);
    this.grow(capacity);
  }

  get dim(): number {
    return this.hash.dim;
  }

  private get heap(): Heap {
    return this.shard.heap;
  }

  /** CPU memory this stream holds, in bytes. */
  get bytes(): number {
    let s =
      this.keys.bytes + this.values.bytes + this.norms.bytes + this.codes.bytes + this.ids.bytes + this.starts.bytes;
    for (const x of this.scratch) s += x.counts.bytes + x.list.bytes;
    return s;
  }

  private grow(atLeast: number): void {
    const cap = Math.max(MIN_CAPACITY, atLeast, 2 * this.capacity);
    const heap = this.heap;
    const { tables } = this.hash.config;
    const moved = (old: Block | undefined, bytes: number, used: number): Block => {
      const b = heap.alloc(bytes);
      if (old) {
        const buf = heap.bytes();
        new Uint8Array(buf, b.offset, used).set(new Uint8Array(buf, old.offset, used));
        heap.release(old);
      }
      return b;
    };
    const n = this.n;
    const had = this.capacity > 0;
    this.keys = moved(had ? this.keys : undefined, cap * this.dim * 2, n * this.dim * 2);
    this.values = moved(had ? this.values : undefined, cap * this.valueDim * 2, n * this.valueDim * 2);
    this.norms = moved(had ? this.norms : undefined, cap * 4, n * 4);
    this.codes = moved(had ? this.codes : undefined, cap * tables * 2 + 16, n * tables * 2);
    if (had) heap.release(this.ids);
    this.ids = heap.alloc(cap * tables * 4);
    for (const s of this.scratch) {
      heap.release(s.counts);
      heap.release(s.list);
    }
    this.scratch.length = 0;
    for (let g = 0; g < this.groupSize; g++) {
      const counts = heap.alloc(cap * 2);
      new Uint16Array(heap.bytes(), counts.offset, cap).fill(0);
      this.scratch.push({ counts, list: heap.alloc(cap * 8) });
    }
    this.capacity = cap;
    // the table ids were dropped with the old block: every key is tail until the next rebuild
    this.built = 0;
    if (n > 0) this.rebuild();
  }

  /**
   * Appends `t` rows of keys [t, dim] and values [t, valueDim] (f32, rounded to f16 here), hashing
   * the keys, or taking their codes [t][L] where they were computed already (on the device:
   * `simhash_pack`), from the same f16 keys and the same directions.
   */
  append(keys: ArrayLike<number>, values: ArrayLike<number>, t: number, codes?: ArrayLike<number>): void {
    if (this.destroyed) throw new Error('LshKvStream: appended after destroy');
    if (t === 0) return;
    if (this.n + t > this.capacity) this.grow(this.n + t);
    const { heap } = this;
    const d = this.dim;
    const dv = this.valueDim;
    const stage = heap.alloc(t * d * 4);
    try {
      const buf = heap.bytes();
      const k16 = new Uint16Array(buf, this.keys.offset + this.n * d * 2, t * d);
      const v16 = new Uint16Array(buf, this.values.offset + this.n * dv * 2, t * dv);
      const wide = new Float32Array(buf, stage.offset, t * d);
      const norms = new Float32Array(buf, this.norms.offset + this.n * 4, t);
      for (let i = 0; i < t; i++) {
        let s = 0;
        for (let e = 0; e < d; e++) {
          const h = f16Bits(keys[i * d + e]!);
          k16[i * d + e] = h;
          const x = f16ToNumber(h);
          wide[i * d + e] = x;
          s += x * x;
        }
        norms[i] = Math.sqrt(s);
      }
      for (let j = 0; j < t * dv; j++) v16[j] = f16Bits(values[j]!);
      const codesAt = this.codes.offset + this.n * this.hash.config.tables * 2;
      if (codes) new Uint16Array(this.heap.bytes(), codesAt, t * this.hash.config.tables).set(codes);
      else this.hash.hashInto(this.shard, stage.offset, t, codesAt);
    } finally {
      heap.release(stage);
    }
    this.n += t;
    if (this.n - this.built > Math.max(MIN_TAIL, Math.sqrt(8 * this.n))) this.rebuild();
  }

  /** Counting sort of all keys by code, per table (the `lshBuildTables` kernel, tables split over the pool). */
  rebuild(): void {
    const { tables, bits } = this.hash.config;
    const n = this.n;
    cpuRuntime().pool.run(
      'lshBuildTables',
      [this.codes.offset, n, tables, bits, this.starts.offset, this.ids.offset],
      tables,
      2 * n * tables,
      1,
      this.shard.index,
    );
    this.built = n;
  }

  /**
   * Grows the stream to `n` keys by repeating its keys [0, m) (K/V, norms, codes), then rebuilds
   * the tables: a long context for benchmarks without hashing it key by key. Repeated keys are
   * sampled as often as the originals, so candidate counts scale with n as for distinct keys.
   */
  tileTo(n: number): void {
    const m = this.n;
    if (m === 0 || n <= m) return;
    if (n > this.capacity) this.grow(n);
    const L = this.hash.config.tables;
    const buf = new Uint8Array(this.heap.bytes());
    for (const [b, w] of [
      [this.keys, this.dim * 2],
      [this.values, this.valueDim * 2],
      [this.norms, 4],
      [this.codes, L * 2],
    ] as const) {
      for (let at = m; at < n; at += Math.min(at, n - at)) {
        const len = Math.min(at, n - at);
        buf.copyWithin(b.offset + at * w, b.offset, b.offset + len * w);
      }
    }
    this.n = n;
    this.rebuild();
  }

  /** Codes of key i (a copy). */
  keyCodes(i: number): Uint16Array {
    const L = this.hash.config.tables;
    return new Uint16Array(this.heap.bytes(), this.codes.offset + i * L * 2, L).slice();
  }

  /** Keys [lo, hi) decoded from f16, row-major (a copy, for oracles and the baselines). */
  keyRows(lo: number, hi: number): Float64Array {
    return this.decode(this.keys, this.dim, lo, hi);
  }

  valueRows(lo: number, hi: number): Float64Array {
    return this.decode(this.values, this.valueDim, lo, hi);
  }

  private decode(b: Block, width: number, lo: number, hi: number): Float64Array {
    const src = new Uint16Array(this.heap.bytes(), b.offset + lo * width * 2, (hi - lo) * width);
    const out = new Float64Array(src.length);
    for (let i = 0; i < src.length; i++) out[i] = f16ToNumber(src[i]!);
    return out;
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    const heap = this.heap;
    for (const b of [this.keys, this.values, this.norms, this.codes, this.ids, this.starts]) heap.release(b);
    for (const s of this.scratch) {
      heap.release(s.counts);
      heap.release(s.list);
    }
  }
}

/** Bytes a stream holds per key (K/V f16, norm, codes, table ids, the scan's scratch per query head). */
export function streamBytesPerKey(dim: number, valueDim: number, tables: number, groupSize: number): number {
  return 2 * (dim + valueDim) + 4 + 6 * tables + 10 * groupSize;
}
