/**
 * A small pool of persistent worker threads that run kernels over row ranges of shared memories.
 *
 * A decode step is ~1 ms of work cut into dozens of kernels, so handing each to a general pool by
 * message would cost more than the kernel. Here a job is a few words in a SharedArrayBuffer: the
 * caller writes kernel and arguments, bumps a generation counter and runs its own share; workers
 * spin briefly on the counter (they are usually still spinning from the previous kernel of the
 * step), sleep on `Atomics.wait` when idle, and count themselves done. The caller's thread is one
 * of the participants, so `threads` = workers + 1.
 *
 * A kernel runs over one of the pool's memories: the first holds the backend's tensors; more are
 * added for data past wasm32's 4 GiB (long-context KV stores). Every thread instantiates the module
 * once per memory; adding a memory restarts the workers with the longer list (between jobs). One
 * job may span memories (`runSegments`): a segment per memory, each with its own arguments, so
 * work spread over several memories wakes the workers and waits for them once.
 */
import { platform } from '../../platform/current.js';
import type { WorkerHandle } from '../../platform/platform.js';
import { KERNEL_NAMES, type KernelExports, type KernelName } from './kernel-module.js';

// control words (Int32Array over the shared control block's header)
/**
 * Job generation (high 16 bits) and next unclaimed chunk (low 16): one word, so a claim is one CAS.
 * While the caller writes a job the word is closed: the new generation with chunk 0xffff, past any
 * job's chunk count.
 */
const CLAIM = 0;
const DONE = 1;
const KERNEL = 2;
/** Segments of the job: the table's entries in use. */
const SEGMENTS = 3;
const CHUNKS = 4;
const SLEEPERS = 5;
const FAILED = 6;
const ALIGN = 7;
const READY = 8;
const STOP = 10;
/** Always 0: the caller sleeps on it for a moment while a descheduled worker finishes its chunk. */
const IDLE = 11;
const CLOSED = 0xffff;
/**
 * After the header, the segment table: per segment its first chunk, chunk count, rows, memory (an
 * index into the pool's memories), and where its arguments start in the argument area and how many.
 * Segments are in chunk order and none is empty, so every chunk lies in exactly one.
 */
const SEGMENTS_BYTE_OFFSET = 64;
const SEGMENT_WORDS = 8;
/** Segments one job holds; a call with more runs as several jobs. */
const MAX_SEGMENTS = 256;
const ARGS_BYTE_OFFSET = SEGMENTS_BYTE_OFFSET + MAX_SEGMENTS * SEGMENT_WORDS * 4;
/** Arguments of all a job's segments together (a segment has at most MAX_ARGS). */
const MAX_JOB_ARGS = 2048;
const MAX_ARGS = 32;
/** Polls of the claim word before a worker sleeps: a few hundred microseconds. */
const SPIN = 20_000;
/** Chunks per participant: claimed one at a time, so a thread the OS runs late takes fewer. */
const CHUNKS_PER_THREAD = 4;
/**
 * Work (about multiply-adds) below which a kernel runs on the calling thread alone: waking a worker
 * and claiming chunks costs tens of microseconds on a loaded machine, about what 256K multiply-adds
 * take on one core. Most of a small model's decode kernels stay on one thread; its LM head and
 * every prefill GEMM split.
 */
export const MIN_SPLIT_WORK = 262_144;

/** One part of a job: `rows` rows of the kernel over memory `memory` (an index into the pool's memories) with `args`. */
export interface PoolSegment {
  readonly memory: number;
  readonly args: readonly number[];
  readonly rows: number;
}

/** Rows [r0, r1) of chunk `i` of `chunks`, with boundaries on multiples of `align`. */
export function chunkRows(rows: number, chunks: number, i: number, align: number): [number, number] {
  const blocks = Math.ceil(rows / align);
  const b0 = Math.floor((blocks * i) / chunks);
  const b1 = Math.floor((blocks * (i + 1)) / chunks);
  return [Math.min(rows, b0 * align), Math.min(rows, b1 * align)];
}

/**
 * Chunks of each segment when a job of `segments` (row counts) is cut into about `target` chunks:
 * in proportion to its blocks of `align` rows, at least one for a segment with rows, none for an
 * empty one, never more than its blocks.
 */
