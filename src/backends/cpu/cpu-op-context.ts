/** What a CPU op implementation gets, and the two helpers every op uses to write its f32 result. */
import type { Attrs, Tensor } from '../backend.js';
import { numel } from '../../tensor/dtype.js';
import { dtypeCode } from './cpu-tensor.js';
import type { Heap } from './heap.js';
import type { ThreadPool } from './thread-pool.js';

/** What an op implementation gets: the memory, the pool and scratch that lives for one op. */
export interface OpContext {
  readonly heap: Heap;
  readonly pool: ThreadPool;
  /** f32 scratch of n elements, released after the op. */
  scratch(n: number): number;
  /** The address of an f32 copy of t (t itself when it is f32). */
  f32(t: Tensor): number;
  /** Address of t's storage. */
  addr(t: Tensor): number;
}

export type OpImpl = (ctx: OpContext, attrs: Attrs, inputs: readonly Tensor[], outputs: readonly Tensor[]) => void;

/** Writes n f32 values at `src` into `out` (converting to its dtype), or nothing when src is out. */
export function storeF32(ctx: OpContext, src: number, out: Tensor, n: number): void {
  const dst = ctx.addr(out);
  if (src === dst) return;
  ctx.pool.run('convert', [src, 0, dst, dtypeCode(out.dtype)], n, n);
}

/** An f32 destination for out: its own storage when f32, else scratch to convert from. */
export function f32Target(ctx: OpContext, out: Tensor): number {
  return out.dtype === 'f32' ? ctx.addr(out) : ctx.scratch(numel(out.shape));
}
