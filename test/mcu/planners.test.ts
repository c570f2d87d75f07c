import { describe, expect, it } from 'vitest';
import { assertPlanSafe } from '../../src/mcu/check/shadow-checker.js';
import { runPlan } from '../../src/mcu/exec/data-pool.js';
import { McuGraphBuilder } from '../../src/mcu/graph/builder.js';
import { mobileNetV2, singleLayer, tinyTestNet, type SingleLayerSpec } from '../../src/mcu/models/zoo.js';
import { SramBudgetError } from '../../src/mcu/plan/sram-budget-error.js';
import { planTensorLevel } from '../../src/mcu/plan/tensor-level-planner.js';
import { planVmcu } from '../../src/mcu/plan/vmcu-planner.js';
import { runReference } from '../../src/mcu/reference/interpreter.js';
import { inputFor } from './helpers.js';

// Odd sizes on purpose: non-square maps, odd widths, every kernel size and both strides.
const LAYERS: SingleLayerSpec[] = [
  { kind: 'pointwise', h: 7, w: 9, cin: 5, cout: 5 },
  { kind: 'pointwise', h: 6, w: 5, cin: 3, cout: 11 },
  { kind: 'pointwise', h: 5, w: 7, cin: 12, cout: 4 },
  { kind: 'depthwise', h: 9, w: 7, c: 6, k: 3, stride: 1 },
  { kind: 'depthwise', h: 9, w: 11, c: 5, k: 5, stride: 2 },
  { kind: 'depthwise', h: 10, w: 8, c: 3, k: 7, stride: 1 },
  { kind: 'depthwise', h: 11, w: 9, c: 4, k: 7, stride: 2 },
  { kind: 'bottleneck', h: 9, w: 7, cin: 4, cout: 4, expand: 6, k: 3, stride: 1 },
  { kind: 'bottleneck', h: 9, w: 10, cin: 4, cout: 6, expand: 3, k: 5, stride: 2 },
  { kind: 'bottleneck', h: 8, w: 8, cin: 6, cout: 6, expand: 4, k: 7, stride: 1 },
  { kind: 'bottleneck', h: 7, w: 7, cin: 8, cout: 5, expand: 1, k: 3, stride: 1 },
];

describe('tensor-level planner (TFLM-style baseline)', () => {
  it('keeps an op’s input and output whole and side by side', () => {
    const g = singleLayer({ kind: 'pointwise', h: 8, w: 8, cin: 4, cout: 4 });
    const plan = planTensorLevel(g);
    expect(plan.peakBytes).toBe(8 * 8 * 4 * 2);
    const [step] = plan.steps;
    expect(Math.abs(step!.input.base - step!.output.base)).toBeGreaterThanOrEqual(256);
  });

  it('reuses memory across lifetimes: a chain needs only its largest adjacent pair', () => {
    const g = new McuGraphBuilder('chain', { h: 8, w: 8, c: 4 }, 1)
      .pointwise({ cout: 8 })
      .pointwise({ cout: 2 })
      .pointwise({ cout: 8 })
      .build();
    // 256 → 512 → 128 → 512: pairs 768, 640, 640.
    expect(planTensorLevel(g).peakBytes).toBe(768);
  });

  it('keeps the block input alive across an unfused bottleneck for its residual', () => {
    const g = singleLayer({ kind: 'bottleneck', h: 8, w: 8, cin: 4, cout: 4, expand: 6, k: 3, stride: 1 });
    // x (256) + expanded (1536) + depthwise out (1536) live together during the depthwise op.
    expect(planTensorLevel(g).layerPeaks[0]!.bytes).toBe(256 + 1536 + 1536);
  });
});

