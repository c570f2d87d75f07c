/**
 * The middle policies against their definitions: StreamingLLM attends nothing there; TopK the k
 * best scores; Quest the pages of largest min/max bound, a bound no key of the page exceeds; each
 * exact over its keys (checked by float64 exact attention over the same keys written out here).
 */
import { afterAll, describe, expect, it } from 'vitest';
import {
  HeapSimHash,
  LshKvStream,
  exactAttention,
  middleStates,
  questIds,
  questPageBound,
  relativeError,
  topKIds,
} from '../../src/longctx/index.js';
import { Rng } from '../../src/util/rng.js';

const SEED = 20261215;
const dim = 16;
const dv = 8;
const n = 400;
const rng = new Rng(SEED);
const hash = new HeapSimHash(dim, { bits: 4, tables: 8, minCollisions: 2, seed: SEED });
const stream = new LshKvStream(hash, dv, 1);
stream.append(rng.normals(n * dim), rng.normals(n * dv), n);
const keys = stream.keyRows(0, n);
const values = stream.valueRows(0, n);
afterAll(() => {
  stream.destroy();
  hash.destroy();
});

const dot = (q: ArrayLike<number>, i: number) => {
  let s = 0;
  for (let e = 0; e < dim; e++) s += q[e]! * keys[i * dim + e]!;
  return s;
};

/** Exact attention over `ids` only. */
function over(q: ArrayLike<number>, ids: readonly number[], scale: number) {
  const k = Float64Array.from(ids.flatMap((i) => Array.from(keys.subarray(i * dim, (i + 1) * dim))));
  const v = Float64Array.from(ids.flatMap((i) => Array.from(values.subarray(i * dv, (i + 1) * dv))));
  return exactAttention(q, k, v, ids.length, dim, dv, scale);
}

describe(`middle policies (seed ${SEED})`, () => {
  const lo = 4;
  const hi = n - 32;
  const scale = 1 / Math.sqrt(dim);

  it('StreamingLLM: the middle is empty', () => {
    const [s] = middleStates([{ stream, group: 0, q: rng.normals(dim), lo, hi }], scale, { kind: 'streaming' });
    expect(s!.lse).toBe(-Infinity);
    expect(s!.candidates).toBe(0);
  });

  it('TopK: the k largest scores, attended exactly; all keys when k covers the range', () => {
    for (const k of [1, 17, hi - lo, hi - lo + 50]) {
      const q = rng.normals(dim);
      const t = { stream, group: 0, q, lo, hi };
      const ids = topKIds(t, k);
      expect(ids.length).toBe(Math.min(k, hi - lo));
      const chosen = new Set(ids);
      const worstIn = Math.min(...ids.map((i) => dot(q, i)));
      for (let i = lo; i < hi; i++) if (!chosen.has(i)) expect(dot(q, i)).toBeLessThanOrEqual(worstIn);
      const [s] = middleStates([t], scale, { kind: 'topk', k });
      const want = over(q, ids, scale);
      expect(relativeError(s!.o, want.o)).toBeLessThan(1e-6);
      expect(Math.abs(s!.lse - want.lse)).toBeLessThan(1e-9);
    }
  });

  it('Quest: the bound holds on every page; the best-bounded pages are attended exactly', () => {
    const pageSize = 16;
    for (const pages of [1, 5, 100]) {
      const q = rng.normals(dim);
      const t = { stream, group: 0, q, lo, hi };
      const bounds: { p0: number; p1: number; b: number }[] = [];
      for (let p0 = 0; p0 < hi; p0 += pageSize) {
        const a = Math.max(p0, lo);
        const b = Math.min(p0 + pageSize, hi);
        if (b <= a) continue;
        const bound = questPageBound(q, stream, a, b);
        for (let i = a; i < b; i++) expect(dot(q, i)).toBeLessThanOrEqual(bound + 1e-12);
        bounds.push({ p0: a, p1: b, b: bound });
      }
      const ids = questIds(t, pageSize, pages);
      const chosenPages = bounds.filter((p) => ids.includes(p.p0));
      expect(chosenPages.length).toBe(Math.min(pages, bounds.length));
      const worstChosen = Math.min(...chosenPages.map((p) => p.b));
      for (const p of bounds) if (!ids.includes(p.p0)) expect(p.b).toBeLessThanOrEqual(worstChosen);
      expect(ids.length).toBe(chosenPages.reduce((a, p) => a + p.p1 - p.p0, 0));
      const [s] = middleStates([t], scale, { kind: 'quest', pageSize, pages });
      const want = over(q, ids, scale);
      expect(relativeError(s!.o, want.o)).toBeLessThan(1e-6);
      if (pages >= bounds.length) {
        const all = over(
          q,
          Array.from({ length: hi - lo }, (_, j) => lo + j),
          scale,
        );
        expect(relativeError(s!.o, all.o)).toBeLessThan(1e-6);
      }
    }
  });
});
