/**
 * The sampled part of attention for a batch of query rows, each against one KV stream (one layer
 * and KV head of one sequence): the queries are hashed by `simhashCodes`, then `lshAttention`
 * (wasm/lsh-attention.ts) finds each row's candidates and computes its importance-weighted state,
 * one task per row, the tasks split over the CPU pool's threads. Tasks whose stores lie in several
 * memories (the sequences of a batch, cpu-shards.ts) run as one pool job with a segment per memory,
 * so the threads balance over all of them and wake once.
 *
 * Each task needs scratch for one segment's keys (counts, keys touched, candidates, logits: 14 B
 * a key, up to 896 KiB); it is kept per memory between calls, with its counts zero (the kernel
 * leaves them so), in sizes of powers of two.
 */
import type { Block, Heap } from '../backends/cpu/heap.js';
import { cpuRuntime } from '../backends/cpu/cpu-runtime.js';
import type { ThreadPool } from '../backends/cpu/thread-pool.js';
import type { CpuShard } from './cpu-shards.js';
import { type LshKvStream, SEGMENT } from './kv-stream.js';

const TASK_WORDS = 16;

export interface SampledTask {
  readonly stream: LshKvStream;
  /** Which query head of the stream's group. */
  readonly group: number;
  /** The query row, `stream.dim` values. */
  readonly q: ArrayLike<number>;
  /** Candidates are taken from keys [lo, hi). */
  readonly lo: number;
  readonly hi: number;
  /** The query's L codes where they were computed already (on the device, beside q); hashed here otherwise. */
  readonly codes?: ArrayLike<number>;
}

export interface SampledState {
  /** Σ w_i v_i / Σ w_i over the candidates (zeros when there are none). */
  readonly o: Float32Array;
  /** log2 Σ w_i, −∞ without candidates. */
  readonly lse: number;
  readonly candidates: number;
  /** The candidates' ids (ascending), when asked for. */
  readonly ids?: Uint32Array;
}

/** Host milliseconds spent hashing queries and scanning stores, added to by each call that is given it. */
export interface ScanTimes {
  hashMs: number;
  scanMs: number;
}

export interface ScanOptions {
  readonly keepIds?: boolean;
  readonly threads?: number;
  /** Where the call adds its hashing and scanning time (benchmarks print it per step). */
  readonly times?: ScanTimes;
}

/**
 * The sampled states of `tasks` (all over streams of one SimHash); `scale` multiplies q·k. Every
 * memory's inputs are placed first, then one pool job scans all memories' tasks, then the states
 * are read.
 */
export function sampledStates(tasks: readonly SampledTask[], scale: number, opts: ScanOptions = {}): SampledState[] {
  if (tasks.length === 0) return [];
  const byShard = new Map<number, number[]>();
  tasks.forEach((t, i) => {
    const list = byShard.get(t.stream.shard.index) ?? [];
    byShard.set(t.stream.shard.index, list);
    list.push(i);
  });
  const keepIds = opts.keepIds ?? false;
  const scans: MemoryScan[] = [];
  try {
    for (const ids of byShard.values())
      scans.push(
        prepareInOneMemory(
          ids.map((i) => tasks[i]!),
          opts,
        ),
      );
    const t1 = performance.now();
    let work = 0;
    const segments = scans.map((m) => {
      work += writeDescriptors(m.shard.heap, m.tasks, m.at, keepIds);
      return { memory: m.shard.index, args: scanArgs(m, scale), rows: m.tasks.length };
    });
    runWithThreads(opts.threads, (pool) => pool.runSegments('lshAttention', segments, work, 1));
    const out: SampledState[] = new Array(tasks.length);
    [...byShard.values()].forEach((ids, k) => {
      const states = readStates(scans[k]!.shard.heap, scans[k]!.tasks, scans[k]!.at, keepIds);
      ids.forEach((i, j) => {
        out[i] = states[j]!;
      });
    });
    if (opts.times) opts.times.scanMs += performance.now() - t1;
    return out;
  } finally {
    for (const m of scans) m.release();
  }
}

