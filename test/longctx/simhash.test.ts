import { describe, expect, it } from 'vitest';
import { SimHash, bitCollisionProbability } from '../../src/longctx/index.js';
import { Rng } from '../../src/util/rng.js';

const SEED = 20261207;

/** A code from float64 projections, written apart from SimHash.hashRow. */
function codeF64(h: SimHash, x: Float64Array, table: number): number {
  const { bits } = h.config;
  let code = 0;
  for (let b = 0; b < bits; b++) {
    let s = 0;
    for (let e = 0; e < h.dim; e++) s += h.directions[(table * bits + b) * h.dim + e]! * x[e]!;
    if (s > 0) code += 2 ** b;
  }
  return code;
}

describe('SimHash', () => {
  it('codes are the signs of the projections onto the seeded directions', () => {
    console.log(`simhash seed ${SEED}`);
    const rng = new Rng(SEED);
    const d = 32;
    const h = new SimHash(d, { bits: 10, tables: 12, minCollisions: 2, seed: SEED });
    const n = 50;
    const x = Float32Array.from(rng.normals(n * d));
    const codes = h.hashRows(x, n);
    for (let i = 0; i < n; i++) {
      const row = Float64Array.from(x.subarray(i * d, (i + 1) * d));
      for (let t = 0; t < 12; t++) expect(codes[i * 12 + t]).toBe(codeF64(h, row, t));
    }
  });

  it('the negated row flips every bit', () => {
    const rng = new Rng(SEED + 1);
    const d = 16;
    const h = new SimHash(d, { bits: 8, tables: 5, minCollisions: 1, seed: SEED });
    const x = Float32Array.from(rng.normals(d));
    const a = new Uint16Array(5);
    const b = new Uint16Array(5);
    h.hashRow(x, 0, a);
    h.hashRow(
      x.map((v) => -v),
      0,
      b,
    );
    for (let t = 0; t < 5; t++) expect(a[t]! ^ b[t]!).toBe(0xff);
  });

  it('one bit agrees with probability 1 − θ/π', () => {
    console.log(`simhash angle seed ${SEED + 2}`);
    const rng = new Rng(SEED + 2);
    const d = 24;
    const nbits = 6000;
    const h = new SimHash(d, { bits: 1, tables: nbits, minCollisions: 1, seed: SEED + 2 });
    for (const theta of [0.3, 1.2, 2.4]) {
      // two unit vectors at angle θ: e1 and cos θ·e1 + sin θ·e2 in a random orthonormal pair
      const u = rng.normals(d);
      const nu = Math.hypot(...u);
      const w = rng.normals(d);
      const dot = u.reduce((s, v, e) => s + v * w[e]!, 0) / nu;
      for (let e = 0; e < d; e++) w[e] = w[e]! - (dot * u[e]!) / nu;
      const nw = Math.hypot(...w);
      const a = Float32Array.from(u, (v) => v / nu);
      const b = Float32Array.from(u, (v, e) => (Math.cos(theta) * v) / nu + (Math.sin(theta) * w[e]!) / nw);
      const ca = new Uint16Array(nbits);
      const cb = new Uint16Array(nbits);
      h.hashRow(a, 0, ca);
      h.hashRow(b, 0, cb);
      let agree = 0;
      for (let t = 0; t < nbits; t++) agree += ca[t] === cb[t] ? 1 : 0;
      const p = bitCollisionProbability(Math.cos(theta));
      expect(p).toBeCloseTo(1 - theta / Math.PI, 12);
      // 4.5 standard deviations of a binomial proportion
      expect(Math.abs(agree / nbits - p)).toBeLessThan(4.5 * Math.sqrt((p * (1 - p)) / nbits));
    }
  });

  it('rejects configurations it cannot hash', () => {
    expect(() => new SimHash(8, { bits: 17, tables: 4, minCollisions: 2, seed: 1 })).toThrow(/bits/);
    expect(() => new SimHash(8, { bits: 8, tables: 4, minCollisions: 5, seed: 1 })).toThrow(/minCollisions/);
  });
});
