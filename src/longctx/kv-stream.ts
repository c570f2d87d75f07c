/**
 * One (layer, KV head) of a sequence's long context in CPU memory, growing as tokens are appended:
 * keys and values in f16 and the hash tables, all in a memory of the CPU pool so its workers scan
 * them in place (sampled-scan.ts).
 *
 * The tables are segments of SEGMENT keys and a tail (wasm/lsh-attention.ts). A segment groups its
 * keys by code per table with 16-bit ids relative to its first key; the tail keeps each key's codes
 * until it is merged into the last segment (`lshMergeTables`: the old ids shift, the new ones go to
 * their buckets' ends), after which they are dropped. A merge costs the open segment's ids (a move)
 * plus the tail, the tail costs every query tail·L/8 compares, so the tail is allowed to reach
 * √(8n): a merge every √(8n) appends (128K keys: a tail of 1K, against ~19K bucket entries a query
 * visits at K = 10, L = 150).
 *
 * Keys are hashed after rounding to f16, so the codes and the sampling probability (from the
 * stored key's angle to the query) describe the same vector.
 *
 * Bytes per key (`streamBytesPerKey`): 4·dim (K and V, f16) + 2·L (ids) + the segment's bucket
 * bounds, 4·L·(2^K + 1) per SEGMENT keys; the tail's codes and the scan's scratch are per stream
 * and per call, not per key. At d = 128, K = 10, L = 150: 821.4 B.
 */
import { cpuRuntime } from '../backends/cpu/cpu-runtime.js';
import type { Block, Heap } from '../backends/cpu/heap.js';
import { f16Bits, f16ToNumber } from '../tensor/dtype.js';
import { type CpuShard, mainShard } from './cpu-shards.js';
import type { HeapSimHash } from './heap-simhash.js';

/** Keys per table segment: ids relative to the segment fit 16 bits. */
export const SEGMENT = 65536;
const MIN_TAIL = 64;
const MIN_CAPACITY = 256;
/** Words per segment in the scan's descriptor: starts, ids, keys in it, ids' row stride. */
const SEGMENT_WORDS = 4;

interface Segment {
  readonly starts: Block;
  ids: Block;
  /** Keys in it. */
  count: number;
  /** Ids per table row (its room). */
  stride: number;
}

/** Longest tail at n keys before it is merged. */
function maxTail(n: number): number {
  return Math.max(MIN_TAIL, Math.floor(Math.sqrt(8 * n)));
}

export class LshKvStream {
  /** Keys stored. */
  n = 0;
  /** Keys [0, built) are in the tables; the rest are the tail. */
  built = 0;
  private capacity = 0;
  keys!: Block;
  values!: Block;
  /** The tail's codes, u16 [tailRoom][L], row 0 the key `built`. */
  tailCodes!: Block;
  private tailRoom = 0;
  private readonly segments: Segment[] = [];
  /** The segments as the scan reads them (i32 [segments][SEGMENT_WORDS]). */
  segmentTable!: Block;
  private segmentRoom = 0;
  private destroyed = false;

  constructor(
    readonly hash: HeapSimHash,
    readonly valueDim: number,
    /** Query heads sharing this KV head. */
    readonly groupSize: number,
    /** The memory it lives in (the pool's kernels scan it there). */
    readonly shard: CpuShard = mainShard(),
    /** Keys to make room for at once (it grows past them by doubling). */
    capacity = MIN_CAPACITY,
  ) {
    if (hash.dim % 4 || valueDim % 4)
      throw new Error(`LshKvStream: head dims must be multiples of 4 (${hash.dim}, ${valueDim})`);
    this.grow(capacity);
    this.growTail(MIN_TAIL);
    this.growSegmentTable(Math.max(1, Math.ceil(capacity / SEGMENT)));
  }

  get dim(): number {
    return this.hash.dim;
  }

  private get heap(): Heap {
    return this.shard.heap;
  }