/** Scratch blocks of the scan per memory (valid while its heap's generation lasts), by keys. */
const scratchCache = new Map<number, { generation: number; free: Map<number, Block[]> }>();

function takeScratch(index: number, heap: Heap, keys: number): Block {
  let c = scratchCache.get(index);
  if (!c || c.generation !== heap.generation) {
    c = { generation: heap.generation, free: new Map() };
    scratchCache.set(index, c);
  }
  const have = c.free.get(keys)?.pop();
  if (have) return have;
  const b = heap.alloc(keys * 14);
  new Uint16Array(heap.bytes(), b.offset, keys).fill(0);
  return b;
}

function returnScratch(index: number, heap: Heap, keys: number, b: Block): void {
  const c = scratchCache.get(index);
  if (!c || c.generation !== heap.generation) return;
  const list = c.free.get(keys) ?? [];
  c.free.set(keys, list);
  list.push(b);
}

/** Throws unless every task shares the first one's hash and value width and names a valid group and key range. */
function checkTasks(tasks: readonly SampledTask[]): void {
  const { hash, valueDim } = tasks[0]!.stream;
  tasks.forEach((t, i) => {
    if (t.stream.hash !== hash || t.stream.valueDim !== valueDim)
      throw new Error(`sampledStates: task ${i} has another hash or shape`);
    if (!(t.group >= 0 && t.group < t.stream.groupSize)) throw new Error(`sampledStates: task ${i} group ${t.group}`);
    if (!(0 <= t.lo && t.lo <= t.hi && t.hi <= t.stream.n))
      throw new Error(`sampledStates: task ${i} range [${t.lo}, ${t.hi})`);
    if (t.codes !== undefined && t.codes.length !== hash.config.tables)
      throw new Error(`sampledStates: task ${i} has ${t.codes.length} query codes for ${hash.config.tables} tables`);
  });
}

/** Keys of a task's scratch: its stream's segment (or fewer keys) rounded up to a power of two, at least 64. */
function scratchKeys(t: SampledTask): number {
  return Math.max(64, 2 ** Math.ceil(Math.log2(Math.max(1, Math.min(SEGMENT, t.stream.n)))));
}

/** Byte offsets, in the memory, of one call's inputs, descriptors, outputs and scratch. */
interface ScanLayout {
  readonly qAt: number;
  readonly codesAt: number;
  readonly tasksAt: number;
  readonly outAt: number;
  /** Per task, where its candidates' ids go (empty unless ids are kept). */
  readonly idsAt: readonly number[];
  readonly scratch: readonly { keys: number; block: Block }[];
}

/**
 * Writes each task's descriptor (the words `lshAttention` reads) and returns the call's estimated
 * work for the pool's split: bucket entries visited, the tail's compares, and the candidates' dot
 * products (a guess: 1%).
 */
function writeDescriptors(heap: Heap, tasks: readonly SampledTask[], at: ScanLayout, keepIds: boolean): number {
  const { dim } = tasks[0]!.stream.hash;
  const dv = tasks[0]!.stream.valueDim;
  const { bits, tables } = tasks[0]!.stream.hash.config;
  const desc = heap.i32(at.tasksAt, tasks.length * TASK_WORDS);
  let work = 0;
  tasks.forEach((t, i) => {
    const s = t.stream;
    desc.set(
      [
        at.qAt + i * dim * 4,
        at.codesAt + i * tables * 2,
        s.keys.offset,
        s.values.offset,
        s.segmentTable.offset,
        s.segmentCount,
        s.tailCodes.offset,
        s.built,
        s.n,
        t.lo,
        t.hi,
        at.scratch[i]!.block.offset,
        at.scratch[i]!.keys,
        keepIds ? at.idsAt[i]! : 0,
        at.outAt + i * (dv + 2) * 4,
        0,
      ],
      i * TASK_WORDS,
    );
    work += (s.built * tables) / (1 << bits) + ((s.n - s.built) * tables) / 8 + ((t.hi - t.lo) * (dim + dv)) / 100;
  });
  return work;
}

