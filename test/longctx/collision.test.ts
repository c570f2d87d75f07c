import { describe, expect, it } from 'vitest';
import { LshIndex, samplingProbability } from '../../src/longctx/index.js';
import { Rng } from '../../src/util/rng.js';
import { binomialTail } from './binomial-tail.js';

const SEED = 20261208;

describe('sampling probability', () => {
  it('matches the binomial tail summed directly', () => {
    for (const [p, K, L, T] of [
      [0.7, 3, 10, 2],
      [0.5, 10, 150, 2],
      [0.9, 8, 40, 3],
      [0.6, 4, 20, 1],
      [0.95, 10, 150, 2],
    ] as const) {
      const want = binomialTail(p, K, L, T);
      expect(Math.abs(samplingProbability(p, K, L, T) - want) / want).toBeLessThan(1e-10);
    }
  });

  it('is p² for one bit, two tables, two collisions; 1 with no bits; stable when tiny', () => {
    expect(samplingProbability(0.3, 1, 2, 2)).toBeCloseTo(0.09, 14);
    expect(samplingProbability(0.3, 0, 5, 2)).toBe(1);
    // P = 2^-40: u ≈ C(150, 2)·P², where 1 − (1−P)^L − L·P·(1−P)^(L−1) would cancel to 0
    const P = 2 ** -40;
    const u = samplingProbability(P, 1, 150, 2);
    expect(u).toBeGreaterThan(0);
    expect(Math.abs(u / (((150 * 149) / 2) * P * P) - 1)).toBeLessThan(1e-9);
  });

  it('is the frequency with which a key becomes a candidate over hash seeds', () => {
    console.log(`collision frequency seeds ${SEED}…${SEED + 2999}`);
    const rng = new Rng(SEED);
    const d = 8;
    const q = Float32Array.from(rng.normals(d));
    const keys = Float32Array.from(rng.normals(3 * d));
    const cfg = { bits: 3, tables: 8, minCollisions: 2 };
    const trials = 3000;
    const hits = [0, 0, 0];
    for (let s = 0; s < trials; s++) {
      const index = LshIndex.build(keys, 3, d, { ...cfg, seed: SEED + s });
      for (const id of index.candidates(q)) hits[id]!++;
    }
    for (let i = 0; i < 3; i++) {
      let dot = 0;
      let nk = 0;
      let nq = 0;
      for (let e = 0; e < d; e++) {
        dot += q[e]! * keys[i * d + e]!;
        nk += keys[i * d + e]! ** 2;
        nq += q[e]! ** 2;
      }
      const p = 1 - Math.acos(dot / Math.sqrt(nk * nq)) / Math.PI;
      const u = binomialTail(p, cfg.bits, cfg.tables, cfg.minCollisions);
      expect(Math.abs(hits[i]! / trials - u)).toBeLessThan(4.5 * Math.sqrt((u * (1 - u)) / trials) + 1e-3);
    }
  });
});
