/** Requantization steps shared by the segment kernels (same formulas as the reference ops). */
import { clampInt8, multiplyByQuantizedMultiplier } from '../quant/requantize.js';
import type { AddParams, Requant } from '../graph/types.js';

export function requantizeChannel(acc: number, rq: Requant, ch: number): number {
  return clampInt8(
    multiplyByQuantizedMultiplier(acc, rq.multiplier[ch]!, rq.shift[ch]!) + rq.outZero,
    rq.actMin,
    rq.actMax,
  );
}

export function residualAdd(a: number, b: number, p: AddParams): number {
  const sum =
    p.outZero +
    multiplyByQuantizedMultiplier(a - p.aZero, p.aMultiplier, p.aShift) +
    multiplyByQuantizedMultiplier(b - p.bZero, p.bMultiplier, p.bShift);
  return clampInt8(sum, p.actMin, p.actMax);
}

/** acc + Σ (x[i] − zero) · w[wOff + i] over a loaded segment. */
export function dotSegment(acc: number, x: Int8Array, zero: number, w: Int8Array, wOff: number, n: number): number {
  for (let i = 0; i < n; i++) acc += (x[i]! - zero) * w[wOff + i]!;
  return acc;
}
