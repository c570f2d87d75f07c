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
const extraHeaps: Heap[] = [];

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

/**
 * Another shared memory, with its own heap, that the pool's kernels run over by its index (`run`'s
 * `memory`): room for data past the first memory's 4 GiB (wasm32), such as long-context KV stores.
 * The backend's tensors stay in memory 0. Adding one restarts the pool's workers.
 */
export function addCpuMemory(initialBytes = 64 << 20): { readonly index: number; readonly heap: Heap } {
  const rt = cpuRuntime();
  const module = kernelModule();
  const memory = sharedMemory(initialBytes);
  const heap = new Heap(memory);
  const index = rt.pool.addMemory(memory, instantiate(module, memory));
  extraHeaps[index - 1] = heap;
  return { index, heap };
}

/** The heap of memory `index` (0: the backend's). */
export function cpuHeap(index: number): Heap {
  if (index === 0) return cpuRuntime().heap;
  const h = extraHeaps[index - 1];
  if (!h) throw new Error(`no CPU memory ${index}`);
  return h;
}
