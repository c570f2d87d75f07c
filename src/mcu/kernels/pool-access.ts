/**
 * How segment kernels touch the memory pool.
 *
 * Kernels never index an array directly: they load and store segments (runs of channels of one
 * pixel) and read single bytes through this interface, naming both the pool address and the
 * logical tensor element they mean. The same kernel code therefore drives three pools: one that
 * holds data (execution), one that records access times (the vMCU planner), and one that checks
 * every access against a shadow memory (the checker). The C kernels make the same calls in the
 * same order, which a trace test compares.
 */
export interface PoolAccess {
  /** Pool size in bytes; addresses wrap around it (a circular pool). */
  readonly size: number;
  /** Reads `n` bytes of `tensor` from element `elem`, stored at `addr`, into `dst[dstOff..]`. */
  load(addr: number, n: number, tensor: number, elem: number, dst: Int8Array, dstOff: number): void;
  /** Writes `n` bytes from `src[srcOff..]` as elements `elem..` of `tensor` at `addr`. */
  store(addr: number, n: number, tensor: number, elem: number, src: Int8Array, srcOff: number): void;
  /** Reads one byte (element `elem` of `tensor`) at `addr`. */
  at(addr: number, tensor: number, elem: number): number;
}

/** `base + offset` on a circular pool; both operands are already below `size`. */
export function wrapAddress(base: number, offset: number, size: number): number {
  const a = base + offset;
  return a >= size ? a - size : a;
}

/** A tensor's position in the pool. */
export interface Placement {
  tensor: number;
  base: number;
}
