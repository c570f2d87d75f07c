import { describe, expect, it } from 'vitest';
import { checkPlan } from '../../src/mcu/check/shadow-checker.js';
import { singleLayer, tinyTestNet } from '../../src/mcu/models/zoo.js';
import type { MemoryPlan } from '../../src/mcu/plan/plan-types.js';
import { planTensorLevel } from '../../src/mcu/plan/tensor-level-planner.js';
import { planVmcu } from '../../src/mcu/plan/vmcu-planner.js';

/** A deep copy whose steps can be broken without touching the original plan. */
function clone(plan: MemoryPlan): MemoryPlan {
  return {
    ...plan,
    steps: plan.steps.map((s) => ({
      ...s,
      input: { ...s.input },
      output: { ...s.output },
      ...(s.ring ? { ring: { ...s.ring } } : {}),
      ...(s.residual ? { residual: { ...s.residual } } : {}),
    })),
    output: { ...plan.output },
  };
}

describe('shadow-memory plan checker', () => {
  it('accepts the plans both planners make', () => {
    const g = tinyTestNet();
    for (const plan of [planTensorLevel(g), planVmcu(g)]) {
      const r = checkPlan(plan);
      expect(r.violations).toEqual([]);
      expect(r.ok).toBe(true);
      expect(r.writesChecked).toBeGreaterThan(500);
    }
  });

  it('catches a depthwise schedule whose output lag is too small', () => {
    const plan = clone(planVmcu(singleLayer({ kind: 'depthwise', h: 8, w: 8, c: 4, k: 3, stride: 1 })));
    // In place is unsafe for a 3×3 window: pixel (0,0)'s output lands on input still read by (0,1), (1,0), (1,1).
    plan.steps[0]!.output.base = plan.steps[0]!.input.base;
    plan.output.base = plan.steps[0]!.output.base;
    const r = checkPlan(plan);
    expect(r.ok).toBe(false);
    expect(r.violations[0]).toMatchObject({
      kind: 'overwrites-live',
      step: 'layer',
      tensor: 'layer',
      found: { tensor: 'input' },
    });
  });

  it('catches the lag being one byte short', () => {
    const good = planVmcu(singleLayer({ kind: 'depthwise', h: 8, w: 8, c: 4, k: 3, stride: 1 }));
    const plan = clone(good);
    plan.steps[0]!.output.base = (plan.steps[0]!.output.base + 1) % plan.poolBytes;
    plan.output.base = plan.steps[0]!.output.base;
    expect(checkPlan(good).ok).toBe(true);
    expect(checkPlan(plan).violations.some((v) => v.kind === 'overwrites-live')).toBe(true);
  });

  it('catches a bottleneck ring that overlaps the live input', () => {
    const plan = clone(
      planVmcu(singleLayer({ kind: 'bottleneck', h: 8, w: 8, cin: 4, cout: 4, expand: 6, k: 3, stride: 1 })),
    );
    plan.steps[0]!.ring!.base = plan.steps[0]!.input.base;
    expect(checkPlan(plan).violations[0]).toMatchObject({
      kind: 'overwrites-live',
      tensor: 'layer.expanded',
      found: { tensor: 'input' },
    });
  });

  it('catches a pool too small for the plan (wrap-around collision)', () => {
    const plan = clone(planVmcu(singleLayer({ kind: 'depthwise', h: 8, w: 8, c: 4, k: 3, stride: 1 })));
    plan.poolBytes = 8 * 8 * 4; // the output's lagged start wraps onto the input's live tail
    plan.steps[0]!.output.base = plan.poolBytes - 40;
    plan.output.base = plan.steps[0]!.output.base;
    expect(checkPlan(plan).ok).toBe(false);
  });

  it('catches a step reading a tensor from where it was never written', () => {
    const plan = clone(planTensorLevel(tinyTestNet()));
    plan.steps[2]!.input.base += 1;
    const r = checkPlan(plan);
    expect(r.violations.some((v) => v.kind === 'reads-wrong-data' && v.step === plan.steps[2]!.name)).toBe(true);
  });
});