/** Each task's state from the output rows (o, lse, candidate count) and, when kept, its sorted ids. */
function readStates(heap: Heap, tasks: readonly SampledTask[], at: ScanLayout, keepIds: boolean): SampledState[] {
  const dv = tasks[0]!.stream.valueDim;
  const outWords = dv + 2;
  const out = heap.f32(at.outAt, tasks.length * outWords);
  return tasks.map((_, i) => {
    const base = i * outWords;
    const candidates = out[base + dv + 1]!;
    const state: SampledState = { o: out.slice(base, base + dv), lse: out[base + dv]!, candidates };
    if (!keepIds) return state;
    const ids = new Uint32Array(heap.bytes(), at.idsAt[i]!, candidates).slice().sort();
    return { ...state, ids };
  });
}

/** One memory's share of a scan: its tasks, where their inputs and outputs lie, and what gives the blocks back. */
interface MemoryScan {
  readonly shard: CpuShard;
  readonly tasks: readonly SampledTask[];
  readonly at: ScanLayout;
  readonly logU: Block;
  release(): void;
}

/** `lshAttention`'s arguments before the row range, for one memory's tasks. */
function scanArgs(m: MemoryScan, scale: number): number[] {
  const { hash, valueDim } = m.tasks[0]!.stream;
  const { bits, tables, minCollisions } = hash.config;
  return [m.at.tasksAt, hash.dim, valueDim, bits, tables, minCollisions, scale, m.logU.offset];
}

/**
 * Places one memory's tasks (all in one shard, at least one): their queries, their codes (hashed
 * here when not given), output rows and scratch. What it allocates is given back by `release`,
 * also when it throws.
 */
function prepareInOneMemory(tasks: readonly SampledTask[], opts: ScanOptions): MemoryScan {
  checkTasks(tasks);
  const shard = tasks[0]!.stream.shard;
  const { heap } = shard;
  const hash = tasks[0]!.stream.hash;
  const { dim } = hash;
  const dv = tasks[0]!.stream.valueDim;
  const { tables } = hash.config;
  const keepIds = opts.keepIds ?? false;
  const m = tasks.length;
  const temps: Block[] = [];
  const scratch: { keys: number; block: Block }[] = [];
  const release = () => {
    for (const b of temps) heap.release(b);
    for (const x of scratch) returnScratch(shard.index, heap, x.keys, x.block);
  };
  const alloc = (bytes: number) => {
    const b = heap.alloc(Math.max(bytes, 16));
    temps.push(b);
    return b.offset;
  };
  try {
    const logU = hash.logUTableIn(shard);
    const at: ScanLayout = {
      qAt: alloc(m * dim * 4),
      codesAt: alloc(m * tables * 2 + 16),
      tasksAt: alloc(m * TASK_WORDS * 4),
      outAt: alloc(m * (dv + 2) * 4),
      idsAt: keepIds ? tasks.map((t) => alloc((t.hi - t.lo) * 4)) : [],
      scratch,
    };
    for (const t of tasks) {
      const keys = scratchKeys(t);
      scratch.push({ keys, block: takeScratch(shard.index, heap, keys) });
    }
    // views only after every allocation: growing the memory replaces its buffer
    const qs = heap.f32(at.qAt, m * dim);
    tasks.forEach((t, i) => {
      for (let e = 0; e < dim; e++) qs[i * dim + e] = t.q[e]!;
    });
    const t0 = performance.now();
    if (tasks.every((t) => t.codes !== undefined)) {
      const codes = new Uint16Array(heap.bytes(), at.codesAt, m * tables);
      tasks.forEach((t, i) => codes.set(t.codes!, i * tables));
    } else hash.hashInto(shard, at.qAt, m, at.codesAt);
    if (opts.times) opts.times.hashMs += performance.now() - t0;
    return { shard, tasks, at, logU, release };
  } catch (e) {
    release();
    throw e;
  }
}

/** Runs `body` on the CPU pool with at most `threads` of its threads active (all when undefined). */
function runWithThreads(threads: number | undefined, body: (pool: ThreadPool) => void): void {
  const { pool } = cpuRuntime();
  const prev = pool.active;
  if (threads !== undefined) pool.active = Math.max(1, Math.min(threads, pool.threads));
  try {
    body(pool);
  } finally {
    pool.active = prev;
  }
}