describe('vMCU segment planner', () => {
  it('runs an equal-width pointwise layer in place (output overlays input)', () => {
    const g = singleLayer({ kind: 'pointwise', h: 8, w: 8, cin: 4, cout: 4 });
    const plan = planVmcu(g);
    expect(plan.poolBytes).toBe(256);
    expect(plan.steps[0]!.output.base).toBe(plan.steps[0]!.input.base);
  });

  it('lags a stride-1 depthwise output by about (k−1)/2 rows', () => {
    const g = singleLayer({ kind: 'depthwise', h: 16, w: 16, c: 8, k: 5, stride: 1 });
    const row = 16 * 8;
    const plan = planVmcu(g);
    expect(plan.poolBytes).toBeGreaterThan(16 * row + 2 * row);
    expect(plan.poolBytes).toBeLessThanOrEqual(16 * row + 3 * row);
  });

  it('puts a stride-2 depthwise output entirely inside its input', () => {
    const g = singleLayer({ kind: 'depthwise', h: 16, w: 16, c: 8, k: 3, stride: 2 });
    expect(planVmcu(g).poolBytes).toBe(16 * 16 * 8);
  });

  it('keeps only a k-row ring of the expanded tensor in a fused bottleneck', () => {
    const g = singleLayer({ kind: 'bottleneck', h: 16, w: 16, cin: 8, cout: 8, expand: 6, k: 3, stride: 1 });
    const plan = planVmcu(g);
    const x = 16 * 16 * 8;
    const ring = 3 * 16 * 48;
    expect(plan.steps[0]!.poolBytes - ring).toBeGreaterThanOrEqual(x);
    expect(plan.steps[0]!.poolBytes - ring).toBeLessThan(x + 4 * 16 * 8);
    expect(plan.peakBytes).toBeLessThan(planTensorLevel(g).peakBytes / 3);
  });

  it('needs far less than the baseline for MobileNetV2 0.35 at 96×96', () => {
    const g = mobileNetV2(0.35, 96);
    const ours = planVmcu(g);
    const base = planTensorLevel(g);
    expect(base.peakBytes).toBe(48 * 48 * 48 + 24 * 24 * 48); // block1: expanded + depthwise output
    expect(ours.peakBytes).toBeLessThan(base.peakBytes * 0.5);
  });
});

describe('both planners', () => {
  const planners = [planTensorLevel, planVmcu];

  it.each(LAYERS.map((l) => [l] as const))('plan safely and run bit-exact: %o', (spec) => {
    const g = singleLayer(spec, 17);
    const input = inputFor(g);
    const expected = runReference(g, input)[g.output]!;
    for (const plan of planners.map((p) => p(g))) {
      assertPlanSafe(plan);
      expect(Array.from(runPlan(plan, input)), plan.planner).toEqual(Array.from(expected));
    }
  });

  it('run a whole network bit-exact, every step’s output included', () => {
    const g = tinyTestNet();
    const input = inputFor(g);
    const reference = runReference(g, input);
    for (const plan of planners.map((p) => p(g))) {
      const report = assertPlanSafe(plan);
      expect(report.readsChecked).toBeGreaterThan(1000);
      const seen: number[] = [];
      runPlan(plan, input, (step, out) => {
        // Intermediate tensors of unfused bottlenecks are not graph tensors; the rest must match.
        const ref = reference[step.output.tensor];
        if (ref) {
          expect(Array.from(out), `${plan.planner} ${step.name}`).toEqual(Array.from(ref));
          seen.push(step.output.tensor);
        }
      });
      expect(seen.length).toBe(g.layers.length);
    }
  });

  it('prove MobileNetV2 plans safe with the shadow checker', () => {
    const g = mobileNetV2(0.35, 96, 10);
    for (const plan of planners.map((p) => p(g))) assertPlanSafe(plan);
  });

  it('say by how many bytes a network misses the SRAM budget', () => {
    const g = tinyTestNet();
    for (const planner of planners) {
      const need = planner(g).peakBytes;
      expect(planner(g, { sramBytes: need }).peakBytes).toBe(need);
      let error: unknown;
      try {
        planner(g, { sramBytes: need - 123 });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(SramBudgetError);
      const e = error as SramBudgetError;
      expect(e.overByBytes).toBe(123);
      expect(e.message).toMatch(/over by 123 bytes/);
      expect(e.message).toContain(`needs ${need.toLocaleString('en-US')} bytes`);
      expect(e.message).toMatch(/peak at layer '\w+'/);
    }
  });
});
