/**
 * How far below its input a kernel's output must start so that no write lands on an input byte
 * that is still to be read — found by running the kernel itself and timing its accesses.
 *
 * Put the input X at offset 0 and the output Y at −D. A store of Y bytes [j0, j0+n) at time t is
 * safe when every X byte at or above j0+n−1−D is already dead, i.e. D ≥ j0+n − minLive(t), where
 * minLive(t) is the lowest X byte still read after t. The largest such bound over all stores is the
 * smallest safe lag: about one pixel for a pointwise layer, (k−1)/2 rows for a depthwise layer, and
 * for the fused bottleneck the rows its expansion runs ahead. Taking it from the kernel's real
 * access order (not a formula) keeps the planner honest whatever the kernel does.
 */
import { runStep } from '../kernels/run-step.js';
import type { PoolAccess } from '../kernels/pool-access.js';
import type { PlannedStep } from './plan-types.js';

class AccessTimer implements PoolAccess {
  readonly size = 2 ** 30; // addresses are ignored: only (tensor, element, time) matter here
  time = 0;
  readonly lastRead: Int32Array;
  readonly storeTimes: number[] = [];
  readonly storeEnds: number[] = [];

  constructor(
    private readonly inputTensor: number,
    inputBytes: number,
    private readonly outputTensor: number,
  ) {
    this.lastRead = new Int32Array(inputBytes).fill(-1);
  }

  load(_addr: number, n: number, tensor: number, elem: number): void {
    this.time++;
    if (tensor === this.inputTensor) this.lastRead.fill(this.time, elem, elem + n);
  }

  at(_addr: number, tensor: number, elem: number): number {
    this.time++;
    if (tensor === this.inputTensor) this.lastRead[elem] = this.time;
    return 0;
  }

  store(_addr: number, n: number, tensor: number, elem: number): void {
    this.time++;
    if (tensor !== this.outputTensor) return;
    this.storeTimes.push(this.time);
    this.storeEnds.push(elem + n);
  }
}

/** Smallest safe lag D (output start = input start − D) for a step's kernel; may be negative. */
export function minimalOverlapLag(step: PlannedStep, inputBytes: number, outputBytes: number): number {
  const timer = new AccessTimer(step.input.tensor, inputBytes, step.output.tensor);
  const probe: PlannedStep = {
    ...step,
    input: { tensor: step.input.tensor, base: 0 },
    output: { tensor: step.output.tensor, base: 0 },
    ...(step.ring ? { ring: { tensor: step.ring.tensor, base: 0 } } : {}),
  };
  runStep(timer, probe);
  // prefixMax[i] = latest read among X bytes 0..i; nondecreasing, so minLive(t) is a binary search.
  const prefixMax = new Int32Array(inputBytes);
  let running = -1;
  for (let i = 0; i < inputBytes; i++) {
    running = Math.max(running, timer.lastRead[i]!);
    prefixMax[i] = running;
  }
  const minLive = (t: number): number => {
    let lo = 0;
    let hi = inputBytes; // hi = inputBytes means no byte is live after t
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (prefixMax[mid]! > t) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  };
  let lag = -Infinity;
  timer.storeTimes.forEach((t, i) => {
    const live = minLive(t);
    if (live < inputBytes) lag = Math.max(lag, timer.storeEnds[i]! - live);
  });
  // With no binding store, any start inside X that keeps Y within X's extent is best.
  return Math.max(lag, Math.min(0, outputBytes - inputBytes));
}
