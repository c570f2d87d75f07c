/**
 * A small pool of persistent worker threads that run kernels over row ranges of one shared memory.
 *
 * A decode step is ~1 ms of work cut into dozens of kernels, so handing each to a general pool by
 * message would cost more than the kernel. Here a job is a few words in a SharedArrayBuffer: the
 * caller writes kernel and arguments, bumps a generation counter and runs its own share; workers
 * spin briefly on the counter (they are usually still spinning from the previous kernel of the
 * step), sleep on `Atomics.wait` when idle, and count themselves done. The caller's thread is one
 * of the participants, so `threads` = workers + 1.
 */
import { Worker } from 'node:worker_threads';
import { KERNEL_NAMES, type KernelExports, type KernelName } from './kernel-module.js';

// control words (Int32Array over the shared control block)
const GEN = 0;
const DONE = 1;
const KERNEL = 2;
const ROWS = 3;
const PARTS = 4;
const SLEEPERS = 5;
const FAILED = 6;
const ALIGN = 7;
const READY = 8;
const NARGS = 9;
const ARGS_BYTE_OFFSET = 64;
const MAX_ARGS = 32;
/** Polls of the generation counter before a worker sleeps: a few hundred microseconds. */
const SPIN = 20_000;

/** Rows [r0, r1) of participant `i` of `parts`, with boundaries on multiples of `align`. */
export function shareOf(rows: number, parts: number, i: number, align: number): [number, number] {
  const blocks = Math.ceil(rows / align);
  const b0 = Math.floor((blocks * i) / parts);
  const b1 = Math.floor((blocks * (i + 1)) / parts);
  return [Math.min(rows, b0 * align), Math.min(rows, b1 * align)];
}

/** The worker's body, run from source text (so it needs no file of its own in any build layout). */
function workerMain(): void {
  // biome-ignore lint: the eval'd worker is a CommonJS script
  const { workerData } = require('node:worker_threads') as typeof import('node:worker_threads');
  const { module, memory, control, index, names, spin } = workerData as {
    module: WebAssembly.Module;
    memory: WebAssembly.Memory;
    control: SharedArrayBuffer;
    index: number;
    names: string[];
    spin: number;
  };
  const inst = new WebAssembly.Instance(module, { env: { memory, abort: () => {} } });
  const fns = names.map((n) => (inst.exports as Record<string, (...a: number[]) => void>)[n]!);
  const ctl = new Int32Array(control);
  const args = new Float64Array(control, 64, 32);
  Atomics.add(ctl, 8, 1);
  let seen = Atomics.load(ctl, 0);
  for (;;) {
    let polls = 0;
    while (Atomics.load(ctl, 0) === seen) {
      if (++polls < spin) continue;
      Atomics.add(ctl, 5, 1);
      Atomics.wait(ctl, 0, seen);
      Atomics.sub(ctl, 5, 1);
      polls = 0;
    }
    seen = Atomics.load(ctl, 0);
    if (seen < 0) return;
    const parts = ctl[4]!;
    if (index < parts) {
      const rows = ctl[3]!;
      const align = ctl[7]!;
      const blocks = Math.ceil(rows / align);
      const r0 = Math.min(rows, Math.floor((blocks * index) / parts) * align);
      const r1 = Math.min(rows, Math.floor((blocks * (index + 1)) / parts) * align);
      const n = ctl[9]!;
      const a = Array.from(args.subarray(0, n));
      try {
        if (r1 > r0) fns[ctl[2]!]!(...a, r0, r1);
      } catch {
        Atomics.store(ctl, 6, 1);
      }
      Atomics.add(ctl, 1, 1);
      Atomics.notify(ctl, 1);
    }
  }
}

export class ThreadPool {
  private readonly workers: Worker[] = [];
  private readonly ctl: Int32Array;
  private readonly args: Float64Array;
  private closed = false;

  constructor(
    private readonly kernels: KernelExports,
    module: WebAssembly.Module,
    memory: WebAssembly.Memory,
    /** Participants including the calling thread. */
    readonly threads: number,
  ) {
    const control = new SharedArrayBuffer(ARGS_BYTE_OFFSET + MAX_ARGS * 8);
    this.ctl = new Int32Array(control);
    this.args = new Float64Array(control, ARGS_BYTE_OFFSET, MAX_ARGS);
    for (let i = 1; i < threads; i++) {
      const w = new Worker(`(${workerMain.toString()})()`, {
        eval: true,
        workerData: { module, memory, control, index: i, names: [...KERNEL_NAMES], spin: SPIN },
      });
      // an idle pool must not keep the process alive
      w.unref();
      this.workers.push(w);
    }
  }

  /** Workers that have started and can take a share (until all are up, work runs on fewer). */
  private get ready(): number {
    return Atomics.load(this.ctl, READY);
  }

  /**
   * Runs `kernel(...args, r0, r1)` over rows [0, rows), split across the pool when `work` (about
   * the multiply-adds) is worth waking it; shares start on multiples of `align`.
   */
  run(kernel: KernelName, args: readonly number[], rows: number, work: number, align = 1): void {
    const fn = this.kernels[kernel];
    const parts = Math.min(1 + this.ready, Math.ceil(rows / align), work >= 32_768 ? this.threads : 1);
    if (parts <= 1 || this.closed) {
      if (rows > 0) fn(...args, 0, rows);
      return;
    }
    if (args.length > MAX_ARGS) throw new Error(`${kernel}: ${args.length} arguments, at most ${MAX_ARGS}`);
    const c = this.ctl;
    this.args.set(args);
    c[NARGS] = args.length;
    c[KERNEL] = KERNEL_NAMES.indexOf(kernel);
    c[ROWS] = rows;
    c[ALIGN] = align;
    c[PARTS] = parts;
    c[FAILED] = 0;
    Atomics.store(c, DONE, 0);
    Atomics.add(c, GEN, 1);
    if (Atomics.load(c, SLEEPERS) > 0) Atomics.notify(c, GEN);
    const [r0, r1] = shareOf(rows, parts, 0, align);
    if (r1 > r0) fn(...args, r0, r1);
    const want = parts - 1;
    let polls = 0;
    for (let d = Atomics.load(c, DONE); d < want; d = Atomics.load(c, DONE))
      if (++polls > SPIN) Atomics.wait(c, DONE, d, 1);
    if (c[FAILED]) throw new Error(`CPU kernel ${kernel} trapped in a worker thread`);
  }

  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    Atomics.store(this.ctl, GEN, -1);
    Atomics.notify(this.ctl, GEN);
    for (const w of this.workers) void w.terminate();
  }
}
