import { describe, expect, it } from 'vitest';
import { LshKvCache, SimHash, exactAttention, heavyKeyCase, relativeError } from '../../src/longctx/index.js';
import { Rng } from '../../src/util/rng.js';
import { binomialTail } from './binomial-tail.js';

const SEED = 20261210;

describe('LSH sampling attention', () => {
  it('with every key sampled (K = 0) it is exact attention, lse included, through the merge', () => {
    console.log(`all-sampled seed ${SEED}`);
    const rng = new Rng(SEED);
    const n = 300;
    const d = 16;
    const keys = Float32Array.from(rng.normals(n * d));
    const values = Float32Array.from(rng.normals(n * d));
    const cache = new LshKvCache(keys, values, n, d, d, { bits: 0, tables: 4, minCollisions: 2, seed: SEED });
    for (const [sinks, window] of [
      [0, 0],
      [4, 32],
      [150, 200],
    ] as const) {
      const q = Float32Array.from(rng.normals(d));
      const got = cache.attend(q, { sinks, window });
      const want = exactAttention(q, keys, values, n, d, d);
      expect(got.sampled + got.exact).toBe(n);
      expect(relativeError(got.o, want.o)).toBeLessThan(1e-12);
      expect(Math.abs(got.lse - want.lse)).toBeLessThan(1e-12);
    }
  });

  it('is the importance-weighted estimate on a case small enough to write out', () => {
    console.log(`small-case seed ${SEED + 1}`);
    const rng = new Rng(SEED + 1);
    const n = 8;
    const d = 4;
    const cfg = { bits: 2, tables: 3, minCollisions: 2, seed: SEED + 1 };
    const keys = Float32Array.from(rng.normals(n * d));
    const values = Float32Array.from(rng.normals(n * 2));
    const cache = new LshKvCache(keys, values, n, d, 2, cfg);
    const h = new SimHash(d, cfg);
    let checkedSampled = 0;
    for (let trial = 0; trial < 20; trial++) {
      const q = Float32Array.from(rng.normals(d));
      const got = cache.attend(q, { sinks: 1, window: 2 });
      // by hand: keys 0, 6, 7 exact; keys 1…5 sampled when ≥ 2 of 3 codes agree, weighted exp(s)/u
      const qc = new Uint16Array(3);
      const kc = h.hashRows(keys, n);
      h.hashRow(q, 0, qc);
      const num = [0, 0];
      let den = 0;
      for (let i = 0; i < n; i++) {
        let dot = 0;
        let nk = 0;
        let nq = 0;
        for (let e = 0; e < d; e++) {
          dot += q[e]! * keys[i * d + e]!;
          nk += keys[i * d + e]! ** 2;
          nq += q[e]! ** 2;
        }
        const exact = i < 1 || i >= n - 2;
        let collisions = 0;
        for (let t = 0; t < 3; t++) collisions += kc[i * 3 + t] === qc[t] ? 1 : 0;
        if (!exact && collisions < 2) continue;
        const u = exact ? 1 : binomialTail(1 - Math.acos(dot / Math.sqrt(nk * nq)) / Math.PI, 2, 3, 2);
        if (!exact) checkedSampled++;
        const w = Math.exp(dot / 2) / u;
        den += w;
        num[0]! += w * values[i * 2]!;
        num[1]! += w * values[i * 2 + 1]!;
      }
      expect(got.o[0]).toBeCloseTo(num[0]! / den, 12);
      expect(got.o[1]).toBeCloseTo(num[1]! / den, 12);
      expect(got.lse).toBeCloseTo(Math.log2(den), 12);
    }
    expect(checkedSampled).toBeGreaterThan(10);
  });

  // two known distributions: Gaussian keys (flat attention), and the same with two keys placed
  // along the query (peaked attention, whose mass the sampler must not over- or under-count)
  for (const [name, heavy] of [
    ['Gaussian keys', 0],
    ['two heavy keys along q', 2],
  ] as const)
    it(`the sampled sums are unbiased over hash seeds: ${name}`, () => {
      const trials = 600;
      console.log(`unbiased (${name}): data seed ${SEED + 2}, hash seeds ${SEED}…${SEED + trials - 1}`);
      const n = 48;
      const d = 8;
      const c = heavyKeyCase(SEED + 2, n, d, heavy, 3);
      const { q, keys } = c;
      // one value per key: the first component of the case's value rows
      const values = Float32Array.from({ length: n }, (_, i) => c.values[i * d]!);
      const scale = 1 / Math.sqrt(d);
      let z = 0;
      let y = 0;
      for (let i = 0; i < n; i++) {
        let dot = 0;
        for (let e = 0; e < d; e++) dot += q[e]! * keys[i * d + e]!;
        z += Math.exp(scale * dot);
        y += Math.exp(scale * dot) * values[i]!;
      }
      const zs: number[] = [];
      const ys: number[] = [];
      for (let s = 0; s < trials; s++) {
        const cache = new LshKvCache(keys, values, n, d, 1, { bits: 2, tables: 6, minCollisions: 2, seed: SEED + s });
        const st = cache.sampledState(q, 0, n, scale);
        const zHat = st.lse === -Infinity ? 0 : 2 ** st.lse;
        zs.push(zHat);
        ys.push(st.lse === -Infinity ? 0 : st.o[0]! * zHat);
      }
      for (const [xs, want] of [
        [zs, z],
        [ys, y],
      ] as const) {
        const mean = xs.reduce((a, b) => a + b, 0) / trials;
        const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (trials - 1));
        console.log(
          `  mean ${mean.toPrecision(6)} vs exact ${want.toPrecision(6)} (${((mean - want) / (sd / Math.sqrt(trials))).toFixed(2)} standard errors)`,
        );
        // a biased estimator (top-k, or forgetting 1/u) sits many standard errors away
        expect(Math.abs(mean - want)).toBeLessThan((4.5 * sd) / Math.sqrt(trials));
      }
    });

  it('on a long context with a few heavy keys: error falls as L grows and stays within 0.05 at K = 10, L = 150', () => {
    const n = 4096;
    const d = 64;
    const seeds = [SEED + 10, SEED + 11, SEED + 12];
    console.log(`heavy-key seeds ${seeds.join(', ')} (data and hash)`);
    const cases = seeds.map((s) => heavyKeyCase(s, n, d, 8));
    const exact = cases.map((c) => exactAttention(c.q, c.keys, c.values, n, d, d));
    const meanError = (bits: number, tables: number): number => {
      let sum = 0;
      cases.forEach((c, j) => {
        const cache = new LshKvCache(c.keys, c.values, n, d, d, { bits, tables, minCollisions: 2, seed: seeds[j]! });
        sum += relativeError(cache.attend(c.q, { sinks: 4, window: 64 }).o, exact[j]!.o);
      });
      return sum / cases.length;
    };
    const byL = [25, 50, 100, 200].map((L) => meanError(8, L));
    console.log(`K = 8, L = 25/50/100/200: mean relative error ${byL.map((e) => e.toFixed(4)).join(' ')}`);
    for (let i = 1; i < byL.length; i++) expect(byL[i]).toBeLessThan(byL[i - 1]!);
    const paper = meanError(10, 150);
    console.log(`K = 10, L = 150: mean relative error ${paper.toFixed(4)}`);
    expect(paper).toBeLessThan(0.05);
    // sampling beats attending to the sinks and window alone, which drops the heavy keys
    const streaming = cases.map((c, j) => {
      const cache = new LshKvCache(c.keys, c.values, n, d, d, { bits: 10, tables: 1, minCollisions: 1, seed: 1 });
      return relativeError(cache.exactState(c.q, 4, 64, 1 / Math.sqrt(d)).o, exact[j]!.o);
    });
    expect(Math.min(...streaming)).toBeGreaterThan(10 * paper);
  }, 120_000);
});
