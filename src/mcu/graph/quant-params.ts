/**
 * Synthetic but well-conditioned quantization parameters for random-weight networks.
 *
 * Benchmarks only need real shapes, but the bit-exactness tests need activations that stay spread
 * over the int8 range through many layers (an all-saturated or all-zero network would compare equal
 * for wrong reasons). So each layer's requantization multiplier is set from the expected spread of
 * its accumulator: std(acc) ≈ sqrt(fanIn) · std(w) · std(x − zero), and scaled to a target spread.
 */
import { quantizeMultiplier } from '../quant/requantize.js';
import type { AddParams, Requant } from './types.js';
import type { SeededRandom } from './seeded-random.js';

/** Std of weights drawn uniformly from [−127, 127]. */
export const WEIGHT_STD = 127 / Math.sqrt(3);
/** Spread we aim for in int8 units after each layer. */
export const TARGET_STD = 32;

export type Activation = 'relu6' | 'none';

/** Per-channel requantization aimed at TARGET_STD, with a fused activation clamp. */
export function makeRequant(
  rng: SeededRandom,
  channels: number,
  fanIn: number,
  inStd: number,
  act: Activation,
): Requant {
  const accStd = Math.sqrt(fanIn) * WEIGHT_STD * inStd;
  const multiplier = new Int32Array(channels);
  const shift = new Int32Array(channels);
  for (let c = 0; c < channels; c++) {
    // Per-channel jitter exercises distinct multipliers/shifts, as per-channel quantization has.
    const real = (TARGET_STD / accStd) * (0.6 + 0.8 * rng.next());
    const q = quantizeMultiplier(real);
    multiplier[c] = q.multiplier;
    shift[c] = q.shift;
  }
  // ReLU6 outputs use zero point −128 (real 0 is the lowest code), as TFLite converters emit.
  const outZero = act === 'relu6' ? -128 : rng.int(-12, 12);
  const actMin = act === 'relu6' ? outZero : -128;
  const actMax = act === 'relu6' ? Math.min(127, outZero + 6 * 40) : 127;
  return { multiplier, shift, outZero, actMin, actMax };
}

/** Int32 biases of about a third of the accumulator's spread. */
export function makeBias(rng: SeededRandom, channels: number, fanIn: number, inStd: number): Int32Array {
  const accStd = Math.sqrt(fanIn) * WEIGHT_STD * inStd;
  const bias = new Int32Array(channels);
  for (let c = 0; c < channels; c++) bias[c] = Math.round((rng.next() * 2 - 1) * accStd * 0.3);
  return bias;
}

/** Residual add: both operands rescaled by ≈0.7 to the output scale, output zero point near 0. */
export function makeAdd(rng: SeededRandom, aZero: number, bZero: number): AddParams {
  const a = quantizeMultiplier(0.55 + 0.3 * rng.next());
  const b = quantizeMultiplier(0.55 + 0.3 * rng.next());
  return {
    aZero,
    aMultiplier: a.multiplier,
    aShift: a.shift,
    bZero,
    bMultiplier: b.multiplier,
    bShift: b.shift,
    outZero: rng.int(-8, 8),
    actMin: -128,
    actMax: 127,
  };
}
