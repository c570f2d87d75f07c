/**
 * The scan's ln u table (src/longctx/sampling-table.ts) against the float64 oracle of u: its worst
 * relative error, measured over every interval, is below the stated bound at the paper's config and
 * the tests' ones, and random cosines (uniform, and crowded at both ends) stay within it. Also the
 * oracle's own accuracy where P is tiny (the direct tail against C(L,T)·P^T).
 */
import { describe, expect, it } from 'vitest';
import {
  exactLogU,
  logSamplingProbability,
  logUTable,
  tableLogU,
  worstRelativeError,
} from '../../src/longctx/index.js';
import { Rng } from '../../src/util/rng.js';

const SEED = 20261216;
/** The stated bound on |u_table/u − 1| (the measured worst at K = 10, L = 150 is 6.8e-5). */
const BOUND = 1e-4;

describe(`ln u table over the cosine (seed ${SEED})`, () => {
  for (const [bits, tables] of [
    [10, 150],
    [8, 75],
    [4, 20],
    [2, 6],
    [1, 2],
  ] as const) {
    it(`K = ${bits}, L = ${tables}: worst relative error below ${BOUND}, random cosines within it`, () => {
      const cfg = { bits, tables, minCollisions: 2, seed: 0 };
      const table = logUTable(cfg);
      const worst = worstRelativeError(table, cfg);
      console.log(`K ${bits}, L ${tables}: worst relative error of u ${worst.toExponential(2)}`);
      expect(worst).toBeLessThan(BOUND);
      const rng = new Rng(SEED + bits);
      let seen = 0;
      for (let i = 0; i < 20_000; i++) {
        const r = rng.next();
        // uniform, and within 10^-k of either end (k up to 7, as f32 cosines resolve)
        const near = 10 ** -(1 + 6 * rng.next());
        const c = i % 3 === 0 ? 2 * r - 1 : i % 3 === 1 ? -1 + near : 1 - near;
        const exact = exactLogU(c, cfg);
        if (exact <= Math.log(1e-300) * 0.999) continue;
        const got = tableLogU(table, c);
        // the table reads the f32 cosine: its rounding is part of what the scan sees, not of the table
        const e = Math.abs(Math.expm1(got - exactLogU(Math.fround(c), cfg)));
        expect(e).toBeLessThanOrEqual(worst);
        seen++;
      }
      expect(seen).toBeGreaterThan(10_000);
    });
  }

  it('the oracle of u stays exact where P is tiny: C(L,2)·P² at P = 2^-200', () => {
    const p = 2 ** -20;
    const P = p ** 10;
    const want = Math.log((150 * 149) / 2) + 2 * Math.log(P);
    expect(Math.abs(logSamplingProbability(p, 10, 150, 2) - want)).toBeLessThan(1e-12 * Math.abs(want));
  });
});
