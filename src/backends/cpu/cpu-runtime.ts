/**
 * The process-wide CPU runtime: one shared memory with its heap, the kernels instantiated over it on
 * this thread, and the worker pool. Every CpuBackend shares it, so opening many backends (tests do)
 * starts the workers once.
 */
import { platform } from '../../platform/current.js';
import { Heap } from './heap.js';
import { instantiate, kernelModule, sharedMemory } from './kernel-module.js';
import { ThreadPool } from './thread-pool.js';

export interface CpuRuntime {
  readonly heap: Heap;
  readonly pool: ThreadPool;
}

let runtime: CpuRuntime | null = null;

/** Threads the pool runs on: TESSERA_THREADS when set to a positive integer, else every core. */
export function cpuThreads(): number {
  const env = Number(platform.env('TESSERA_THREADS'));
  return Number.isInteger(env) && env > 0 ? env : platform.hardwareConcurrency();
}

export function cpuRuntime(): CpuRuntime {
  if (runtime) return runtime;
  const module = kernelModule();
  const memory = sharedMemory(64 << 20);
  const heap = new Heap(memory);
  const pool = new ThreadPool(instantiate(module, memory), module, memory, cpuThreads());
  runtime = { heap, pool };
  return runtime;
}