  get segmentCount(): number {
    return this.segments.length;
  }

  /** CPU memory this stream holds, in bytes. */
  get bytes(): number {
    let s = this.keys.bytes + this.values.bytes + this.tailCodes.bytes + this.segmentTable.bytes;
    for (const g of this.segments) s += g.starts.bytes + g.ids.bytes;
    return s;
  }

  /** A block of `bytes` holding the first `used` bytes of `old` (released). */
  private moved(old: Block | undefined, bytes: number, used: number): Block {
    const heap = this.heap;
    const b = heap.alloc(bytes);
    if (old) {
      const buf = heap.bytes();
      new Uint8Array(buf, b.offset, used).set(new Uint8Array(buf, old.offset, used));
      heap.release(old);
    }
    return b;
  }

  private grow(atLeast: number): void {
    const cap = Math.max(MIN_CAPACITY, atLeast, 2 * this.capacity);
    const had = this.capacity > 0;
    const n = this.n;
    this.keys = this.moved(had ? this.keys : undefined, cap * this.dim * 2, n * this.dim * 2);
    this.values = this.moved(had ? this.values : undefined, cap * this.valueDim * 2, n * this.valueDim * 2);
    this.capacity = cap;
  }

  private growTail(rows: number): void {
    if (rows <= this.tailRoom) return;
    const L = this.hash.config.tables;
    const room = Math.max(MIN_TAIL, 2 ** Math.ceil(Math.log2(rows)));
    // 16 bytes past the rows: the scan compares eight codes per SIMD load
    this.tailCodes = this.moved(
      this.tailRoom ? this.tailCodes : undefined,
      room * L * 2 + 16,
      (this.n - this.built) * L * 2,
    );
    this.tailRoom = room;
  }

  private growSegmentTable(segments: number): void {
    if (segments <= this.segmentRoom) return;
    const room = Math.max(segments, 2 * this.segmentRoom);
    this.segmentTable = this.moved(
      this.segmentRoom ? this.segmentTable : undefined,
      room * SEGMENT_WORDS * 4,
      this.segments.length * SEGMENT_WORDS * 4,
    );
    this.segmentRoom = room;
  }

  private describe(i: number): void {
    const g = this.segments[i]!;
    this.heap
      .i32(this.segmentTable.offset + i * SEGMENT_WORDS * 4, SEGMENT_WORDS)
      .set([g.starts.offset, g.ids.offset, g.count, g.stride]);
  }

  /** The last segment with room for more keys (a new one after a full one), its ids' rows holding `more` more. */
  private openSegment(more: number): Segment {
    const { tables, bits } = this.hash.config;
    const heap = this.heap;
    let g = this.segments[this.segments.length - 1];
    if (!g || g.count === SEGMENT) {
      const startsBytes = tables * ((1 << bits) + 1) * 4;
      const starts = heap.alloc(startsBytes);
      new Uint8Array(heap.bytes(), starts.offset, startsBytes).fill(0);
      // as many ids as the keys made room for, so a store sized up front never moves its ids
      const stride = Math.min(SEGMENT, Math.max(MIN_CAPACITY, more, this.capacity - this.segments.length * SEGMENT));
      g = { starts, ids: heap.alloc(tables * stride * 2), count: 0, stride };
      this.growSegmentTable(this.segments.length + 1);
      this.segments.push(g);
    }
    if (g.count + more > g.stride) {
      const stride = Math.min(SEGMENT, Math.max(g.count + more, 2 * g.stride));
      const ids = heap.alloc(tables * stride * 2);
      const buf = heap.bytes();
      for (let t = 0; t < tables; t++)
        new Uint8Array(buf, ids.offset + t * stride * 2, g.count * 2).set(
          new Uint8Array(buf, g.ids.offset + t * g.stride * 2, g.count * 2),
        );
      heap.release(g.ids);
      g.ids = ids;
      g.stride = stride;
    }
    this.describe(this.segments.length - 1);
    return g;
  }

