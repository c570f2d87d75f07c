/**
 * Measured step times and the prefill budget they imply for an inter-token target
 * (docs/prefill-budget.md, "Sized by measured step times"). A step that carries decodes delays every
 * decoding request by its whole duration, so with a target ratio r the prefill chunk riding with d
 * decodes is the largest whose step is expected to take at most r × a decode-only step of d rows.
 *
 * Times are kept per row bucket (the next power of two of the step's tokens), decode-only and mixed
 * apart, as a moving average. The first time of each bucket is dropped: it carries the compile and
 * recording of that step shape. Where the runner's warm-up timed its step shapes (`StepCosts`),
 * those times seed the buckets, so the first step beside decodes is already sized; a bucket never
 * measured is allowed, so without them the engine starts with the fixed budget's behaviour and
 * learns which chunk sizes are too slow from the steps it runs.
 */
import type { StepCosts } from './model-runner.js';

/** The smallest chunk the measured budget gives a prompt while others decode: prompts always advance. */
export const MIN_PREFILL_CHUNK = 16;

/** Weight of a new time in a bucket's average. */
const NEW_WEIGHT = 0.2;

export function rowBucket(rows: number): number {
  return rows <= 1 ? 1 : 2 ** Math.ceil(Math.log2(rows));
}

class BucketTimes {
  private readonly ms = new Map<number, number>();
  private readonly seen = new Set<number>();

  observe(rows: number, ms: number): void {
    const b = rowBucket(rows);
    if (!this.seen.has(b)) {
      this.seen.add(b);
      return;
    }
    const old = this.ms.get(b);
    this.ms.set(b, old === undefined ? ms : old + NEW_WEIGHT * (ms - old));
  }

  get(rows: number): number | undefined {
    return this.ms.get(rowBucket(rows));
  }

  /** A time measured outside serving (already compiled and recorded): kept, not dropped as a first. */
  seed(rows: number, ms: number): void {
    const b = rowBucket(rows);
    this.seen.add(b);
    this.ms.set(b, ms);
  }
}

export class StepTimes {
  private readonly decode = new BucketTimes();
  private readonly mixed = new BucketTimes();

  /** Buckets seeded with a warm-up's step times (none: every bucket learned while serving). */
  constructor(costs?: StepCosts) {
    for (const [rows, ms] of costs?.decode ?? []) this.decode.seed(rows, ms);
    for (const [rows, ms] of costs?.mixed ?? []) this.mixed.seed(rows, ms);
  }

  /** A step of `rows` decode tokens only took `ms` (wall time from submit to its tokens). */
  observeDecode(rows: number, ms: number): void {
    this.decode.observe(rows, ms);
  }

  /** A step of `rows` tokens, some of them prefill, took `ms`. */
  observeMixed(rows: number, ms: number): void {
    this.mixed.observe(rows, ms);
  }

  /**
   * Prefill tokens for a step carrying `decodes` decode tokens: `cap`, halved while the measured
   * mixed step of that size exceeds `ratio` × the measured decode-only step, down to `floor` (a
   * prompt always advances). Unmeasured sizes pass.
   */
  prefillBudget(decodes: number, cap: number, ratio: number, floor: number): number {
    const decodeMs = this.decode.get(decodes);
    if (decodeMs === undefined) return cap;
    let p = cap;
    while (p > floor) {
      const ms = this.mixed.get(decodes + p);
      if (ms === undefined || ms <= ratio * decodeMs) return p;
      p = Math.max(floor, Math.floor(p / 2));
    }
    return Math.min(cap, floor);
  }
}
