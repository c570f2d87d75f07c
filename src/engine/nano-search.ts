/**
 * The auto-search of nano-batching (docs/nanoflow.md): the nano-batch count and the partitioned
 * kernel's workgroup share of a step, chosen by an exhaustive search of a small grid over measured
 * per-operation costs, and cached per model and card.
 *
 * The cost model of a step of T tokens (D of them decodes) in n nano-batches of T/n tokens: a
 * pipeline whose first stage is nano-batch 1's GEMMs alone, whose n − 1 middle stages each run
 * nano-batch i's attention beside nano-batch i+1's GEMMs in one partitioned dispatch (GEMM on a
 * share s of the workgroups, attention on 1 − s), and whose last stage is nano-batch n's
 * attention alone. A GEMM on a share s of the device takes g/s (compute-bound: it scales with its
 * workgroups); attention reaches full bandwidth on `attentionSaturation` of the device and slows
 * only below it. Each stage also pays `stageMs` (a dispatch and its barrier).
 *
 * Why a grid and not the paper's MILP: the decision space here is two small integers per step
 * shape (n ≤ 8, s in 1/16 steps: at most 120 points), so enumerating it is exact on the grid,
 * takes microseconds, needs no solver dependency, and is trivially testable. An MILP pays off when
 * many ops get separate shares; with one partitioned dispatch per stage there is one share.
 *
 * @example
 * const plan = searchNanoPlan(costs, { decodeTokens: 512, prefillTokens: 256 });
 * // plan.nano, plan.share, plan.ms vs plan.plainMs
 */

/** Measured alone-times (ms) of one step's work at sampled sizes; interpolated linearly between them. */
export interface NanoCostTable {
  /** [tokens, ms]: every GEMM of a step over that many tokens (all layers), ascending in tokens. */
  gemm: readonly (readonly [number, number])[];
  /** [decode requests, ms]: decode attention of that many requests (all layers), ascending. */
  attention: readonly (readonly [number, number])[];
  /** Fraction of the device's workgroups at which attention reaches its full speed (1: it scales linearly). */
  attentionSaturation: number;
  /** Fixed cost of one pipeline stage (ms), summed over the layers like the costs above. */
  stageMs: number;
  /** What the costs were measured on (kernels, dtype), where it is not the engine's own step. */
  source?: string;
}

export interface NanoStepShape {
  decodeTokens: number;
  prefillTokens: number;
}

export interface NanoPlan {
  nano: number;
  /** The GEMM side's share of a partitioned dispatch's workgroups (1 when nano is 1). */
  share: number;
  /** Modelled step time of the plan, and of the plain step. */
  ms: number;
  plainMs: number;
}

export interface NanoSearchGrid {
  maxNano: number;
  /** Shares are k / shareSteps for k in 1 .. shareSteps − 1. */
  shareSteps: number;
}

export const DEFAULT_NANO_GRID: NanoSearchGrid = { maxNano: 4, shareSteps: 16 };

/** Piecewise-linear interpolation of a sampled cost (0 at size 0; extrapolated linearly past the last sample). */
export function interpolateCost(samples: readonly (readonly [number, number])[], x: number): number {
  if (x <= 0 || samples.length === 0) return 0;
  let [x0, y0] = [0, 0];
  for (const [x1, y1] of samples) {
    if (x <= x1) return y0 + ((y1 - y0) * (x - x0)) / (x1 - x0 || 1);
    [x0, y0] = [x1, y1];
  }
  const [xa, ya] = samples.length > 1 ? samples[samples.length - 2]! : [0, 0];
  return y0 + ((y0 - ya) * (x - x0)) / (x0 - xa || 1);
}

/**
 * Why a cost table cannot be a measurement (null when it can): samples out of order or not
 * positive, a saturation outside (0, 1], or a stage's fixed cost (one dispatch and its barrier per
 * layer) not below the GEMMs of the smallest sampled step, which run several dispatches per layer
 * and so pay that fixed cost several times over. A table that fails this would steer every plan by
 * a measuring error, so the plan cache refuses it.
 */
export function nanoCostProblem(c: NanoCostTable): string | null {
  for (const [name, samples] of [
    ['gemm', c.gemm],
    ['attention', c.attention],
  ] as const) {
    if (samples.length === 0) return `no ${name} samples`;
    for (const [i, [x, ms]] of samples.entries()) {
      if (!(x > 0 && ms > 0 && Number.isFinite(ms))) return `${name} sample [${x}, ${ms}] is not positive and finite`;
      if (i > 0 && x <= samples[i - 1]![0]) return `${name} samples are not ascending in size`;
    }
  }
  if (!(c.attentionSaturation > 0 && c.attentionSaturation <= 1))
    return `attention saturation ${c.attentionSaturation} is outside (0, 1]`;
  if (!(c.stageMs >= 0)) return `stage cost ${c.stageMs} ms is negative`;
  const [tokens, gemmMs] = c.gemm[0]!;
  if (c.stageMs >= gemmMs)
    return `a stage's fixed cost (${c.stageMs} ms) is not below the GEMMs of a ${tokens}-token step (${gemmMs} ms), which pay it several times per layer`;
  return null;
}