  /** Puts keys [built, built + count) in the tables from their codes [count][L] at `codesAt`. */
  private index(codesAt: number, count: number): void {
    const { tables, bits } = this.hash.config;
    const histBytes = tables * ((1 << bits) + 1) * 4;
    const hist = this.heap.alloc(histBytes);
    try {
      for (let done = 0; done < count; ) {
        const room = SEGMENT - (this.segments.at(-1)?.count ?? SEGMENT);
        const c = Math.min(count - done, room > 0 ? room : SEGMENT);
        const g = this.openSegment(c);
        cpuRuntime().pool.run(
          'lshMergeTables',
          [codesAt + done * tables * 2, c, tables, bits, g.starts.offset, g.ids.offset, g.count, g.stride, hist.offset],
          tables,
          tables * (2 * c + g.count + (1 << bits)),
          1,
          this.shard.index,
        );
        g.count += c;
        this.describe(this.segments.length - 1);
        done += c;
        this.built += c;
      }
    } finally {
      this.heap.release(hist);
    }
  }

  /** Merges the tail into the tables; its codes are dropped. */
  flushTail(): void {
    const tail = this.n - this.built;
    if (tail > 0) this.index(this.tailCodes.offset, tail);
  }

  /**
   * Appends `t` rows of keys [t, dim] and values [t, valueDim] (f32, rounded to f16 here), hashing
   * the keys, or taking their codes [t][L] where they were computed already (on the device:
   * `simhash_pack`), from the same f16 keys and the same directions. Keys that would make the tail
   * longer than √(8n) go to the tables with it.
   */
  append(keys: ArrayLike<number>, values: ArrayLike<number>, t: number, codes?: ArrayLike<number>): void {
    if (this.destroyed) throw new Error('LshKvStream: appended after destroy');
    if (t === 0) return;
    if (this.n + t > this.capacity) this.grow(this.n + t);
    const { heap } = this;
    const d = this.dim;
    const dv = this.valueDim;
    const L = this.hash.config.tables;
    const tail = this.n - this.built;
    const toTail = tail + t <= maxTail(this.n + t);
    if (toTail) this.growTail(tail + t);
    const stage = heap.alloc(t * d * 4);
    const fresh = toTail ? undefined : heap.alloc(t * L * 2);
    try {
      const buf = heap.bytes();
      const k16 = new Uint16Array(buf, this.keys.offset + this.n * d * 2, t * d);
      const v16 = new Uint16Array(buf, this.values.offset + this.n * dv * 2, t * dv);
      const wide = new Float32Array(buf, stage.offset, t * d);
      for (let j = 0; j < t * d; j++) {
        const h = f16Bits(keys[j]!);
        k16[j] = h;
        wide[j] = f16ToNumber(h);
      }
      for (let j = 0; j < t * dv; j++) v16[j] = f16Bits(values[j]!);
      const codesAt = fresh ? fresh.offset : this.tailCodes.offset + tail * L * 2;
      if (codes) new Uint16Array(buf, codesAt, t * L).set(codes);
      else this.hash.hashInto(this.shard, stage.offset, t, codesAt);
      if (fresh) {
        if (tail > 0) this.index(this.tailCodes.offset, tail);
        this.index(fresh.offset, t);
      }
      this.n += t;
    } finally {
      heap.release(stage);
      if (fresh) heap.release(fresh);
    }
  }

