/** Runs one planned step's kernel against any pool (data, recorder or checker). */
import type { PlannedStep } from '../plan/plan-types.js';
import { runAvgPoolKernel } from './avgpool-kernel.js';
import { runBottleneckKernel } from './bottleneck-kernel.js';
import { runConvKernel } from './conv-kernel.js';
import { runDepthwiseKernel } from './depthwise-kernel.js';
import type { PoolAccess } from './pool-access.js';

export function runStep(pool: PoolAccess, step: PlannedStep): void {
  const { op } = step;
  switch (op.kind) {
    case 'conv':
      return runConvKernel(pool, op, step.input, step.output, step.residual);
    case 'depthwise':
      return runDepthwiseKernel(pool, op, step.input, step.output);
    case 'avgpool':
      return runAvgPoolKernel(pool, op, step.input, step.output);
    case 'bottleneck':
      return runBottleneckKernel(pool, op, step.input, step.output, step.ring);
  }
}
