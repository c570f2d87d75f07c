/** A memory plan: where every tensor segment lives in one static pool, step by step. */
import type { Placement } from '../kernels/pool-access.js';
import type { KernelOp, PlanTensor } from './kernel-ops.js';

export type PlannerName = 'tensor-level' | 'vmcu';

export interface PlannedStep {
  name: string;
  layerIndex: number;
  op: KernelOp;
  input: Placement;
  residual?: Placement;
  output: Placement;
  /** Ring buffer of a fused bottleneck (virtual expanded tensor). */
  ring?: Placement;
  /** Pool bytes this step needs: live tensors (tensor-level) or the overlapped extent + ring (vMCU). */
  poolBytes: number;
  /** Bytes of kernel-local segment buffers this step uses. */
  localBytes: number;
}

export interface LayerPeak {
  layer: string;
  bytes: number;
}

export interface MemoryPlan {
  planner: PlannerName;
  graphName: string;
  tensors: PlanTensor[];
  steps: PlannedStep[];
  input: Placement;
  output: Placement;
  /** Size of the static pool (the tensor arena for the baseline). */
  poolBytes: number;
  /** Largest kernel-local buffer set, rounded up to whole 32-bit words as the C scratch array is. */
  localBytes: number;
  /**
   * SRAM the planner is charged with. Tensor-level: the arena only (what TFLite Micro reports; its
   * kernels' locals are left out, in the baseline's favour). vMCU: pool + kernel segment buffers.
   */
  peakBytes: number;
  /** Peak per graph layer, same accounting as `peakBytes`. */
  layerPeaks: LayerPeak[];
}

/** Rounds a byte count up to whole 32-bit words. */
export function roundToWords(bytes: number): number {
  return Math.ceil(bytes / 4) * 4;
}
