/**
 * SimHash with its directions in the CPU backend's shared memory, hashing rows there with the
 * `simhashCodes` wasm kernel split over the pool: the hashing of decode queries (and of keys where
 * the device did not hash them). It also places the scan's ln u table (sampling-table.ts) in the
 * memories that scan. It is `SimHash` of the same seed with its directions rounded to
 * f16 (so the device's f16 matmul hashes keys with the very same directions); the kernel sums the
 * dot products in f32, so a row within f32 rounding of a hyperplane may get the other bit there.
 */
import type { Block } from '../backends/cpu/heap.js';
import { cpuRuntime } from '../backends/cpu/cpu-runtime.js';
import { f16Bits, f16ToNumber } from '../tensor/dtype.js';
import type { CpuShard } from './cpu-shards.js';
import { logUTable } from './sampling-table.js';
import { type LshConfig, SimHash } from './simhash.js';

export class HeapSimHash {
  readonly simhash: SimHash;
  /** The directions, copied into each memory that hashes with them. */
  private readonly directions = new Map<number, { shard: CpuShard; block: Block; generation: number }>();
  /** The ln u table (made on first use), and its copies. */
  private table: Float32Array | undefined;
  private readonly logU = new Map<number, { shard: CpuShard; block: Block; generation: number }>();

  constructor(
    readonly dim: number,
    readonly config: LshConfig,
  ) {
    this.simhash = new SimHash(dim, config);
    // f16 values, so a device hashing f16 keys (simhash_pack after a matmul) uses the same directions
    const d = this.simhash.directions;
    for (let i = 0; i < d.length; i++) d[i] = f16ToNumber(f16Bits(d[i]!));
  }

  private directionsIn(shard: CpuShard): Block {
    const have = this.directions.get(shard.index);
    // a cleared memory (ShardPlanner) dropped the copy with everything else
    if (have && have.generation === shard.heap.generation) return have.block;
    const block = shard.heap.alloc(Math.max(4, this.simhash.directions.byteLength));
    shard.heap.f32(block.offset, this.simhash.directions.length).set(this.simhash.directions);
    this.directions.set(shard.index, { shard, block, generation: shard.heap.generation });
    return block;
  }

  /** The ln u table of this config (sampling-table.ts) in `shard`'s memory. */
  logUTableIn(shard: CpuShard): Block {
    const have = this.logU.get(shard.index);
    if (have && have.generation === shard.heap.generation) return have.block;
    this.table ??= logUTable(this.config);
    const block = shard.heap.alloc(this.table.byteLength);
    shard.heap.f32(block.offset, this.table.length).set(this.table);
    this.logU.set(shard.index, { shard, block, generation: shard.heap.generation });
    return block;
  }

  /** Codes u16 [rows][L] at `codesAt` of the f32 rows [rows][dim] at `rowsAt` (offsets in `shard`'s memory). */
  hashInto(shard: CpuShard, rowsAt: number, rows: number, codesAt: number): void {
    const { bits, tables } = this.config;
    const dirs = this.directionsIn(shard);
    cpuRuntime().pool.run(
      'simhashCodes',
      [rowsAt, this.dim, dirs.offset, bits, tables, codesAt],
      rows,
      rows * bits * tables * this.dim,
      1,
      shard.index,
    );
  }

  destroy(): void {
    for (const copies of [this.directions, this.logU]) {
      for (const { shard, block, generation } of copies.values())
        if (generation === shard.heap.generation) shard.heap.release(block);
      copies.clear();
    }
  }
}
