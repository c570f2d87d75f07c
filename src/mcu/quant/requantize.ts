/**
 * TFLite-style integer requantization: an int32 accumulator is scaled by a real multiplier that is
 * stored as a Q31 fixed-point `multiplier` and a power-of-two `shift`.
 *
 * The C runtime (`codegen/c-runtime.ts`) carries the same three functions; both must agree bit for
 * bit, so everything here is exact integer arithmetic done on doubles that never exceed 2^53.
 */

const TWO_31 = 2147483648;
const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

/**
 * `(a * b * 2 + 2^31) >> 32` with rounding half away from zero and saturation, i.e. gemmlowp's
 * SaturatingRoundingDoublingHighMul. The 62-bit product is split so no intermediate loses bits.
 */
export function saturatingRoundingDoublingHighMul(a: number, b: number): number {
  if (a === INT32_MIN && b === INT32_MIN) return INT32_MAX;
  const negative = a < 0 !== b < 0 && a !== 0 && b !== 0;
  const nudge = negative ? 1 - (1 << 30) : 1 << 30;
  // a*b = hi*2^16 + lo with |hi|,|lo| < 2^47; then write hi = hq*2^15 + hr so that
  // a*b + nudge = hq*2^31 + rem with |rem| < 2^49, all exact in a double.
  const bHi = Math.floor(b / 65536);
  const bLo = b - bHi * 65536;
  const hi = a * bHi;
  const hq = Math.floor(hi / 32768);
  const hr = hi - hq * 32768;
  const rem = hr * 65536 + a * bLo + nudge;
  const rq = Math.floor(rem / TWO_31);
  const floorQ = hq + rq;
  const floorR = rem - rq * TWO_31;
  // C's int64 division truncates toward zero, floor differs for negative non-exact quotients.
  return floorQ < 0 && floorR !== 0 ? floorQ + 1 : floorQ;
}

/** Arithmetic right shift by `exponent` (0..31) rounding half away from zero (gemmlowp). */
export function roundingDivideByPowerOfTwo(x: number, exponent: number): number {
  if (exponent === 0) return x;
  const mask = exponent === 31 ? 0x7fffffff : (1 << exponent) - 1;
  const remainder = x & mask;
  const threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/**
 * Scales an int32 accumulator by multiplier·2^shift (TFLite MultiplyByQuantizedMultiplier).
 * Only right shifts (shift ≤ 0) are produced by our quantizer, which keeps `x << left` from
 * overflowing in C; a positive shift is rejected rather than silently wrapped.
 */
export function multiplyByQuantizedMultiplier(x: number, multiplier: number, shift: number): number {
  if (shift > 0) throw new RangeError(`requantization shift must be <= 0, got ${shift}`);
  return roundingDivideByPowerOfTwo(saturatingRoundingDoublingHighMul(x, multiplier), -shift);
}

/** A real multiplier in (0, 1) as TFLite stores it: Q31 mantissa in [2^30, 2^31) and a shift. */
export interface QuantizedMultiplier {
  multiplier: number;
  shift: number;
}

/** TFLite QuantizeMultiplier for reals in (0, 1): frexp, round the mantissa to Q31. */
export function quantizeMultiplier(real: number): QuantizedMultiplier {
  if (!(real > 0 && real < 1)) throw new RangeError(`real multiplier must be in (0, 1), got ${real}`);
  let exponent = Math.floor(Math.log2(real)) + 1;
  let mantissa = real / 2 ** exponent;
  // log2 rounding can leave the mantissa just outside [0.5, 1).
  if (mantissa >= 1) {
    mantissa /= 2;
    exponent += 1;
  }
  if (mantissa < 0.5) {
    mantissa *= 2;
    exponent -= 1;
  }
  let q = Math.round(mantissa * TWO_31);
  if (q === TWO_31) {
    q /= 2;
    exponent += 1;
  }
  if (exponent < -31) return { multiplier: 0, shift: 0 };
  return { multiplier: q, shift: exponent };
}

/** Clamps to an int8 activation range [lo, hi]. */
export function clampInt8(x: number, lo: number, hi: number): number {
  return x < lo ? lo : x > hi ? hi : x;
}
