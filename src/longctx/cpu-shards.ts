/**
 * Where long-context stores live: memories of the CPU pool. One wasm32 memory addresses at most
 * 4 GiB, and an 8B model's store takes hundreds of KB per token, so stores are placed in memories
 * of their own (`addCpuMemory`), each filled up to SHARD_BYTES by the sizes reserved in it.
 */
import { addCpuMemory, cpuRuntime } from '../backends/cpu/cpu-runtime.js';
import type { Heap } from '../backends/cpu/heap.js';

/** A memory of the CPU pool and its heap. */
export interface CpuShard {
  readonly index: number;
  readonly heap: Heap;
}

/** Bytes placed in one memory: below 4 GiB, leaving room for the scan's scratch and growth. */
export const SHARD_BYTES = 3.5 * 2 ** 30;

/** The backend's own memory (small stores and tests). */
export function mainShard(): CpuShard {
  return { index: 0, heap: cpuRuntime().heap };
}

export class ShardPlanner {
  private readonly shards: { shard: CpuShard; placed: number }[] = [];

  constructor(private readonly limit = SHARD_BYTES) {}

  /** A memory with room for `bytes` more (a new one when none has). */
  place(bytes: number): CpuShard {
    if (bytes > this.limit) throw new RangeError(`a store of ${bytes} bytes exceeds one CPU memory (${this.limit})`);
    let s = this.shards.find((x) => x.placed + bytes <= this.limit);
    if (!s) {
      s = { shard: addCpuMemory(), placed: 0 };
      this.shards.push(s);
    }
    s.placed += bytes;
    return s.shard;
  }

  /**
   * Gives back what `place` reserved. A memory left with nothing placed is cleared (its heap
   * starts over, the memory keeps its size), since its heap reuses only blocks of equal size and
   * stores of other lengths would otherwise pile up past 4 GiB.
   */
  release(shard: CpuShard, bytes: number): void {
    const s = this.shards.find((x) => x.shard.index === shard.index);
    if (!s) return;
    s.placed = Math.max(0, s.placed - bytes);
    if (s.placed === 0) s.shard.heap.clear();
  }

  get count(): number {
    return this.shards.length;
  }
}