/** The cost model's step time for `nano` nano-batches at GEMM share `share`. */
export function modelStepMs(c: NanoCostTable, shape: NanoStepShape, nano: number, share: number): number {
  const tokens = shape.decodeTokens + shape.prefillTokens;
  const g = interpolateCost(c.gemm, tokens / nano);
  const a = interpolateCost(c.attention, shape.decodeTokens / nano);
  if (nano === 1) return g + a + 2 * c.stageMs;
  const attnShare = 1 - share;
  const attnSlow = Math.max(1, c.attentionSaturation / attnShare);
  const middle = Math.max(g / share, a * attnSlow) + c.stageMs;
  return g + c.stageMs + (nano - 1) * middle + a + c.stageMs;
}

/** The best (nano, share) on the grid; ties go to fewer nano-batches, then the share nearest ½. */
export function searchNanoPlan(
  c: NanoCostTable,
  shape: NanoStepShape,
  grid: NanoSearchGrid = DEFAULT_NANO_GRID,
): NanoPlan {
  const plainMs = modelStepMs(c, shape, 1, 1);
  let best: NanoPlan = { nano: 1, share: 1, ms: plainMs, plainMs };
  const tokens = shape.decodeTokens + shape.prefillTokens;
  for (let nano = 2; nano <= Math.min(grid.maxNano, Math.max(1, tokens)); nano++)
    for (let k = 1; k < grid.shareSteps; k++) {
      const share = k / grid.shareSteps;
      const ms = modelStepMs(c, shape, nano, share);
      const better =
        ms < best.ms - 1e-12 ||
        (Math.abs(ms - best.ms) <= 1e-12 && nano === best.nano && Math.abs(share - 0.5) < Math.abs(best.share - 0.5));
      if (better) best = { nano, share, ms, plainMs };
    }
  return best;
}

/** The cache key of a model on a card: plans are only valid for the costs they were searched over. */
export function nanoPlanKey(model: string, card: string): string {
  return `${model}@${card}`;
}

/** Steps are planned by shape bucket: decode and prefill token counts rounded up to a power of two. */
export function nanoShapeBucket(shape: NanoStepShape): string {
  const up = (x: number) => (x <= 0 ? 0 : 2 ** Math.ceil(Math.log2(x)));
  return `d${up(shape.decodeTokens)}p${up(shape.prefillTokens)}`;
}

/**
 * Plans of one model on one card, by step-shape bucket, searched once per bucket over its cost
 * table. Serialised as JSON so a host can keep it on disk between runs (the engine layer has no
 * file access; `tessera serve` and the bench read and write the file).
 */
export class NanoPlanCache {
  private readonly plans = new Map<string, NanoPlan>();
  constructor(
    readonly key: string,
    readonly costs: NanoCostTable,
    readonly grid: NanoSearchGrid = DEFAULT_NANO_GRID,
  ) {
    const why = nanoCostProblem(costs);
    if (why) throw new RangeError(`nano plan cache ${key}: not a measured cost table: ${why}`);
  }

  /** The plan of a step's shape bucket (searched at the bucket's upper corner the first time). */
  plan(shape: NanoStepShape): NanoPlan {
    const bucket = nanoShapeBucket(shape);
    let p = this.plans.get(bucket);
    if (!p) {
      const up = (x: number) => (x <= 0 ? 0 : 2 ** Math.ceil(Math.log2(x)));
      p = searchNanoPlan(
        this.costs,
        { decodeTokens: up(shape.decodeTokens), prefillTokens: up(shape.prefillTokens) },
        this.grid,
      );
      this.plans.set(bucket, p);
    }
    return p;
  }

  /** The engine's `nanoPlanner`: the nano-batch count of a step. */
  planner(): (decodeTokens: number, prefillTokens: number) => number {
    return (decodeTokens, prefillTokens) => this.plan({ decodeTokens, prefillTokens }).nano;
  }

  toJSON(): { key: string; costs: NanoCostTable; grid: NanoSearchGrid; plans: Record<string, NanoPlan> } {
    return { key: this.key, costs: this.costs, grid: this.grid, plans: Object.fromEntries(this.plans) };
  }

  /** A cache read back, or null when it was made for another model or card (its plans do not apply). */
  static fromJSON(text: string, key: string): NanoPlanCache | null {
    const doc = JSON.parse(text) as ReturnType<NanoPlanCache['toJSON']>;
    if (doc.key !== key) return null;
    const cache = new NanoPlanCache(doc.key, doc.costs, doc.grid);
    for (const [bucket, plan] of Object.entries(doc.plans)) cache.plans.set(bucket, plan);
    return cache;
  }
}
