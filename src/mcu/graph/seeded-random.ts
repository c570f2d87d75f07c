/**
 * Tessera's seeded generator (`util/rng.ts`, mulberry32) with int8 helpers, so that every network,
 * weight and test input in the MCU target is reproducible from a number — the C project embeds the
 * same bytes the tests compare.
 */
import { Rng } from '../../util/rng.js';

export class SeededRandom extends Rng {
  /** `n` uniform int8 values in [lo, hi]. */
  int8Array(n: number, lo = -128, hi = 127): Int8Array {
    const out = new Int8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.int(lo, hi);
    return out;
  }
}
