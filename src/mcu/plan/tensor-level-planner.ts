/**
 * The baseline a user has today: tensor-level planning as TensorFlow Lite Micro does it.
 *
 * Every tensor is allocated whole for its whole lifetime (from the op that produces it to the last
 * op that reads it). Offsets come from TFLM's greedy planner: tensors in decreasing size, each put
 * at the lowest offset that does not overlap a placed tensor whose lifetime intersects its own.
 * TFLM shares a buffer between an op's input and output only for ops that compute nothing
 * (reshape); every op here computes, so none is in place — exactly the gap vMCU closes.
 */
import type { McuGraph } from '../graph/types.js';
import { localBytes, lowerGraph, type LoweredGraph } from './kernel-ops.js';
import { roundToWords, type LayerPeak, type MemoryPlan, type PlannedStep } from './plan-types.js';
import { enforceBudget } from './sram-budget-error.js';

export interface PlanOptions {
  /** SRAM budget in bytes; planning throws SramBudgetError when the peak exceeds it. */
  sramBytes?: number;
}

interface Lifetime {
  first: number;
  last: number;
}

function lifetimes(g: LoweredGraph): Lifetime[] {
  const life: Lifetime[] = g.tensors.map(() => ({ first: Infinity, last: -Infinity }));
  const touch = (t: number, i: number): void => {
    life[t]!.first = Math.min(life[t]!.first, i);
    life[t]!.last = Math.max(life[t]!.last, i);
  };
  touch(g.input, 0);
  g.ops.forEach((op, i) => {
    touch(op.input, i);
    if (op.residual !== undefined) touch(op.residual, i);
    touch(op.output, i);
  });
  touch(g.output, g.ops.length - 1);
  return life;
}

/** TFLM GreedyMemoryPlanner: largest first, first fit among lifetime-overlapping buffers. */
function greedyOffsets(sizes: number[], life: Lifetime[], used: boolean[]): number[] {
  const offsets = sizes.map(() => -1);
  const order = sizes
    .map((_, i) => i)
    .filter((i) => used[i])
    .sort((a, b) => sizes[b]! - sizes[a]! || life[a]!.first - life[b]!.first);
  const placed: number[] = [];
  for (const t of order) {
    const conflicts = placed
      .filter((p) => life[p]!.first <= life[t]!.last && life[t]!.first <= life[p]!.last)
      .sort((a, b) => offsets[a]! - offsets[b]!);
    let candidate = 0;
    for (const p of conflicts) {
      if (candidate + sizes[t]! <= offsets[p]!) break;
      candidate = Math.max(candidate, offsets[p]! + sizes[p]!);
    }
    offsets[t] = candidate;
    placed.push(t);
  }
  return offsets;
}

/** Plans `graph` with whole tensors (the TFLM-style baseline). */
export function planTensorLevel(graph: McuGraph, options: PlanOptions = {}): MemoryPlan {
  const g = lowerGraph(graph, { fuseBottleneck: false });
  const life = lifetimes(g);
  const used = life.map((l) => l.first !== Infinity);
  const sizes = g.tensors.map((t) => t.bytes);
  const offsets = greedyOffsets(sizes, life, used);
  const arena = Math.max(...g.tensors.map((t, i) => (used[i] ? offsets[i]! + t.bytes : 0)));
  const place = (t: number) => ({ tensor: t, base: offsets[t]! });
  const steps: PlannedStep[] = g.ops.map((op, i) => {
    const live = g.tensors.filter((_, t) => used[t] && life[t]!.first <= i && i <= life[t]!.last);
    return {
      name: op.name,
      layerIndex: op.layerIndex,
      op: op.op,
      input: place(op.input),
      output: place(op.output),
      ...(op.residual !== undefined ? { residual: place(op.residual) } : {}),
      poolBytes: live.reduce((s, t) => s + t.bytes, 0),
      localBytes: localBytes(op.op),
    };
  });
  const layerPeaks: LayerPeak[] = graph.layers.map((layer, li) => ({
    layer: layer.name,
    bytes: Math.max(...steps.filter((s) => s.layerIndex === li).map((s) => s.poolBytes)),
  }));
  const plan: MemoryPlan = {
    planner: 'tensor-level',
    graphName: graph.name,
    tensors: g.tensors,
    steps,
    input: place(g.input),
    output: place(g.output),
    poolBytes: arena,
    localBytes: roundToWords(Math.max(...steps.map((s) => s.localBytes))),
    peakBytes: arena,
    layerPeaks,
  };
  return enforceBudget(plan, options.sramBytes);
}
