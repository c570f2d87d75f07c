/**
 * Pool jobs of several segments (`ThreadPool.runSegments`): each segment's rows run with its own
 * arguments over its own memory, so a job over three memories gives exactly what each segment
 * gives run alone on the calling thread — and, since every segment's data and shape differ, not
 * what it would give with another segment's arguments or memory. The pool is forced to three threads so the split runs even
 * on a one-core machine; the rows are checked against a float64 RMSNorm as well.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Block, Heap } from '../../src/backends/cpu/heap.js';
import { type PoolSegment, segmentChunks } from '../../src/backends/cpu/thread-pool.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { Rng } from '../../src/util/rng.js';

process.env.TESSERA_THREADS = '3';
const { addCpuMemory, cpuHeap, cpuRuntime } = await import('../../src/backends/cpu/cpu-runtime.js');
const { dtypeCode } = await import('../../src/backends/cpu/cpu-tensor.js');
const seed = testSeed();
const F32 = dtypeCode('f32');

/** One segment's RMSNorm: rows × C inputs, C weights and the output, in memory `memory`. */
interface NormCase {
  readonly memory: number;
  readonly rows: number;
  readonly C: number;
  readonly eps: number;
  readonly x: Float32Array;
  readonly w: Float32Array;
  readonly blocks: { x: Block; w: Block; y: Block };
}

const held: { heap: Heap; block: Block }[] = [];
afterAll(() => {
  for (const { heap, block } of held) heap.release(block);
});

function normCase(rng: Rng, memory: number, rows: number, C: number): NormCase {
  const heap = cpuHeap(memory);
  const alloc = (n: number) => {
    const block = heap.alloc(Math.max(16, n * 4));
    held.push({ heap, block });
    return block;
  };
  const blocks = { x: alloc(rows * C), w: alloc(C), y: alloc(rows * C) };
  const x = Float32Array.from(rng.normals(rows * C, 1 + memory));
  const w = Float32Array.from(rng.normals(C));
  heap.f32(blocks.x.offset, x.length).set(x);
  heap.f32(blocks.w.offset, w.length).set(w);
  return { memory, rows, C, eps: 10 ** -rng.int(2, 6), x, w, blocks };
}

const segmentOf = (c: NormCase): PoolSegment => ({
  memory: c.memory,
  args: [c.blocks.x.offset, F32, c.blocks.w.offset, F32, c.blocks.y.offset, F32, c.C, c.eps],
  rows: c.rows,
});
const output = (c: NormCase) =>
  cpuHeap(c.memory)
    .f32(c.blocks.y.offset, c.rows * c.C)
    .slice();
const clear = (c: NormCase) =>
  cpuHeap(c.memory)
    .f32(c.blocks.y.offset, c.rows * c.C)
    .fill(Number.NaN);

/** Float64 RMSNorm of the case's rows. */
function normReference(c: NormCase): Float64Array {
  const y = new Float64Array(c.rows * c.C);
  for (let r = 0; r < c.rows; r++) {
    let ss = 0;
    for (let j = 0; j < c.C; j++) ss += c.x[r * c.C + j]! ** 2;
    const inv = 1 / Math.sqrt(ss / c.C + Math.fround(c.eps));
    for (let j = 0; j < c.C; j++) y[r * c.C + j] = c.x[r * c.C + j]! * inv * c.w[j]!;
  }
  return y;
}

/** Each case run alone on the calling thread: the outputs a job must give bit for bit. */
function aloneOnCallerThread(cases: readonly NormCase[]): Float32Array[] {
  const { pool } = cpuRuntime();
  const prev = pool.active;
  pool.active = 1;
  try {
    return cases.map((c) => {
      clear(c);
      pool.run('rmsnorm', segmentOf(c).args, c.rows, 1e12, 1, c.memory);
      return output(c);
    });
  } finally {
    pool.active = prev;
  }
}

