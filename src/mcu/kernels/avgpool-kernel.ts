/**
 * Global average pool over the pool: one channel at a time, its h·w bytes read straight from the
 * pool into a register accumulator, so the only local buffer is the c-byte output pixel (a per-
 * channel int32 accumulator array would cost 4c bytes of SRAM for no gain).
 */
import { clampInt8, multiplyByQuantizedMultiplier } from '../quant/requantize.js';
import type { KernelOp } from '../plan/kernel-ops.js';
import { wrapAddress, type Placement, type PoolAccess } from './pool-access.js';

export function runAvgPoolKernel(
  pool: PoolAccess,
  op: Extract<KernelOp, { kind: 'avgpool' }>,
  input: Placement,
  output: Placement,
): void {
  const { pool: p, inShape: s } = op;
  const seg = new Int8Array(p.c);
  for (let ch = 0; ch < p.c; ch++) {
    let acc = 0;
    for (let i = 0; i < s.h * s.w; i++) {
      const elem = i * p.c + ch;
      acc += pool.at(wrapAddress(input.base, elem, pool.size), input.tensor, elem) - p.inZero;
    }
    seg[ch] = clampInt8(multiplyByQuantizedMultiplier(acc, p.multiplier, p.shift) + p.outZero, -128, 127);
  }
  pool.store(output.base, p.c, output.tensor, 0, seg, 0);
}