  /** Codes of keys [lo, hi), u16 [hi − lo][L]: the tail's as stored, the tables' read back from their buckets. */
  codeRows(lo: number, hi: number): Uint16Array {
    const { tables, bits } = this.hash.config;
    const buckets = 1 << bits;
    const out = new Uint16Array((hi - lo) * tables);
    const buf = this.heap.bytes();
    for (let s = Math.floor(lo / SEGMENT); s * SEGMENT < Math.min(hi, this.built); s++) {
      const g = this.segments[s]!;
      const base = s * SEGMENT;
      const starts = new Uint32Array(buf, g.starts.offset, tables * (buckets + 1));
      for (let t = 0; t < tables; t++) {
        const ids = new Uint16Array(buf, g.ids.offset + t * g.stride * 2, g.count);
        for (let c = 0; c < buckets; c++)
          for (let j = starts[t * (buckets + 1) + c]!; j < starts[t * (buckets + 1) + c + 1]!; j++) {
            const i = base + ids[j]!;
            if (i >= lo && i < hi) out[(i - lo) * tables + t] = c;
          }
      }
    }
    const from = Math.max(lo, this.built);
    if (hi > from)
      out.set(
        new Uint16Array(buf, this.tailCodes.offset + (from - this.built) * tables * 2, (hi - from) * tables),
        (from - lo) * tables,
      );
    return out;
  }

  /** Codes of key i. */
  keyCodes(i: number): Uint16Array {
    return this.codeRows(i, i + 1);
  }

  /**
   * Grows the stream to `n` keys by repeating its keys [0, m) (K/V and codes): a long context for
   * benchmarks without hashing it key by key. Repeated keys are sampled as often as the originals,
   * so candidate counts scale with n as for distinct keys.
   */
  tileTo(n: number): void {
    const m = this.n;
    if (m === 0 || n <= m) return;
    const L = this.hash.config.tables;
    const codes = this.codeRows(0, m);
    if (n > this.capacity) this.grow(n);
    const buf = new Uint8Array(this.heap.bytes());
    for (const [b, w] of [
      [this.keys, this.dim * 2],
      [this.values, this.valueDim * 2],
    ] as const) {
      for (let at = m; at < n; at += Math.min(at, n - at)) {
        const len = Math.min(at, n - at);
        buf.copyWithin(b.offset + at * w, b.offset, b.offset + len * w);
      }
    }
    this.flushTail();
    const chunk = Math.min(SEGMENT, n - m);
    const stage = this.heap.alloc(chunk * L * 2);
    try {
      for (let at = m; at < n; at += chunk) {
        const c = Math.min(chunk, n - at);
        const rows = new Uint16Array(this.heap.bytes(), stage.offset, c * L);
        for (let i = 0; i < c; i++) rows.set(codes.subarray(((at + i) % m) * L, (((at + i) % m) + 1) * L), i * L);
        this.n = at + c;
        this.index(stage.offset, c);
      }
    } finally {
      this.heap.release(stage);
    }
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
    for (const b of [this.keys, this.values, this.tailCodes, this.segmentTable]) heap.release(b);
    for (const g of this.segments) {
      heap.release(g.starts);
      heap.release(g.ids);
    }
    this.segments.length = 0;
  }
}

/**
 * Bytes a stream holds per key: K/V in f16, one 16-bit id per table, and the bucket bounds of a
 * full segment spread over its keys (the tail's codes and the scan's scratch are not per key).
 */
export function streamBytesPerKey(dim: number, valueDim: number, tables: number, bits: number): number {
  return 2 * (dim + valueDim) + 2 * tables + (4 * tables * ((1 << bits) + 1)) / SEGMENT;
}

/** Bytes a stream sized for `keys` keys holds when full: its segments whole, and its tail at its longest. */
export function streamBytes(keys: number, dim: number, valueDim: number, tables: number, bits: number): number {
  const segments = Math.max(1, Math.ceil(keys / SEGMENT));
  const tail = 2 ** Math.ceil(Math.log2(Math.max(MIN_TAIL, maxTail(keys))));
  return (
    keys * (2 * (dim + valueDim) + 2 * tables) +
    segments * 4 * tables * ((1 << bits) + 1) +
    (tail * tables * 2 + 16) +
    segments * SEGMENT_WORDS * 4
  );
}