export function segmentChunks(rows: readonly number[], target: number, align: number): number[] {
  const blocks = rows.map((r) => Math.ceil(r / align));
  const total = blocks.reduce((a, b) => a + b, 0);
  return blocks.map((b) => (b === 0 ? 0 : Math.min(b, Math.max(1, Math.ceil((target * b) / total)))));
}

/**
 * Claims and runs chunks of the job in the claim word until none is left; returns whether any ran.
 * Everything a chunk needs (its segment, the kernel, the segment's arguments) is read before the
 * claim's compare-exchange: a job's words change only after all its chunks are claimed and done,
 * and the caller closes the claim word before it writes the next job's, so an exchange succeeds
 * only on a word of the job whose words were read (a stale count read beside the new chunk count
 * fails it too: the count is written after the word was closed). Reads of a job being written may
 * be garbage, so nothing before the exchange may throw. (Also the workers' loop: kept free of
 * closures over module scope, since its source text runs in the worker; the numbers are the
 * control words and the segment table's layout above.)
 */
function claimChunks(
  ctl: Int32Array,
  segs: Int32Array,
  args: Float64Array,
  fnsByMemory: readonly (readonly ((...a: number[]) => void)[])[],
): boolean {
  let ran = false;
  for (;;) {
    const w = Atomics.load(ctl, 0);
    const chunk = w & 0xffff;
    if (chunk >= Atomics.load(ctl, 4)) return ran;
    // the segment holding the chunk: the last one starting at or before it
    let lo = 0;
    let hi = ctl[3]! - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (segs[mid * 8]! <= chunk) lo = mid;
      else hi = mid - 1;
    }
    const s = lo * 8;
    const local = chunk - segs[s]!;
    const chunks = segs[s + 1]!;
    const rows = segs[s + 2]!;
    const fns = fnsByMemory[segs[s + 3]!];
    const fn = fns === undefined ? undefined : fns[ctl[2]!];
    const a = Array.from(args.subarray(segs[s + 4]!, segs[s + 4]! + segs[s + 5]!));
    const align = ctl[7]!;
    if (Atomics.compareExchange(ctl, 0, w, w + 1) !== w) continue;
    const blocks = Math.ceil(rows / align);
    const r0 = Math.min(rows, Math.floor((blocks * local) / chunks) * align);
    const r1 = Math.min(rows, Math.floor((blocks * (local + 1)) / chunks) * align);
    try {
      if (r1 > r0) fn!(...a, r0, r1);
    } catch {
      Atomics.store(ctl, 6, 1);
    }
    Atomics.add(ctl, 1, 1);
    ran = true;
  }
}

/**
 * The worker's body, run from source text (so it needs no file of its own in any build layout):
 * the platform calls it with the data the pool passed (a Node worker thread or a Web Worker alike).
 */
function workerMain(claim: typeof claimChunks, data: unknown): void {
  const { module, memories, control, names, spin, layout } = data as {
    module: WebAssembly.Module;
    memories: WebAssembly.Memory[];
    control: SharedArrayBuffer;
    names: string[];
    spin: number;
    layout: { segmentsAt: number; segmentWords: number; argsAt: number; args: number };
  };
  const fns = memories.map((memory) => {
    const inst = new WebAssembly.Instance(module, { env: { memory, abort: () => {} } });
    return names.map((n) => (inst.exports as Record<string, (...a: number[]) => void>)[n]!);
  });
  const ctl = new Int32Array(control);
  const segs = new Int32Array(control, layout.segmentsAt, layout.segmentWords);
  const args = new Float64Array(control, layout.argsAt, layout.args);
  Atomics.add(ctl, 8, 1);
  for (;;) {
    let polls = 0;
    let w = Atomics.load(ctl, 0);
    // wait for a claim word with chunks left (a new job), spinning first, then sleeping
    while ((w & 0xffff) >= Atomics.load(ctl, 4) && !ctl[10]) {
      if (++polls < spin) {
        w = Atomics.load(ctl, 0);
        continue;
      }
      Atomics.add(ctl, 5, 1);
      Atomics.wait(ctl, 0, w);
      Atomics.sub(ctl, 5, 1);
      polls = 0;
      w = Atomics.load(ctl, 0);
    }
    if (ctl[10]) return;
    claim(ctl, segs, args, fns);
  }
}

