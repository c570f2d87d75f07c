/**
 * A small pool of persistent worker threads that run kernels over row ranges of one shared memory.
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
 * once per memory; adding a memory restarts the workers with the longer list (between jobs).
 */
import { platform } from '../../platform/current.js';
import type { WorkerHandle } from '../../platform/platform.js';
import { KERNEL_NAMES, type KernelExports, type KernelName } from './kernel-module.js';

// control words (Int32Array over the shared control block)
/** Job generation (high 16 bits) and next unclaimed chunk (low 16): one word, so a claim is one CAS. */
const CLAIM = 0;
const DONE = 1;
const KERNEL = 2;
const ROWS = 3;
const CHUNKS = 4;
const SLEEPERS = 5;
const FAILED = 6;
const ALIGN = 7;
const READY = 8;
const NARGS = 9;
const STOP = 10;
/** Always 0: the caller sleeps on it for a moment while a descheduled worker finishes its chunk. */
const IDLE = 11;
/** Which memory the job's kernel runs over (an index into the pool's memories). */
const MEMORY = 12;
const ARGS_BYTE_OFFSET = 64;
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

/** Rows [r0, r1) of chunk `i` of `chunks`, with boundaries on multiples of `align`. */
export function chunkRows(rows: number, chunks: number, i: number, align: number): [number, number] {
  const blocks = Math.ceil(rows / align);
  const b0 = Math.floor((blocks * i) / chunks);
  const b1 = Math.floor((blocks * (i + 1)) / chunks);
  return [Math.min(rows, b0 * align), Math.min(rows, b1 * align)];
}

/**
 * Claims and runs chunks of the job in the claim word until none is left; returns whether any ran.
 * The job's kernel and arguments are read before the claim's compare-exchange: a job's arguments
 * change only after all its chunks are done, and a claim of a newer job fails the exchange, so
 * what a successful claim read belongs to its job. (Also the workers' loop: kept free of closures
 * over module scope, since its source text runs in the worker.)
 */
function claimChunks(
  ctl: Int32Array,
  args: Float64Array,
  fnsByMemory: readonly (readonly ((...a: number[]) => void)[])[],
): boolean {
  let ran = false;
  for (;;) {
    const w = Atomics.load(ctl, 0);
    const chunk = w & 0xffff;
    const chunks = ctl[4]!;
    if (chunk >= chunks) return ran;
    const rows = ctl[3]!;
    const align = ctl[7]!;
    const kernel = ctl[2]!;
    const fns = fnsByMemory[ctl[12]!]!;
    const a = Array.from(args.subarray(0, ctl[9]!));
    if (Atomics.compareExchange(ctl, 0, w, w + 1) !== w) continue;
    const blocks = Math.ceil(rows / align);
    const r0 = Math.min(rows, Math.floor((blocks * chunk) / chunks) * align);
    const r1 = Math.min(rows, Math.floor((blocks * (chunk + 1)) / chunks) * align);
    try {
      if (r1 > r0) fns[kernel]!(...a, r0, r1);
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
  const { module, memories, control, names, spin } = data as {
    module: WebAssembly.Module;
    memories: WebAssembly.Memory[];
    control: SharedArrayBuffer;
    names: string[];
    spin: number;
  };
  const fns = memories.map((memory) => {
    const inst = new WebAssembly.Instance(module, { env: { memory, abort: () => {} } });
    return names.map((n) => (inst.exports as Record<string, (...a: number[]) => void>)[n]!);
  });
  const ctl = new Int32Array(control);
  const args = new Float64Array(control, 64, 32);
  Atomics.add(ctl, 8, 1);
  for (;;) {
    let polls = 0;
    let w = Atomics.load(ctl, 0);
    // wait for a claim word with chunks left (a new job), spinning first, then sleeping
    while ((w & 0xffff) >= ctl[4]! && !ctl[10]) {
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
    claim(ctl, args, fns);
  }
}

export class ThreadPool {
  private workers: WorkerHandle[] = [];
  private ctl!: Int32Array;
  private args!: Float64Array;
  /** The caller thread's kernels, per memory. */
  private readonly fns: ((...a: number[]) => void)[][] = [];
  private readonly kernelsByMemory: KernelExports[] = [];
  private readonly memories: WebAssembly.Memory[] = [];
  private gen = 0;
  /** Threads kernels may use now (≤ `threads`); benchmarks compare thread counts in one process. */
  active: number;
  /** Kernels split across threads, and all kernels run (tests and benches read them). */
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
    const control = new SharedArrayBuffer(ARGS_BYTE_OFFSET + MAX_ARGS * 8);
    this.ctl = new Int32Array(control);
    this.args = new Float64Array(control, ARGS_BYTE_OFFSET, MAX_ARGS);
    const body = `(data) => (${workerMain.toString()})(${claimChunks.toString()}, data)`;
    const data = { module: this.module, memories: [...this.memories], control, names: [...KERNEL_NAMES], spin: SPIN };
    this.workers = [];
    for (let i = 1; i < this.threads; i++) this.workers.push(platform.startWorker(body, data));
  }

  /**
   * Adds a memory kernels may run over (`run`'s `memory` argument is its index, returned here);
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
    const kernels = this.kernelsByMemory[memory];
    if (!kernels) throw new Error(`${kernel}: no memory ${memory} in the pool (it has ${this.memories.length})`);
    const fn = kernels[kernel];
    this.stats.runs++;
    const helpers = Math.min(Atomics.load(this.ctl, READY), this.active - 1);
    const chunks = Math.min(Math.ceil(rows / align), (1 + helpers) * CHUNKS_PER_THREAD, 0xffff);
    if (helpers === 0 || work < MIN_SPLIT_WORK || chunks <= 1 || this.closed) {
      if (rows > 0) fn(...args, 0, rows);
      return;
    }
    if (args.length > MAX_ARGS) throw new Error(`${kernel}: ${args.length} arguments, at most ${MAX_ARGS}`);
    this.stats.split++;
    const c = this.ctl;
    this.args.set(args);
    c[NARGS] = args.length;
    c[KERNEL] = KERNEL_NAMES.indexOf(kernel);
    c[ROWS] = rows;
    c[ALIGN] = align;
    c[MEMORY] = memory;
    c[FAILED] = 0;
    Atomics.store(c, DONE, 0);
    Atomics.store(c, CHUNKS, chunks);
    this.gen = (this.gen + 1) & 0x7fff;
    Atomics.store(c, CLAIM, this.gen << 16);
    if (Atomics.load(c, SLEEPERS) > 0) Atomics.notify(c, CLAIM);
    claimChunks(c, this.args, this.fns);
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
