/**
 * log u as a table over the query–key cosine, for the scan (wasm/lsh-attention.ts `logU`): the
 * sampling probability u (collision.ts) costs five f64 transcendentals per candidate, the table a
 * lookup and a linear interpolation.
 *
 * u depends only on the cosine c and the config. log u has a logarithmic singularity at c = −1
 * (u ~ C(L,T)·(2·√((1+c)/2)/π)^(T·K)) and a square-root one in the angle at c = 1, so the table
 * is indexed by the distance to the nearer end, y = (1 − |c|)/2 ∈ [0, 1/2], one table per sign of
 * c, at points spaced evenly in y's f32 bits: 2^MANTISSA_BITS points per octave of y, OCTAVES
 * octaves down to y = 2^-(OCTAVES+1). The spacing relative to y is fixed, so near c = −1 the
 * interpolation error of T·K/2·ln y is the same in every octave, about T·K·2^(−2·MANTISSA_BITS)/16.
 * Every f32 cosine other than ±1 has y ≥ 2^-25, inside the table; y below 2^-26 reads the first
 * point (at c = 1 that is u within 2^-26·|d ln u/dy| of 1; c = −1 is never a candidate: its every bit differs).
 *
 * The kernel and this file share the layout (MANTISSA_BITS, OCTAVES, Y0_BITS); the scan's tests
 * compare the kernel with the float64 oracle, and this table's own test holds `worstRelativeError`.
 */
import { bitCollisionProbability, logSamplingProbability } from './collision.js';
import type { LshConfig } from './simhash.js';

export const LOG_U_MANTISSA_BITS = 8;
export const LOG_U_OCTAVES = 25;
/** f32 bits of the table's first point, y = 2^-26. */
const Y0_BITS = (127 - 26) << 23;
/** Points per sign of c: OCTAVES·2^M intervals up to y = 1/2, and one past it for the interpolation. */
export const LOG_U_ENTRIES = (LOG_U_OCTAVES << LOG_U_MANTISSA_BITS) + 2;
/** u's floor, ln 1e-300 (the estimator's weights 1/u stay finite in f64). */
export const LOG_U_FLOOR = Math.log(1e-300);

const bitsView = new Int32Array(1);
const floatView = new Float32Array(bitsView.buffer);

function yAt(i: number): number {
  bitsView[0] = Y0_BITS + (i << (23 - LOG_U_MANTISSA_BITS));
  return floatView[0]!;
}

/** The exact (float64) log u at cosine c, with u floored at U_FLOOR, as the oracle computes it. */
export function exactLogU(c: number, config: LshConfig): number {
  const p = bitCollisionProbability(c);
  return Math.max(logSamplingProbability(p, config.bits, config.tables, config.minCollisions), LOG_U_FLOOR);
}

/** The table: f32 [2][LOG_U_ENTRIES], first c ≥ 0 (c = 1 − 2y), then c < 0 (c = 2y − 1). */
export function logUTable(config: LshConfig): Float32Array {
  const t = new Float32Array(2 * LOG_U_ENTRIES);
  for (let i = 0; i < LOG_U_ENTRIES; i++) {
    const y = yAt(i);
    t[i] = exactLogU(1 - 2 * y, config);
    t[LOG_U_ENTRIES + i] = exactLogU(2 * y - 1, config);
  }
  return t;
}

/** What the kernel computes from the table for cosine c (f32 arithmetic, as `logU` in the kernel). */
export function tableLogU(table: Float32Array, c: number): number {
  const f = Math.fround;
  const cf = f(c);
  const neg = cf < 0;
  const y = neg ? f(0.5 + f(0.5 * cf)) : f(0.5 - f(0.5 * cf));
  floatView[0] = y;
  const shift = 23 - LOG_U_MANTISSA_BITS;
  const off = Math.min(Math.max(bitsView[0]! - Y0_BITS, 0), LOG_U_OCTAVES << 23);
  const i = off >> shift;
  const frac = f((off & ((1 << shift) - 1)) * 2 ** -shift);
  const a = table[(neg ? LOG_U_ENTRIES : 0) + i]!;
  const b = table[(neg ? LOG_U_ENTRIES : 0) + i + 1]!;
  return f(a + f(frac * f(b - a)));
}

/**
 * The largest |u_table/u − 1| over cosines in the table's range (every interval sampled at
 * `perInterval` points, in f64 from the f32 table: the interpolation error and the table's f32
 * rounding), plus the f32 rounding of the interpolation itself (|log u|·2^-22 at most). Intervals
 * that reach u's floor are left out (a kink there; such keys are never sampled in practice).
 */
export function worstRelativeError(table: Float32Array, config: LshConfig, perInterval = 8): number {
  const floor = LOG_U_FLOOR;
  let worst = 0;
  for (const side of [0, 1]) {
    const base = side * LOG_U_ENTRIES;
    for (let i = 0; i + 1 < LOG_U_ENTRIES; i++) {
      const a = table[base + i]!;
      const b = table[base + i + 1]!;
      if (a <= floor * 0.999 || b <= floor * 0.999) continue;
      const y0 = yAt(i);
      const y1 = yAt(i + 1);
      for (let k = 0; k <= perInterval; k++) {
        const y = y0 + ((y1 - y0) * k) / perInterval;
        const exact = exactLogU(side === 0 ? 1 - 2 * y : 2 * y - 1, config);
        const got = a + ((b - a) * k) / perInterval;
        const e = Math.abs(Math.expm1(got - exact)) + Math.max(Math.abs(a), Math.abs(b)) * 2 ** -22;
        if (e > worst) worst = e;
      }
    }
  }
  return worst;
}
