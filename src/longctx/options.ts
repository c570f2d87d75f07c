/**
 * The long-context mode's settings, shared by the engine (when a sequence enters the mode and which
 * pages leave the GPU) and the model runner (the CPU store and the attention of the middle).
 */
import type { MiddlePolicy } from './policies.js';

export interface LongContextOptions {
  /** A sequence enters the mode once its context reaches this many tokens. */
  readonly threshold: number;
  /** K: SimHash bits per table. */
  readonly K: number;
  /** L: SimHash tables. */
  readonly L: number;
  /** Tables a key must collide in to be a candidate (2 in MagicPIG). Default 2. */
  readonly minCollisions?: number;
  /** Leading tokens kept on the GPU and attended exactly (rounded up to whole KV pages). */
  readonly sinks: number;
  /** Trailing tokens kept on the GPU and attended exactly (rounded up to whole KV pages, plus the page being filled). */
  readonly window: number;
  /**
   * Layers whose middle is attended exactly (on the CPU, over the same store: a KV page leaves the
   * GPU for every layer at once); default none.
   */
  readonly denseLayers?: readonly number[];
  /** What attends the middle; default MagicPIG's LSH sampling. */
  readonly policy?: MiddlePolicy;
  /** Seed of the SimHash directions. Default 0. */
  readonly seed?: number;
  /** CPU memory the mode's stores may hold, in bytes; a sequence that would pass it keeps its pages on the GPU. Default: no limit. */
  readonly cpuBytes?: number;
}

/** Checks the settings, throwing a RangeError that names the first bad one. */
export function checkLongContextOptions(o: LongContextOptions): void {
  const int = (name: string, v: number, min: number) => {
    if (!Number.isInteger(v) || v < min)
      throw new RangeError(`longContext.${name} must be an integer ≥ ${min}, got ${v}`);
  };
  int('threshold', o.threshold, 1);
  int('K', o.K, 0);
  if (o.K > 16) throw new RangeError(`longContext.K must be ≤ 16, got ${o.K}`);
  int('L', o.L, 1);
  int('minCollisions', o.minCollisions ?? 2, 1);
  if ((o.minCollisions ?? 2) > o.L) throw new RangeError(`longContext.minCollisions must be ≤ L (${o.L})`);
  int('sinks', o.sinks, 0);
  int('window', o.window, 1);
  for (const l of o.denseLayers ?? []) int('denseLayers[]', l, 0);
}
