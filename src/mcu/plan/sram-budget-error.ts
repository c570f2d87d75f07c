/** The error a user gets when a network does not fit the MCU's SRAM under a planner. */
import type { MemoryPlan } from './plan-types.js';

export class SramBudgetError extends Error {
  override readonly name = 'SramBudgetError';
  readonly overByBytes: number;

  constructor(
    readonly planner: string,
    readonly graphName: string,
    readonly neededBytes: number,
    readonly budgetBytes: number,
    readonly peakLayer: string,
  ) {
    const over = neededBytes - budgetBytes;
    super(
      `${planner} plan of '${graphName}' needs ${fmt(neededBytes)} bytes of SRAM but the budget is ` +
        `${fmt(budgetBytes)} bytes: over by ${fmt(over)} bytes (peak at layer '${peakLayer}'). ` +
        'Choose an MCU with more SRAM, shrink the input resolution or width, or use the vMCU planner.',
    );
    this.overByBytes = over;
  }
}

function fmt(n: number): string {
  return n.toLocaleString('en-US');
}

/** Throws SramBudgetError when the plan's peak exceeds `sramBytes` (if a budget is given). */
export function enforceBudget(plan: MemoryPlan, sramBytes: number | undefined): MemoryPlan {
  if (sramBytes === undefined || plan.peakBytes <= sramBytes) return plan;
  const peak = plan.layerPeaks.reduce((a, b) => (b.bytes > a.bytes ? b : a));
  throw new SramBudgetError(plan.planner, plan.graphName, plan.peakBytes, sramBytes, peak.layer);
}
