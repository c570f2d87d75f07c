/** A pool that holds bytes: runs a plan in TypeScript exactly as the generated C does. */
import { runStep } from '../kernels/run-step.js';
import { wrapAddress, type PoolAccess } from '../kernels/pool-access.js';
import type { MemoryPlan, PlannedStep } from '../plan/plan-types.js';

export class DataPool implements PoolAccess {
  readonly bytes: Int8Array;

  constructor(readonly size: number) {
    this.bytes = new Int8Array(size);
  }

  load(addr: number, n: number, _t: number, _e: number, dst: Int8Array, dstOff: number): void {
    for (let i = 0; i < n; i++) dst[dstOff + i] = this.bytes[wrapAddress(addr, i, this.size)]!;
  }

  store(addr: number, n: number, _t: number, _e: number, src: Int8Array, srcOff: number): void {
    for (let i = 0; i < n; i++) this.bytes[wrapAddress(addr, i, this.size)] = src[srcOff + i]!;
  }

  at(addr: number): number {
    return this.bytes[addr]!;
  }

  /** Copies `n` bytes out starting at a (possibly wrapping) address. */
  read(addr: number, n: number): Int8Array {
    const out = new Int8Array(n);
    this.load(addr, n, -1, 0, out, 0);
    return out;
  }
}

/**
 * Runs a plan on a data pool: input copied to its base, each step's kernel run in turn.
 * `afterStep` sees every step's output while it is still intact in the pool.
 */
export function runPlan(
  plan: MemoryPlan,
  input: Int8Array,
  afterStep?: (step: PlannedStep, output: Int8Array) => void,
): Int8Array {
  const pool = new DataPool(plan.poolBytes);
  pool.store(plan.input.base, input.length, plan.input.tensor, 0, input, 0);
  for (const step of plan.steps) {
    runStep(pool, step);
    if (afterStep) afterStep(step, pool.read(step.output.base, plan.tensors[step.output.tensor]!.bytes));
  }
  return pool.read(plan.output.base, plan.tensors[plan.output.tensor]!.bytes);
}