export class ThreadPool {
  private workers: WorkerHandle[] = [];
  private ctl!: Int32Array;
  private segs!: Int32Array;
  private args!: Float64Array;
  /** The caller thread's kernels, per memory. */
  private readonly fns: ((...a: number[]) => void)[][] = [];
  private readonly kernelsByMemory: KernelExports[] = [];
  private readonly memories: WebAssembly.Memory[] = [];
  private gen = 0;
  /** Threads kernels may use now (≤ `threads`); benchmarks compare thread counts in one process. */
  active: number;
  /** Jobs split across threads, and all jobs run (tests and benches read them). */
  readonly stats = { split: 0, runs: 0 };
  private closed = false;

  constructor(
    kernels: KernelExports,
    private readonly module: WebAssembly.Module,
    memory: WebAssembly.Memory,
    /** Participants including the calling thread. */
    readonly threads: number,
  ) {
    this.active = threads;
    this.memories.push(memory);
    this.kernelsByMemory.push(kernels);
    this.fns.push(KERNEL_NAMES.map((n) => kernels[n]));
    this.startWorkers();
  }

  /** Starts the workers over every memory, on a fresh control block (workers of an older one have stopped). */
  private startWorkers(): void {
    const control = new SharedArrayBuffer(ARGS_BYTE_OFFSET + MAX_JOB_ARGS * 8);
    const layout = {
      segmentsAt: SEGMENTS_BYTE_OFFSET,
      segmentWords: MAX_SEGMENTS * SEGMENT_WORDS,
      argsAt: ARGS_BYTE_OFFSET,
      args: MAX_JOB_ARGS,
    };
    this.ctl = new Int32Array(control);
    this.segs = new Int32Array(control, layout.segmentsAt, layout.segmentWords);
    this.args = new Float64Array(control, layout.argsAt, layout.args);
    const body = `(data) => (${workerMain.toString()})(${claimChunks.toString()}, data)`;
    const data = {
      module: this.module,
      memories: [...this.memories],
      control,
      names: [...KERNEL_NAMES],
      spin: SPIN,
      layout,
    };
    this.workers = [];
    for (let i = 1; i < this.threads; i++) this.workers.push(platform.startWorker(body, data));
  }

  /**
   * Adds a memory kernels may run over (`run`'s and a segment's `memory` is its index, returned here);
   * the workers restart to instantiate over it, and kernels stay on the calling thread until they are up.
   */
  addMemory(memory: WebAssembly.Memory, kernels: KernelExports): number {
    if (this.closed) throw new Error('thread pool: addMemory after destroy');
    this.stopWorkers();
    this.memories.push(memory);
    this.kernelsByMemory.push(kernels);
    this.fns.push(KERNEL_NAMES.map((n) => kernels[n]));
    this.startWorkers();
    return this.memories.length - 1;
  }

  private stopWorkers(): void {
    Atomics.store(this.ctl, STOP, 1);
    Atomics.store(this.ctl, CLAIM, Atomics.load(this.ctl, CLAIM) + 1);
    Atomics.notify(this.ctl, CLAIM);
    for (const w of this.workers) w.terminate();
  }

  /** Workers started and taking chunks (until all are up, kernels split over fewer threads). */
  get helpers(): number {
    return Atomics.load(this.ctl, READY);
  }

  /**
   * Runs `kernel(...args, r0, r1)` over rows [0, rows), in chunks that any thread of the pool may
   * claim when `work` (about the multiply-adds) is worth waking it; chunks start on multiples of
   * `align`. The calling thread claims chunks too, so work never waits for a worker to wake.
   */
  run(kernel: KernelName, args: readonly number[], rows: number, work: number, align = 1, memory = 0): void {
    this.runSegments(kernel, [{ memory, args, rows }], work, align);
  }

