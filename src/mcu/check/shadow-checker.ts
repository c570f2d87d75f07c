/**
 * The plan checker: replays every read and write of a plan against a shadow memory that records,
 * for each pool byte, which tensor element it holds.
 *
 * Pass 1 runs all kernels and notes the last time each tensor element is read. Pass 2 runs them
 * again and, on every write, fails if the byte being overwritten holds an element that is still
 * going to be read; on every read, fails unless the byte holds exactly the element the kernel asks
 * for. A plan with no violation provably never loses a live byte, whatever its data.
 */
import { runStep } from '../kernels/run-step.js';
import { wrapAddress, type PoolAccess } from '../kernels/pool-access.js';
import type { MemoryPlan } from '../plan/plan-types.js';

export interface PlanViolation {
  kind: 'overwrites-live' | 'reads-wrong-data' | 'outside-pool';
  step: string;
  address: number;
  /** The element the kernel was accessing. */
  tensor: string;
  element: number;
  /** For overwrites: the live element destroyed; for reads: the element actually found. */
  found?: { tensor: string; element: number };
}

export interface CheckReport {
  ok: boolean;
  readsChecked: number;
  writesChecked: number;
  violations: PlanViolation[];
  /** Number of violations found (only the first few are kept in `violations`). */
  violationCount: number;
}

const KEEP = 20;

class LastReadRecorder implements PoolAccess {
  time = 0;
  readonly lastRead: Int32Array[];
  constructor(
    readonly size: number,
    sizes: number[],
  ) {
    this.lastRead = sizes.map((n) => new Int32Array(n).fill(-1));
  }
  load(_a: number, n: number, tensor: number, elem: number): void {
    this.time++;
    this.lastRead[tensor]!.fill(this.time, elem, elem + n);
  }
  at(_a: number, tensor: number, elem: number): number {
    this.time++;
    this.lastRead[tensor]![elem] = this.time;
    return 0;
  }
  store(): void {
    this.time++;
  }
}

class ShadowPool implements PoolAccess {
  time = 0;
  step = '(host)';
  reads = 0;
  writes = 0;
  count = 0;
  readonly violations: PlanViolation[] = [];
  private readonly holderTensor: Int32Array;
  private readonly holderElem: Int32Array;

  constructor(
    readonly size: number,
    private readonly lastRead: Int32Array[],
    private readonly names: string[],
  ) {
    this.holderTensor = new Int32Array(size).fill(-1);
    this.holderElem = new Int32Array(size);
  }

  load(addr: number, n: number, tensor: number, elem: number): void {
    this.time++;
    for (let i = 0; i < n; i++) this.checkRead(addr, i, tensor, elem + i);
  }

  at(addr: number, tensor: number, elem: number): number {
    this.time++;
    this.checkRead(addr, 0, tensor, elem);
    return 0;
  }

  store(addr: number, n: number, tensor: number, elem: number): void {
    this.time++;
    for (let i = 0; i < n; i++) {
      this.writes++;
      const a = this.address(addr, i, tensor, elem + i);
      if (a < 0) continue;
      const held = this.holderTensor[a]!;
      if (held >= 0 && this.lastRead[held]![this.holderElem[a]!]! > this.time) {
        this.report({
          kind: 'overwrites-live',
          step: this.step,
          address: a,
          tensor: this.names[tensor]!,
          element: elem + i,
          found: { tensor: this.names[held]!, element: this.holderElem[a]! },
        });
      }
      this.holderTensor[a] = tensor;
      this.holderElem[a] = elem + i;
    }
  }

  private checkRead(addr: number, i: number, tensor: number, elem: number): void {
    this.reads++;
    const a = this.address(addr, i, tensor, elem);
    if (a < 0) return;
    if (this.holderTensor[a] !== tensor || this.holderElem[a] !== elem) {
      const held = this.holderTensor[a]!;
      this.report({
        kind: 'reads-wrong-data',
        step: this.step,
        address: a,
        tensor: this.names[tensor]!,
        element: elem,
        ...(held >= 0 ? { found: { tensor: this.names[held]!, element: this.holderElem[a]! } } : {}),
      });
    }
  }

  private address(addr: number, i: number, tensor: number, elem: number): number {
    if (addr < 0 || addr >= this.size || i >= this.size) {
      this.report({
        kind: 'outside-pool',
        step: this.step,
        address: addr + i,
        tensor: this.names[tensor]!,
        element: elem,
      });
      return -1;
    }
    return wrapAddress(addr, i, this.size);
  }

  private report(v: PlanViolation): void {
    this.count++;
    if (this.violations.length < KEEP) this.violations.push(v);
  }
}

/** Simulates the whole plan against shadow memory; see the file comment for what is proven. */
export function checkPlan(plan: MemoryPlan): CheckReport {
  const sizes = plan.tensors.map((t) => t.bytes);
  const names = plan.tensors.map((t) => t.name);
  const outBytes = sizes[plan.output.tensor]!;
  const inBytes = sizes[plan.input.tensor]!;
  // The host writes the input first and reads the output last; both are accesses like any other.
  const replay = (pool: PoolAccess, onStep: (name: string) => void) => {
    pool.store(plan.input.base, inBytes, plan.input.tensor, 0, new Int8Array(inBytes), 0);
    for (const step of plan.steps) {
      onStep(step.name);
      runStep(pool, step);
    }
    onStep('(host)');
    pool.load(plan.output.base, outBytes, plan.output.tensor, 0, new Int8Array(outBytes), 0);
  };
  const recorder = new LastReadRecorder(plan.poolBytes, sizes);
  replay(recorder, () => {});
  const shadow = new ShadowPool(plan.poolBytes, recorder.lastRead, names);
  replay(shadow, (name) => {
    shadow.step = name;
  });
  return {
    ok: shadow.count === 0,
    readsChecked: shadow.reads,
    writesChecked: shadow.writes,
    violations: shadow.violations,
    violationCount: shadow.count,
  };
}

/** Throws with the first violations when the plan is unsafe. */
export function assertPlanSafe(plan: MemoryPlan): CheckReport {
  const report = checkPlan(plan);
  if (!report.ok) {
    const first = report.violations
      .slice(0, 3)
      .map(
        (v) =>
          `${v.kind} in '${v.step}' at ${v.address}: ${v.tensor}[${v.element}]${v.found ? ` vs ${v.found.tensor}[${v.found.element}]` : ''}`,
      );
    throw new Error(
      `${plan.planner} plan of '${plan.graphName}' is unsafe (${report.violationCount} violations): ${first.join('; ')}`,
    );
  }
  return report;
}
