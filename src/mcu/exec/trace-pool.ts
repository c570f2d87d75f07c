/**
 * A pool that records every access in the same text form the C runtime prints under TQ_TRACE
 * ("R addr n", "W addr n", "A addr 1"), so the schedule the checker proved can be compared line by
 * line with what the compiled C actually does.
 */
import { runStep } from '../kernels/run-step.js';
import type { PoolAccess } from '../kernels/pool-access.js';
import type { MemoryPlan } from '../plan/plan-types.js';

export class TracePool implements PoolAccess {
  readonly lines: string[] = [];
  constructor(readonly size: number) {}
  load(addr: number, n: number): void {
    this.lines.push(`R ${addr} ${n}`);
  }
  store(addr: number, n: number): void {
    this.lines.push(`W ${addr} ${n}`);
  }
  at(addr: number): number {
    this.lines.push(`A ${addr} 1`);
    return 0;
  }
}

/** The access trace of a whole plan, starting with the host's store of the input. */
export function tracePlan(plan: MemoryPlan): string[] {
  const pool = new TracePool(plan.poolBytes);
  const inBytes = plan.tensors[plan.input.tensor]!.bytes;
  pool.store(plan.input.base, inBytes);
  for (const step of plan.steps) runStep(pool, step);
  return pool.lines;
}
