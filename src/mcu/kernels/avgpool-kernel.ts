/** Global average pool over the pool: accumulate pixel segments in int32 locals, store one pixel. */
import { clampInt8, multiplyByQuantizedMultiplier } from '../quant/requantize.js';
import type { KernelOp } from '../plan/kernel-ops.js';
import { wrapAddress, type Placement, type PoolAccess } from './pool-access.js';

export function runAvgPoolKernel(
  pool: PoolAccess, op: Extract<KernelOp, { kind: 'avgpool' }>, input: Placement, output: Placement,
): void {
  const { pool: p, inShape: s } = op;
  const acc = new Int32Array(p.c);
  const seg = new Int8Array(p.c);
  for (let i = 0; i < s.h * s.w; i++) {
    pool.load(wrapAddress(input.base, i * p.c, pool.size), p.c, input.tensor, i * p.c, seg, 0);
    for (let ch = 0; ch < p.c; ch++) acc[ch] = acc[ch]! + seg[ch]! - p.inZero;
  }
  for (let ch = 0; ch < p.c; ch++) seg[ch] = clampInt8(multiplyByQuantizedMultiplier(acc[ch]!, p.multiplier, p.shift) + p.outZero, -128, 127);
  pool.store(output.base, p.c, output.tensor, 0, seg, 0);
}