describe(`CPU thread pool, jobs over several memories (${seedNote(seed)})`, () => {
  const memories = [0, addCpuMemory().index, addCpuMemory().index];
  const { pool } = cpuRuntime();
  beforeAll(async () => {
    // adding memories restarts the workers; wait until both are up so jobs split over three threads
    for (let i = 0; i < 500 && pool.helpers < 2; i++) await new Promise((r) => setTimeout(r, 10));
    console.log(`pool: ${pool.threads} threads, ${pool.helpers} workers up, memories ${memories.join(', ')}`);
    expect(pool.helpers).toBe(2);
  });

  it('segment chunks: in proportion, none for an empty segment, at least one otherwise, at most its blocks', () => {
    const rng = new Rng(seed);
    for (let i = 0; i < 300; i++) {
      const rows = Array.from({ length: rng.int(1, 12) }, () => (rng.int(0, 4) === 0 ? 0 : rng.int(1, 3000)));
      const align = rng.pick([1, 4, 16]);
      const target = rng.int(1, 64);
      const chunks = segmentChunks(rows, target, align);
      const blocks = rows.map((r) => Math.ceil(r / align));
      const total = blocks.reduce((a, b) => a + b, 0);
      chunks.forEach((c, s) => {
        if (rows[s] === 0) expect(c).toBe(0);
        else {
          expect(c).toBeGreaterThanOrEqual(1);
          expect(c).toBeLessThanOrEqual(blocks[s]!);
          expect(c).toBeLessThanOrEqual(Math.max(1, Math.ceil((target * blocks[s]!) / total)));
        }
      });
    }
    expect(segmentChunks([32, 32, 32, 32], 8, 1)).toEqual([2, 2, 2, 2]);
    expect(segmentChunks([100, 0, 1], 12, 1)).toEqual([12, 0, 1]);
  });

  it('a job over three memories, uneven segments and an empty one, gives each segment its own result', () => {
    const rng = new Rng(seed + 1);
    // two segments in memory 1 (same memory, other arguments) and an empty one in memory 2
    const plan: [number, number, number][] = [
      [memories[1]!, 1000, 64],
      [memories[0]!, 37, 40],
      [memories[2]!, 0, 24],
      [memories[2]!, 513, 96],
      [memories[1]!, 5, 64],
    ];
    const cases = plan.map(([m, rows, C]) => normCase(rng, m, rows, C));
    const want = aloneOnCallerThread(cases);
    cases.forEach((c, i) => {
      const ref = normReference(c);
      let worst = 0;
      for (let j = 0; j < ref.length; j++) worst = Math.max(worst, Math.abs(want[i]![j]! - ref[j]!));
      // a few f32 roundings of values ~1–10; a row run with another segment's data errs by ~1
      expect(worst).toBeLessThan(1e-4);
    });
    for (const c of cases) clear(c);
    const split0 = pool.stats.split;
    pool.runSegments('rmsnorm', cases.map(segmentOf), 1e12, 1);
    expect(pool.stats.split - split0).toBe(1);
    cases.forEach((c, i) => expect(output(c)).toEqual(want[i]!));
  });

  it('hundreds of small segments (more than one job holds) with aligned chunks, each its own result', () => {
    const rng = new Rng(seed + 2);
    const cases = Array.from({ length: 400 }, (_, i) =>
      normCase(rng, memories[i % 3]!, rng.int(0, 8) === 0 ? 0 : rng.int(1, 40), 8 + 4 * rng.int(0, 8)),
    );
    const want = aloneOnCallerThread(cases);
    for (const c of cases) clear(c);
    const split0 = pool.stats.split;
    pool.runSegments('rmsnorm', cases.map(segmentOf), 1e12, 4);
    const jobs = pool.stats.split - split0;
    const nonEmpty = cases.filter((c) => c.rows > 0).length;
    console.log(`400 segments (${nonEmpty} with rows): ${jobs} pool job(s)`);
    // a job holds 256 segments of 8 arguments (the empty ones take no room)
    expect(nonEmpty).toBeGreaterThan(256);
    expect(jobs).toBe(Math.ceil(nonEmpty / 256));
    cases.forEach((c, i) => expect(output(c)).toEqual(want[i]!));
  });

  it('back-to-back jobs of more chunks than the last each finish whole before the call returns', () => {
    const rng = new Rng(seed + 5);
    // a job of 5 one-row chunks, then one of about 15 chunks over three memories, and so on: a
    // worker still looking at the short job's claim word must not claim in the long one (that window
    // is a few instructions wide: this runs the transitions often, it cannot force the interleaving)
    const short = [normCase(rng, memories[0]!, 5, 16)];
    const long = [
      normCase(rng, memories[1]!, 90, 16),
      normCase(rng, memories[2]!, 7, 24),
      normCase(rng, memories[0]!, 40, 8),
    ];
    const want = [aloneOnCallerThread(short), aloneOnCallerThread(long)];
    const split0 = pool.stats.split;
    for (let i = 0; i < 400; i++) {
      const cases = i % 2 ? long : short;
      for (const c of cases) clear(c);
      pool.runSegments('rmsnorm', cases.map(segmentOf), 1e12, 1);
      cases.forEach((c, j) => expect(output(c)).toEqual(want[i % 2]![j]!));
    }
    expect(pool.stats.split - split0).toBe(400);
  });

  it('too little work runs every segment on the calling thread, with the same results', () => {
    const rng = new Rng(seed + 3);
    const cases = [normCase(rng, memories[2]!, 3, 16), normCase(rng, memories[0]!, 2, 8)];
    const want = aloneOnCallerThread(cases);
    for (const c of cases) clear(c);
    const split0 = pool.stats.split;
    pool.runSegments('rmsnorm', cases.map(segmentOf), 10, 1);
    expect(pool.stats.split).toBe(split0);
    cases.forEach((c, i) => expect(output(c)).toEqual(want[i]!));
  });

  it('a chunk that traps makes the job throw, and the pool runs the next job', () => {
    const rng = new Rng(seed + 4);
    const good = normCase(rng, memories[1]!, 600, 32);
    // every row of the second segment reads at 2 GiB, past its memory's end, whichever thread claims it
    const bad: PoolSegment = {
      ...segmentOf(good),
      memory: memories[2]!,
      args: [2 ** 31, ...segmentOf(good).args.slice(1)],
    };
    expect(() => pool.runSegments('rmsnorm', [segmentOf(good), bad, segmentOf(good)], 1e12, 1)).toThrow(/trapped/);
    const [want] = aloneOnCallerThread([good]);
    clear(good);
    pool.runSegments('rmsnorm', [segmentOf(good)], 1e12, 1);
    expect(output(good)).toEqual(want!);
  });
});
