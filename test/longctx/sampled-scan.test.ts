/**
 * The wasm SIMD sampled scan (lshAttention over a growing LshKvStream) against its float64 oracle:
 * the same candidates as the collision rule over the stored codes, the same estimate on them within
 * f32 rounding, exact attention when every key is a candidate, and unbiasedness over hash seeds.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { cpuRuntime } from '../../src/backends/cpu/cpu-runtime.js';
import {
  HeapSimHash,
  LshKvStream,
  ShardPlanner,
  candidatesReference,
  exactAttention,
  mainShard,
  mergeStates,
  relativeError,
  sampledStateReference,
  sampledStates,
} from '../../src/longctx/index.js';
import { Rng } from '../../src/util/rng.js';

const SEED = 20261214;
const made: { destroy(): void }[] = [];
afterAll(() => made.forEach((x) => x.destroy()));

function stream(
  dim: number,
  dv: number,
  group: number,
  config: { bits: number; tables: number; minCollisions: number; seed: number },
) {
  const hash = new HeapSimHash(dim, config);
  const s = new LshKvStream(hash, dv, group);
  made.push(s, hash);
  return s;
}

describe(`LSH sampled scan in wasm SIMD (seed ${SEED})`, () => {
  it('hashes rows as SimHash does, except within f32 rounding of a hyperplane', () => {
    const rng = new Rng(SEED);
    const dim = 64;
    const cfg = { bits: 10, tables: 30, minCollisions: 2, seed: SEED };
    const h = new HeapSimHash(dim, cfg);
    made.push(h);
    const rows = 50;
    const x = Float32Array.from(rng.normals(rows * dim));
    const { heap } = cpuRuntime();
    const xb = heap.alloc(x.byteLength);
    const cb = heap.alloc(rows * cfg.tables * 2);
    heap.f32(xb.offset, x.length).set(x);
    h.hashInto(mainShard(), xb.offset, rows, cb.offset);
    const got = new Uint16Array(heap.bytes(), cb.offset, rows * cfg.tables).slice();
    heap.release(xb);
    heap.release(cb);
    const want = h.simhash.hashRows(x, rows);
    let differ = 0;
    for (let r = 0; r < rows; r++)
      for (let t = 0; t < cfg.tables; t++)
        for (let b = 0; b < cfg.bits; b++) {
          const gb = (got[r * cfg.tables + t]! >> b) & 1;
          const wb = (want[r * cfg.tables + t]! >> b) & 1;
          if (gb === wb) continue;
          differ++;
          let s = 0;
          let mag = 0;
          const w = h.simhash.directions;
          for (let e = 0; e < dim; e++) {
            s += w[(t * cfg.bits + b) * dim + e]! * x[r * dim + e]!;
            mag += Math.abs(w[(t * cfg.bits + b) * dim + e]! * x[r * dim + e]!);
          }
          expect(Math.abs(s)).toBeLessThan(dim * 2 ** -23 * mag);
        }
    console.log(
      `simhash kernel: ${differ} of ${rows * cfg.tables * cfg.bits} bits differ from float64 (all at hyperplanes)`,
    );
  });

  it('grows through prefill and decode appends; candidates and estimates match the float64 oracle', () => {
    const rng = new Rng(SEED + 1);
    const dim = 32;
    const dv = 16;
    const cfg = { bits: 4, tables: 20, minCollisions: 2, seed: SEED + 1 };
    const s = stream(dim, dv, 2, cfg);
    const appends = [300, 1, 1, 7, 120, ...Array.from({ length: 200 }, () => 1), 500];
    let checked = 0;
    let withTail = 0;
    for (const t of appends) {
      s.append(rng.normals(t * dim), rng.normals(t * dv), t);
      if (s.n < 400 && t === 1 && s.n % 37 !== 0) continue;
      const lo = Math.min(4, s.n);
      const hi = Math.max(lo, s.n - 16);
      const qs = [Float64Array.from(rng.normals(dim)), Float64Array.from(rng.normals(dim))];
      const got = sampledStates(
        qs.map((q, g) => ({ stream: s, group: g, q, lo, hi })),
        1 / Math.sqrt(dim),
        { keepIds: true },
      );
      const keys = s.keyRows(0, s.n);
      const values = s.valueRows(0, s.n);
      qs.forEach((q, g) => {
        const qCodes = s.hash.simhash.hashRows(Float32Array.from(q), 1);
        const want = candidatesReference((i) => s.keyCodes(i), qCodes, lo, hi, cfg.minCollisions);
        const r = got[g]!;
        // the query's codes may differ from the f32 kernel's only at a hyperplane; none of these does
        expect(Array.from(r.ids!)).toEqual(want);
        const ref = sampledStateReference(q, keys, values, dim, dv, r.ids!, 1 / Math.sqrt(dim), cfg);
        expect(r.candidates).toBe(want.length);
        if (want.length === 0) expect(r.lse).toBe(-Infinity);
        else {
          expect(relativeError(r.o, ref.o)).toBeLessThan(1e-5);
          expect(Math.abs(r.lse - ref.lse)).toBeLessThan(1e-5 * Math.max(1, Math.abs(ref.lse)));
        }
      });
      checked++;
      if (s.built < s.n) withTail++;
    }
    console.log(`growing store: ${s.n} keys, ${checked} checkpoints (${withTail} with a tail), ${s.bytes} bytes`);
    expect(withTail).toBeGreaterThan(10);
    expect(withTail).toBeLessThan(checked);
  });

  it('tiled to a long context (benchmarks), it is the repeated keys with tables built over all of them', () => {
    const rng = new Rng(SEED + 6);
    const dim = 16;
    const cfg = { bits: 3, tables: 10, minCollisions: 2, seed: SEED + 6 };
    const s = stream(dim, dim, 1, cfg);
    const m = 300;
    s.append(rng.normals(m * dim), rng.normals(m * dim), m);
    s.tileTo(1050);
    expect(s.n).toBe(1050);
    expect(s.built).toBe(1050);
    const keys = s.keyRows(0, s.n);
    const values = s.valueRows(0, s.n);
    for (let i = 0; i < s.n; i++) {
      expect(Array.from(keys.subarray(i * dim, (i + 1) * dim))).toEqual(
        Array.from(keys.subarray((i % m) * dim, ((i % m) + 1) * dim)),
      );
      expect(Array.from(s.keyCodes(i))).toEqual(Array.from(s.keyCodes(i % m)));
    }
    const q = rng.normals(dim);
    const [r] = sampledStates([{ stream: s, group: 0, q, lo: 0, hi: s.n }], 0.25, { keepIds: true });
    const want = candidatesReference((i) => s.keyCodes(i), s.hash.simhash.hashRows(Float32Array.from(q), 1), 0, s.n, 2);
    expect(Array.from(r!.ids!)).toEqual(want);
    const ref = sampledStateReference(q, keys, values, dim, dim, r!.ids!, 0.25, cfg);
    expect(relativeError(r!.o, ref.o)).toBeLessThan(1e-5);
  });

  it('with every key a candidate (K = 0), merged with the exact part it is exact attention', () => {
    const rng = new Rng(SEED + 2);
    const dim = 16;
    const n = 700;
    const s = stream(dim, dim, 1, { bits: 0, tables: 3, minCollisions: 2, seed: SEED + 2 });
    s.append(rng.normals(n * dim), rng.normals(n * dim), n);
    const keys = s.keyRows(0, n);
    const values = s.valueRows(0, n);
    const sinks = 4;
    const window = 64;
    const q = Float64Array.from(rng.normals(dim, 2));
    const scale = 1 / Math.sqrt(dim);
    const [part] = sampledStates([{ stream: s, group: 0, q, lo: sinks, hi: n - window }], scale);
    expect(part!.candidates).toBe(n - sinks - window);
    const exactIds = [...Array(sinks).keys(), ...Array.from({ length: window }, (_, j) => n - window + j)];
    const ek = Float64Array.from(exactIds.flatMap((i) => Array.from(keys.subarray(i * dim, (i + 1) * dim))));
    const ev = Float64Array.from(exactIds.flatMap((i) => Array.from(values.subarray(i * dim, (i + 1) * dim))));
    const exactPart = exactAttention(q, ek, ev, exactIds.length, dim, dim, scale);
    const merged = mergeStates(exactPart, { o: Float64Array.from(part!.o), lse: part!.lse });
    const want = exactAttention(q, keys, values, n, dim, dim, scale);
    expect(relativeError(merged.o, want.o)).toBeLessThan(1e-5);
    expect(Math.abs(merged.lse - want.lse)).toBeLessThan(1e-5);
  });

  it('split over the pool, each task gives what it gives alone', () => {
    const rng = new Rng(SEED + 4);
    const dim = 64;
    const cfg = { bits: 3, tables: 16, minCollisions: 2, seed: SEED + 4 };
    const hash = new HeapSimHash(dim, cfg);
    made.push(hash);
    const streams = Array.from({ length: 8 }, () => {
      const st = new LshKvStream(hash, dim, 4);
      made.push(st);
      return st;
    });
    for (const st of streams) st.append(rng.normals(3000 * dim), rng.normals(3000 * dim), 3000);
    const tasks = streams.flatMap((st) =>
      [0, 1, 2, 3].map((g) => ({ stream: st, group: g, q: rng.normals(dim), lo: 4, hi: 2900 })),
    );
    const stats = cpuRuntime().pool.stats;
    const split0 = stats.split;
    const all = sampledStates(tasks, 0.125);
    const splits = stats.split - split0;
    console.log(`pool: ${cpuRuntime().pool.threads} thread(s), ${splits} split run(s) for ${tasks.length} tasks`);
    if (cpuRuntime().pool.threads > 1) expect(splits).toBe(1);
    tasks.forEach((t, i) => {
      const [one] = sampledStates([t], 0.125, { threads: 1 });
      expect(Array.from(all[i]!.o)).toEqual(Array.from(one!.o));
      expect(all[i]!.lse).toBe(one!.lse);
    });
  });

  it("streams in memories of their own (past the first 4 GiB) scan as in the backend's memory", async () => {
    const rng = new Rng(SEED + 5);
    const dim = 32;
    const N = 20_000;
    const cfg = { bits: 2, tables: 12, minCollisions: 2, seed: SEED + 5 };
    const hash = new HeapSimHash(dim, cfg);
    made.push(hash);
    const planner = new ShardPlanner(6 << 20);
    const k = rng.normals(N * dim);
    const v = rng.normals(N * dim);
    const home = new LshKvStream(hash, dim, 2);
    const away = [0, 1, 2].map(() => {
      const shard = planner.place(5 << 20);
      const st = new LshKvStream(hash, dim, 4, shard, N);
      st.append(k, v, N);
      return st;
    });
    home.append(k, v, N);
    made.push(home, ...away);
    expect(planner.count).toBe(3);
    expect(new Set(away.map((a) => a.shard.index)).size).toBe(3);
    const q = rng.normals(dim);
    const [want] = sampledStates([{ stream: home, group: 0, q, lo: 0, hi: N - 100 }], 0.2);
    const got = sampledStates(
      away.map((stream) => ({ stream, group: 1, q, lo: 0, hi: N - 100 })),
      0.2,
    );
    for (const g of got) {
      expect(Array.from(g.o)).toEqual(Array.from(want!.o));
      expect(g.lse).toBe(want!.lse);
    }
    // the workers restarted over the new memories: once up, a job over memory 3 splits across them
    const pool = cpuRuntime().pool;
    for (let waited = 0; pool.helpers < pool.threads - 1 && waited < 10_000; waited += 20)
      await new Promise((r) => setTimeout(r, 20));
    const split0 = pool.stats.split;
    const many = sampledStates(
      away.flatMap((stream) => [0, 1, 2, 3].map((group) => ({ stream, group, q, lo: 0, hi: N - 100 }))),
      0.2,
    );
    for (const g of many) expect(Array.from(g.o)).toEqual(Array.from(want!.o));
    console.log(
      `3 extra memories, ${want!.candidates} candidates each; ${pool.helpers} workers up, ${pool.stats.split - split0} split run(s)`,
    );
    // one pool job for the three memories' tasks
    if (pool.threads > 1) expect(pool.stats.split - split0).toBe(1);
  });

  it('tasks over several memories, each with its own stores, give what each memory gives alone and the oracle', async () => {
    const rng = new Rng(SEED + 7);
    const dim = 32;
    const cfg = { bits: 3, tables: 12, minCollisions: 2, seed: SEED + 7 };
    const hash = new HeapSimHash(dim, cfg);
    made.push(hash);
    // two stores a memory: every memory's keys, values, lengths and ranges differ, so a task scanned
    // with another memory's arguments or in another memory gives another state
    const planner = new ShardPlanner(6 << 20);
    const streams = [5000, 3100, 7000, 2200, 4100, 6000].map((n) => {
      const st = new LshKvStream(hash, dim, 2, planner.place(3 << 20), n);
      st.append(rng.normals(n * dim), rng.normals(n * dim, 2), n);
      made.push(st);
      return st;
    });
    expect(planner.count).toBe(3);
    const pool = cpuRuntime().pool;
    for (let waited = 0; pool.helpers < pool.threads - 1 && waited < 10_000; waited += 20)
      await new Promise((r) => setTimeout(r, 20));
    // the memories' tasks interleaved, so the states must come back in the tasks' order
    const tasks = [0, 1, 2, 3, 4, 5].flatMap((k) =>
      streams.map((stream, j) => ({
        stream,
        group: k & 1,
        q: rng.normals(dim),
        lo: 3 * k + j,
        hi: stream.n - 40 * k - j,
      })),
    );
    const scale = 1 / Math.sqrt(dim);
    const split0 = pool.stats.split;
    const got = sampledStates(tasks, scale, { keepIds: true });
    const jobs = pool.stats.split - split0;
    console.log(
      `${tasks.length} tasks over ${planner.count} memories, ${pool.helpers} workers up: ${jobs} pool job(s)`,
    );
    if (pool.helpers > 0) expect(jobs).toBe(1);
    const shards = [...new Set(streams.map((st) => st.shard.index))];
    for (const index of shards) {
      const ids = tasks.flatMap((t, i) => (t.stream.shard.index === index ? [i] : []));
      const alone = sampledStates(
        ids.map((i) => tasks[i]!),
        scale,
        { keepIds: true, threads: 1 },
      );
      ids.forEach((i, j) => {
        expect(Array.from(got[i]!.o)).toEqual(Array.from(alone[j]!.o));
        expect(got[i]!.lse).toBe(alone[j]!.lse);
        expect(Array.from(got[i]!.ids!)).toEqual(Array.from(alone[j]!.ids!));
      });
    }
    const L = cfg.tables;
    const rows = new Map(
      streams.map((st) => [st, { k: st.keyRows(0, st.n), v: st.valueRows(0, st.n), codes: st.codeRows(0, st.n) }]),
    );
    tasks.forEach((t, i) => {
      const s = t.stream;
      const { k, v, codes } = rows.get(s)!;
      const want = candidatesReference(
        (key) => codes.subarray(key * L, (key + 1) * L),
        s.hash.simhash.hashRows(Float32Array.from(t.q), 1),
        t.lo,
        t.hi,
        cfg.minCollisions,
      );
      const r = got[i]!;
      expect(Array.from(r.ids!)).toEqual(want);
      expect(want.length).toBeGreaterThan(0);
      const ref = sampledStateReference(t.q, k, v, dim, dim, r.ids!, scale, cfg);
      expect(relativeError(r.o, ref.o)).toBeLessThan(1e-5);
      expect(Math.abs(r.lse - ref.lse)).toBeLessThan(1e-5 * Math.max(1, Math.abs(ref.lse)));
    });
  });

  it('is unbiased over hash seeds: the weighted sums average to the exact ones', () => {
    const trials = 400;
    console.log(`unbiasedness: hash seeds ${SEED + 100}…${SEED + 99 + trials}, data seed ${SEED + 3}`);
    const rng = new Rng(SEED + 3);
    const dim = 8;
    const n = 120;
    const keys = rng.normals(n * dim);
    const values = rng.normals(n * 4);
    const q = rng.normals(dim, 1.5);
    const scale = 1 / Math.sqrt(dim);
    // exact sums over the f16-rounded keys and values the store keeps
    const probe = stream(dim, 4, 1, { bits: 2, tables: 6, minCollisions: 2, seed: 0 });
    probe.append(keys, values, n);
    const k16 = probe.keyRows(0, n);
    const v16 = probe.valueRows(0, n);
    let Z = 0;
    const N = new Float64Array(4);
    for (let i = 0; i < n; i++) {
      let d = 0;
      for (let e = 0; e < dim; e++) d += q[e]! * k16[i * dim + e]!;
      const w = Math.exp(scale * d);
      Z += w;
      for (let e = 0; e < 4; e++) N[e]! += w * v16[i * 4 + e]!;
    }
    const z: number[] = [];
    const nums: number[][] = [[], [], [], []];
    for (let s = 0; s < trials; s++) {
      const st = stream(dim, 4, 1, { bits: 2, tables: 6, minCollisions: 2, seed: SEED + 100 + s });
      st.append(keys, values, n);
      const [r] = sampledStates([{ stream: st, group: 0, q, lo: 0, hi: n }], scale);
      const zs = r!.candidates > 0 ? 2 ** r!.lse : 0;
      z.push(zs);
      for (let e = 0; e < 4; e++) nums[e]!.push(zs * r!.o[e]!);
      st.destroy();
    }
    const check = (xs: number[], want: number) => {
      const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
      const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1));
      const se = sd / Math.sqrt(xs.length);
      expect(Math.abs(mean - want)).toBeLessThan(4.5 * se + 1e-9);
      return (mean - want) / se;
    };
    const zScores = [check(z, Z), ...N.map((w, e) => check(nums[e]!, w))];
    console.log(`unbiasedness z-scores: ${zScores.map((x) => x.toFixed(2)).join(' ')}`);
  });
});
