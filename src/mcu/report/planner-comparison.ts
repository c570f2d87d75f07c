/**
 * Side-by-side peak SRAM of the two planners — the numbers behind the paper-shaped tables, the
 * benchmark JSON and `tessera mcu plan`.
 */
import { checkPlan } from '../check/shadow-checker.js';
import type { McuGraph } from '../graph/types.js';
import { shapeBytes } from '../graph/types.js';
import { describeSingleLayer, singleLayer, type SingleLayerSpec } from '../models/zoo.js';
import type { MemoryPlan } from '../plan/plan-types.js';
import { planTensorLevel } from '../plan/tensor-level-planner.js';
import { planVmcu } from '../plan/vmcu-planner.js';

export interface PlannerComparison {
  name: string;
  /** TFLM-style tensor-level peak (bytes). */
  tensorLevel: number;
  /** vMCU peak (bytes), kernel segment buffers included. */
  vmcu: number;
  /** 1 − vmcu / tensorLevel. */
  reduction: number;
  /** No plan can go below the largest tensor that must exist whole (a layer's full input or output). */
  lowerBound: number;
  /** Whether the shadow checker proved both plans safe (undefined when not checked). */
  checked?: boolean;
  plans: { tensorLevel: MemoryPlan; vmcu: MemoryPlan };
}

/** The largest single input/output tensor of any layer: every plan must hold it whole once. */
export function largestTensorBound(graph: McuGraph): number {
  return Math.max(...graph.layers.flatMap((l) => [l.input, l.output]).map((t) => shapeBytes(graph.tensors[t]!.shape)));
}

export function comparePlanners(
  graph: McuGraph,
  name = graph.name,
  options: { check?: boolean } = {},
): PlannerComparison {
  const tensorLevel = planTensorLevel(graph);
  const vmcu = planVmcu(graph);
  let checked: boolean | undefined;
  if (options.check) checked = checkPlan(tensorLevel).ok && checkPlan(vmcu).ok;
  return {
    name,
    tensorLevel: tensorLevel.peakBytes,
    vmcu: vmcu.peakBytes,
    reduction: 1 - vmcu.peakBytes / tensorLevel.peakBytes,
    lowerBound: largestTensorBound(graph),
    ...(checked !== undefined ? { checked } : {}),
    plans: { tensorLevel, vmcu },
  };
}

export function compareSingleLayer(spec: SingleLayerSpec, options: { check?: boolean } = {}): PlannerComparison {
  return comparePlanners(singleLayer(spec), describeSingleLayer(spec), options);
}

export interface LayerRow {
  layer: string;
  kind: string;
  tensorLevel: number;
  vmcu: number;
}

/** Per-layer peaks of a network under both planners (same accounting as the whole-net peaks). */
export function perLayerRows(graph: McuGraph, c: PlannerComparison): LayerRow[] {
  return graph.layers.map((layer, i) => {
    const out = graph.tensors[layer.output]!.shape;
    const inp = graph.tensors[layer.input]!.shape;
    return {
      layer: layer.name,
      kind: `${layer.kind} ${inp.h}×${inp.w}×${inp.c}→${out.h}×${out.w}×${out.c}`,
      tensorLevel: c.plans.tensorLevel.layerPeaks[i]!.bytes,
      vmcu: c.plans.vmcu.layerPeaks[i]!.bytes,
    };
  });
}
