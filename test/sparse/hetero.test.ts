/**
 * The heterogeneous graph generator: rows sorted by (relation, column) without duplicates, values
 * 1/|N_i^r|, the requested empty and dense rows, the mean degree near the one asked for, and the
 * same graph from the same seed.
 */
import { expect, it } from 'vitest';
import { randomHetero } from '../../src/sparse/hetero.js';

it('builds relation-sorted rows with RGCN normalization, empty and dense rows', () => {
  const p = { m: 400, k: 300, relations: 7, meanDegree: 12, emptyRows: [3, 99], denseRow: 10 };
  const g = randomHetero(42, p);
  expect(randomHetero(42, p)).toEqual(g);
  expect(g.indptr[4]! - g.indptr[3]!).toBe(0);
  expect(g.indptr[100]! - g.indptr[99]!).toBe(0);
  expect(g.indptr[11]! - g.indptr[10]!).toBe(p.k * p.relations);
  let edges = 0;
  for (let i = 0; i < p.m; i++) {
    const count = new Map<number, number>();
    for (let e = g.indptr[i]!; e < g.indptr[i + 1]!; e++) count.set(g.rel[e]!, (count.get(g.rel[e]!) ?? 0) + 1);
    for (let e = g.indptr[i]!; e < g.indptr[i + 1]!; e++) {
      if (e > g.indptr[i]!) {
        const prev = g.rel[e - 1]! * p.k + g.indices[e - 1]!;
        expect(g.rel[e]! * p.k + g.indices[e]!).toBeGreaterThan(prev);
      }
      expect(g.vals[e]).toBeCloseTo(1 / count.get(g.rel[e]!)!, 7);
    }
    if (i !== p.denseRow) edges += g.indptr[i + 1]! - g.indptr[i]!;
  }
  // heavy-tailed degrees: the sample mean is loose, but far from half or double the target
  expect(edges / (p.m - 1)).toBeGreaterThan(p.meanDegree * 0.6);
  expect(edges / (p.m - 1)).toBeLessThan(p.meanDegree * 1.6);
});
