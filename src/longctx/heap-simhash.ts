/**
 * SimHash with its directions in the CPU backend's shared memory, hashing rows there with the
 * `simhashCodes` wasm kernel split over the pool: the hashing of appended keys and of decode
 * queries. It is the same function as `SimHash` (same seed, same directions); the kernel sums the
 * dot products in f32, so a row within f32 rounding of a hyperplane may get the other bit there.
 */
import type { Block } from '../backends/cpu/heap.js';
import { cpuRuntime } from '../backends/cpu/cpu-runtime.js';
import { type LshConfig, SimHash } from './simhash.js';

export class HeapSimHash {
  readonly simhash: SimHash;
  readonly directions: Block;

  constructor(
    readonly dim: number,
    readonly config: LshConfig,
  ) {
    this.simhash = new SimHash(dim, config);
    const heap = cpuRuntime().heap;
    this.directions = heap.alloc(Math.max(4, this.simhash.directions.byteLength));
    heap.f32(this.directions.offset, this.simhash.directions.length).set(this.simhash.directions);
  }

  /** Codes u16 [rows][L] at `codesAt` of the f32 rows [rows][dim] at `rowsAt` (heap offsets). */
  hashInto(rowsAt: number, rows: number, codesAt: number): void {
    const { bits, tables } = this.config;
    cpuRuntime().pool.run(
      'simhashCodes',
      [rowsAt, this.dim, this.directions.offset, bits, tables, codesAt],
      rows,
      rows * bits * tables * this.dim,
    );
  }

  destroy(): void {
    cpuRuntime().heap.release(this.directions);
  }
}