  /**
   * Runs `kernel` over every segment's rows, each with its own arguments over its own memory, as
   * one job: its chunks are numbered over all segments' rows (none crosses a segment, chunk starts
   * are multiples of `align` within a segment) and any thread claims chunks of any segment. Tasks
   * spread over several memories (long-context stores of a batch) so wake the workers and wait for
   * the slowest once, and balance over all of them. `work` is the whole job's.
   */
  runSegments(kernel: KernelName, segments: readonly PoolSegment[], work: number, align = 1): void {
    for (const s of segments)
      if (!this.kernelsByMemory[s.memory])
        throw new Error(`${kernel}: no memory ${s.memory} in the pool (it has ${this.memories.length})`);
    this.stats.runs++;
    const helpers = Math.min(Atomics.load(this.ctl, READY), this.active - 1);
    const perSegment = this.chunksOf(segments, helpers, align);
    const chunks = perSegment.reduce((a, b) => a + b, 0);
    if (helpers === 0 || work < MIN_SPLIT_WORK || chunks <= 1 || this.closed) {
      for (const s of segments) if (s.rows > 0) this.kernelsByMemory[s.memory]![kernel](...s.args, 0, s.rows);
      return;
    }
    let args = 0;
    for (const s of segments) {
      if (s.args.length > MAX_ARGS) throw new Error(`${kernel}: ${s.args.length} arguments, at most ${MAX_ARGS}`);
      args += s.args.length;
    }
    // the usual case, one job: the chunk counts just computed are the job's (an empty segment has none)
    if (segments.length <= MAX_SEGMENTS && args <= MAX_JOB_ARGS) {
      this.runJob(
        kernel,
        segments.filter((s) => s.rows > 0),
        perSegment.filter((c) => c > 0),
        align,
      );
      return;
    }
    // as many segments as the control block holds per job
    let batch: PoolSegment[] = [];
    let batchArgs = 0;
    for (const s of segments) {
      if (s.rows === 0) continue;
      if (batch.length === MAX_SEGMENTS || batchArgs + s.args.length > MAX_JOB_ARGS) {
        this.runJob(kernel, batch, this.chunksOf(batch, helpers, align), align);
        batch = [];
        batchArgs = 0;
      }
      batch.push(s);
      batchArgs += s.args.length;
    }
    this.runJob(kernel, batch, this.chunksOf(batch, helpers, align), align);
  }

  /** Chunks of each segment of a job split over the caller and `helpers` workers. */
  private chunksOf(segments: readonly PoolSegment[], helpers: number, align: number): number[] {
    return segmentChunks(
      segments.map((s) => s.rows),
      (1 + helpers) * CHUNKS_PER_THREAD,
      align,
    );
  }

  /** One job of non-empty segments (that fit the control block), `perSegment` chunks each. */
  private runJob(
    kernel: KernelName,
    segments: readonly PoolSegment[],
    perSegment: readonly number[],
    align: number,
  ): void {
    const chunks = perSegment.reduce((a, b) => a + b, 0);
    if (chunks >= CLOSED) throw new Error(`${kernel}: ${chunks} chunks, fewer than ${CLOSED} allowed`);
    this.stats.split++;
    const c = this.ctl;
    this.gen = (this.gen + 1) & 0x7fff;
    // closed first: a thread that read the last job's claim word can no longer claim with it
    Atomics.store(c, CLAIM, (this.gen << 16) | CLOSED);
    let first = 0;
    let at = 0;
    segments.forEach((s, i) => {
      this.segs.set([first, perSegment[i]!, s.rows, s.memory, at, s.args.length], i * SEGMENT_WORDS);
      this.args.set(s.args, at);
      first += perSegment[i]!;
      at += s.args.length;
    });
    c[SEGMENTS] = segments.length;
    c[KERNEL] = KERNEL_NAMES.indexOf(kernel);
    c[ALIGN] = align;
    c[FAILED] = 0;
    Atomics.store(c, DONE, 0);
    Atomics.store(c, CHUNKS, chunks);
    Atomics.store(c, CLAIM, this.gen << 16);
    if (Atomics.load(c, SLEEPERS) > 0) Atomics.notify(c, CLAIM);
    claimChunks(c, this.segs, this.args, this.fns);
    // chunks claimed by workers and still running: short, so spin, then yield the core
    let polls = 0;
    while (Atomics.load(c, DONE) < chunks) if (++polls > SPIN) Atomics.wait(c, IDLE, 0, 0.05);
    if (c[FAILED]) throw new Error(`CPU kernel ${kernel} trapped in a worker thread`);
  }

  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    this.stopWorkers();
  }
}
