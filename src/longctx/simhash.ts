/**
 * SimHash: L tables of K sign bits, each bit the sign of the row's dot product with a Gaussian
 * direction. Two vectors at angle θ agree on one bit with probability 1 − θ/π, so a table's code
 * (K bits) collides with probability (1 − θ/π)^K: the quantity the sampling estimator divides by.
 * The directions come from a fixed seed, so keys hashed when appended and queries hashed at decode
 * see the same functions.
 */
import { Rng } from '../util/rng.js';

export interface LshConfig {
  /** K: sign bits per table (≤ 16, codes are stored as u16). K = 0 makes every key collide. */
  bits: number;
  /** L: number of tables. */
  tables: number;
  /** A key is a candidate when it collides with the query in at least this many tables (2 in MagicPIG). */
  minCollisions: number;
  seed: number;
}

export class SimHash {
  /** Directions, row (table·K + bit) of `dim` values, stored f32 as they would be on a device. */
  readonly directions: Float32Array;

  constructor(
    readonly dim: number,
    readonly config: LshConfig,
  ) {
    const { bits, tables, minCollisions } = config;
    if (!(Number.isInteger(bits) && bits >= 0 && bits <= 16))
      throw new Error(`SimHash: bits must be 0…16, got ${bits}`);
    if (!(Number.isInteger(tables) && tables >= 1)) throw new Error(`SimHash: tables must be ≥ 1, got ${tables}`);
    if (!(Number.isInteger(minCollisions) && minCollisions >= 1 && minCollisions <= tables))
      throw new Error(`SimHash: minCollisions must be 1…tables, got ${minCollisions}`);
    const rng = new Rng(config.seed);
    this.directions = new Float32Array(tables * bits * dim);
    for (let i = 0; i < this.directions.length; i++) this.directions[i] = rng.normal();
  }

  /** Codes of one row (`dim` values at `offset`) into `out[0…L)`. */
  hashRow(x: ArrayLike<number>, offset: number, out: Uint16Array, outOffset = 0): void {
    const { bits, tables } = this.config;
    const d = this.dim;
    const w = this.directions;
    for (let t = 0; t < tables; t++) {
      let code = 0;
      for (let b = 0; b < bits; b++) {
        const base = (t * bits + b) * d;
        let s = 0;
        for (let e = 0; e < d; e++) s += w[base + e]! * x[offset + e]!;
        if (s > 0) code |= 1 << b;
      }
      out[outOffset + t] = code;
    }
  }

  /** Codes of `n` rows, row-major [n, L]. */
  hashRows(x: ArrayLike<number>, n: number): Uint16Array {
    const out = new Uint16Array(n * this.config.tables);
    for (let i = 0; i < n; i++) this.hashRow(x, i * this.dim, out, i * this.config.tables);
    return out;
  }
}
