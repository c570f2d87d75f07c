/**
 * The vMCU planner: one circular segment pool shared by every layer.
 *
 * Each kernel reads its input and writes its output segment by segment, so the output may start
 * D bytes below the input (D from `minimalOverlapLag`) and overwrite input bytes as soon as they
 * are dead. The two footprints overlap instead of coexisting; a fused bottleneck adds only its ring
 * of expanded rows. The pool is circular, so the drift of D per layer never accumulates: the pool
 * is as large as the largest single layer's extent, and each tensor's base is the previous one
 * minus D, modulo the pool size.
 */
import type { McuGraph } from '../graph/types.js';
import { localBytes, lowerGraph, ringBytes } from './kernel-ops.js';
import { minimalOverlapLag } from './overlap-offset.js';
import { roundToWords, type MemoryPlan, type PlannedStep } from './plan-types.js';
import { enforceBudget } from './sram-budget-error.js';
import type { PlanOptions } from './tensor-level-planner.js';

interface StepLayout {
  lag: number;
  /** Start of the X ∪ Y extent relative to X's start (≤ 0). */
  low: number;
  /** Bytes of X ∪ Y. */
  extent: number;
  ring: number;
}

/** Plans `graph` with a segment-level circular pool and fused inverted bottlenecks. */
export function planVmcu(graph: McuGraph, options: PlanOptions = {}): MemoryPlan {
  const g = lowerGraph(graph, { fuseBottleneck: true });
  const bytes = (t: number) => g.tensors[t]!.bytes;
  // Provisional steps (bases filled in once the pool size is known).
  const steps: PlannedStep[] = g.ops.map((op, i) => {
    if (op.residual !== undefined)
      throw new Error(`vMCU planner: op '${op.name}' has an external residual; bottlenecks must be fused`);
    if (i > 0 && op.input !== g.ops[i - 1]!.output)
      throw new Error(`vMCU planner: '${graph.name}' is not a chain at '${op.name}'`);
    return {
      name: op.name,
      layerIndex: op.layerIndex,
      op: op.op,
      input: { tensor: op.input, base: 0 },
      output: { tensor: op.output, base: 0 },
      ...(op.ring !== undefined ? { ring: { tensor: op.ring, base: 0 } } : {}),
      poolBytes: 0,
      localBytes: localBytes(op.op),
    };
  });
  const layouts: StepLayout[] = steps.map((step) => {
    const x = bytes(step.input.tensor);
    const y = bytes(step.output.tensor);
    const lag = minimalOverlapLag(step, x, y);
    const low = Math.min(0, -lag);
    const high = Math.max(x, y - lag);
    const ring = step.op.kind === 'bottleneck' ? ringBytes(step.op.block, step.op.inShape) : 0;
    return { lag, low, extent: high - low, ring };
  });
  layouts.forEach((l, i) => {
    steps[i]!.poolBytes = l.extent + l.ring;
  });
  const pool = Math.max(...steps.map((s) => s.poolBytes));
  const mod = (a: number) => ((a % pool) + pool) % pool;
  let base = 0;
  steps.forEach((step, i) => {
    const l = layouts[i]!;
    step.input.base = base;
    step.output.base = mod(base - l.lag);
    // The ring sits just past the X ∪ Y extent, in the part of the pool this step leaves free.
    if (step.ring) step.ring.base = mod(base + l.low + l.extent);
    base = step.output.base;
  });
  const locals = roundToWords(Math.max(...steps.map((s) => s.localBytes)));
  const plan: MemoryPlan = {
    planner: 'vmcu',
    graphName: graph.name,
    tensors: g.tensors,
    steps,
    input: { tensor: g.input, base: 0 },
    output: { tensor: g.output, base },
    poolBytes: pool,
    localBytes: locals,
    peakBytes: pool + locals,
    // A layer's own need: its extent + ring + its own segment buffers (what a one-layer pool would take).
    layerPeaks: graph.layers.map((layer, li) => ({
      layer: layer.name,
      bytes: Math.max(...steps.filter((s) => s.layerIndex === li).map((s) => s.poolBytes + roundToWords(s.localBytes))),
    })),
  };
  return enforceBudget(plan, options.sramBytes);
}
