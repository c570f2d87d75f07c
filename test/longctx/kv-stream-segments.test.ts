/**
 * The store past one table segment (65536 keys, 16-bit ids relative to it): appends of every size
 * across segment boundaries give the candidates of the collision rule over every key's codes and
 * the oracle's estimate on them, the codes read back from the tables are the ones stored, and the
 * store's bytes per token at the 8B shape are what `streamBytesPerKey` says.
 */
import { afterAll, describe, expect, it } from 'vitest';
import {
  HeapSimHash,
  LshKvStream,
  SEGMENT,
  candidatesReference,
  relativeError,
  sampledStateReference,
  sampledStates,
  streamBytes,
  streamBytesPerKey,
} from '../../src/longctx/index.js';
import { Rng } from '../../src/util/rng.js';

const SEED = 20261217;
const made: { destroy(): void }[] = [];
afterAll(() => made.forEach((x) => x.destroy()));

describe(`LSH store in table segments (seed ${SEED})`, () => {
  it('grows across segments; candidates and estimates match the float64 oracle; codes read back', () => {
    const rng = new Rng(SEED);
    const dim = 4;
    const cfg = { bits: 3, tables: 8, minCollisions: 2, seed: SEED };
    const hash = new HeapSimHash(dim, cfg);
    const s = new LshKvStream(hash, dim, 1);
    made.push(s, hash);
    const codes: number[] = [];
    const appends = [40_000, 1, 3, 30_000, ...Array.from({ length: 300 }, () => 1), 70_000, 5, 1];
    for (const t of appends) {
      const k = rng.normals(t * dim);
      s.append(k, rng.normals(t * dim), t);
      // the codes as hashed by SimHash over the stored f16 keys (float64 here: compare where no bit is at a hyperplane)
      for (const c of hash.simhash.hashRows(Float32Array.from(s.keyRows(s.n - t, s.n)), t)) codes.push(c);
    }
    expect(s.n).toBe(140_310);
    expect(s.segmentCount).toBe(3);
    expect(s.n - s.built).toBeLessThanOrEqual(Math.sqrt(8 * s.n));
    const back = s.codeRows(0, s.n);
    let differ = 0;
    for (let i = 0; i < back.length; i++) if (back[i] !== codes[i]) differ++;
    console.log(
      `${s.n} keys in ${s.segmentCount} segments, tail ${s.n - s.built}; ${differ} codes differ from float64 hashing`,
    );
    expect(differ).toBeLessThan(back.length * 1e-4);
    const L = cfg.tables;
    const keys = s.keyRows(0, s.n);
    const values = s.valueRows(0, s.n);
    const ranges = [
      [0, s.n],
      [SEGMENT - 7, 2 * SEGMENT + 9],
      [5, s.built + 3],
    ] as const;
    for (const [lo, hi] of ranges) {
      const q = rng.normals(dim);
      const [r] = sampledStates([{ stream: s, group: 0, q, lo, hi }], 0.5, { keepIds: true });
      const qCodes = hash.simhash.hashRows(Float32Array.from(q), 1);
      const want = candidatesReference((i) => back.subarray(i * L, (i + 1) * L), qCodes, lo, hi, 2);
      expect(Array.from(r!.ids!)).toEqual(want);
      const ref = sampledStateReference(q, keys, values, dim, dim, r!.ids!, 0.5, cfg);
      expect(relativeError(r!.o, ref.o)).toBeLessThan(1e-4);
      expect(Math.abs(r!.lse - ref.lse)).toBeLessThan(1e-4 * Math.max(1, Math.abs(ref.lse)));
    }
  });

  it('tiled across segments, it is the repeated keys', () => {
    const rng = new Rng(SEED + 1);
    const dim = 4;
    const cfg = { bits: 2, tables: 8, minCollisions: 2, seed: SEED + 1 };
    const hash = new HeapSimHash(dim, cfg);
    const s = new LshKvStream(hash, dim, 1);
    made.push(s, hash);
    s.append(rng.normals(1000 * dim), rng.normals(1000 * dim), 1000);
    const first = s.codeRows(0, 1000);
    s.tileTo(150_000);
    expect(s.built).toBe(150_000);
    const all = s.codeRows(0, s.n);
    for (const i of [0, 999, 1000, SEGMENT - 1, SEGMENT, 2 * SEGMENT + 17, 149_999])
      expect(Array.from(all.subarray(i * 8, i * 8 + 8))).toEqual(
        Array.from(first.subarray((i % 1000) * 8, (i % 1000) * 8 + 8)),
      );
  });

  it('holds 821.4 B per token per (layer, KV head) at d = 128, K = 10, L = 150 (1456 B with u32 ids and codes)', () => {
    const d = 128;
    const cfg = { bits: 10, tables: 150, minCollisions: 2, seed: SEED + 2 };
    expect(streamBytesPerKey(d, d, cfg.tables, cfg.bits)).toBeCloseTo(512 + 300 + (600 * 1025) / 65536, 6);
    const rng = new Rng(SEED + 2);
    const hash = new HeapSimHash(d, cfg);
    const n = 2 * SEGMENT + 100;
    // sized up front, as the engine sizes a sequence's store, so K/V never double past what is used
    const s = new LshKvStream(hash, d, 4, undefined, n);
    made.push(s, hash);
    s.append(rng.normals(256 * d), rng.normals(256 * d), 256);
    s.tileTo(n - 100);
    for (let i = 0; i < 100; i++) s.append(rng.normals(d), rng.normals(d), 1);
    expect(s.n).toBe(n);
    const perToken = s.bytes / s.n;
    console.log(
      `store at d ${d}, K 10, L 150: ${s.bytes} B for ${s.n} keys, ${perToken.toFixed(1)} B per token (planned ${streamBytes(n, d, d, 150, 10)} B)`,
    );
    expect(perToken).toBeLessThan(830);
    expect(s.bytes).toBeLessThanOrEqual(streamBytes(n, d, d, 150, 10));
  });
});
