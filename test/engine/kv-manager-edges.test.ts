/**
 * KV manager arithmetic: pages per token count, admission with and without prefix reuse, the
 * reserve kept for running sequences, growth, eviction of cached pages before failing, and
 * release. Page counts are worked out by hand (ceil(tokens / pageSize)); no model runs.
 */
import { describe, expect, it } from 'vitest';
import { KvManager } from '../../src/engine/kv-manager.js';
import { RequestState } from '../../src/engine/request.js';
import { resolveSamplingParams } from '../../src/engine/sampling-params.js';
import { Sequence } from '../../src/engine/sequence.js';

const tokenizer = { decode: (ids: readonly number[]) => ids.join(' ') } as unknown as ConstructorParameters<
  typeof Sequence
>[3];

let order = 0;
function sequence(prompt: number[]): Sequence {
  const request = new RequestState(`r${order}`, order++, prompt, resolveSamplingParams({}));
  return new Sequence(request, 0, prompt, tokenizer, null);
}
const range = (n: number, from = 0) => Array.from({ length: n }, (_, i) => from + i);

describe('kv manager', () => {
  it('needs ceil(tokens / pageSize) pages', () => {
    const kv = new KvManager(8, 4);
    expect([0, 1, 4, 5, 8, 9].map((t) => kv.pagesFor(t))).toEqual([0, 1, 1, 2, 2, 3]);
  });

  it('allocate(0) and negative counts take nothing; too many evicts nothing it cannot use and returns null', () => {
    const kv = new KvManager(3, 2);
    expect(kv.allocate(0)).toEqual([]);
    expect(kv.allocate(-2)).toEqual([]);
    expect(kv.allocate(4)).toBeNull();
    expect(kv.pool.freeCount).toBe(3);
    expect(kv.allocate(3)).toEqual([0, 1, 2]);
  });

  it('admits a prompt on fresh pages, with no cached tokens, and grows it page by page', () => {
    const kv = new KvManager(6, 4, false);
    const s = sequence(range(9));
    expect(kv.admit(s, 0)).toBe(true);
    expect(s.pages).toEqual([0, 1, 2]);
    expect([s.numComputed, s.cachedPages, s.cacheNode, s.request.cachedTokens]).toEqual([0, 0, null, 0]);
    expect(kv.ensureCapacity(s, 12)).toBe(true);
    expect(s.pages).toHaveLength(3);
    expect(kv.ensureCapacity(s, 13)).toBe(true);
    expect(s.pages).toEqual([0, 1, 2, 3]);
    expect(kv.ensureCapacity(s, 25)).toBe(false); // needs 7 pages, 6 exist
    expect(s.pages).toHaveLength(4);
    expect(kv.available()).toBe(2);
  });

  it('keeps `reserve` pages obtainable: admits when exactly that many remain, not when fewer would', () => {
    const kv = new KvManager(5, 2, false);
    expect(kv.admit(sequence(range(6)), 2)).toBe(true); // 3 pages, 2 left = reserve
    const kv2 = new KvManager(5, 2, false);
    expect(kv2.admit(sequence(range(6)), 3)).toBe(false); // would leave 2 < 3
    expect(kv2.pool.freeCount).toBe(5);
  });

  it('reuses cached full pages of a shared prefix, computing at least the last prompt token', () => {
    const kv = new KvManager(8, 2);
    const a = sequence([1, 2, 3, 4, 5]);
    expect(kv.admit(a, 0)).toBe(true);
    a.numComputed = 5;
    kv.cacheFullPages(a); // pages of [1,2] and [3,4] go into the cache
    expect(a.cachedPages).toBe(2);
    const aPages = [...a.pages];
    kv.release(a);
    expect([a.pages, a.numComputed, a.cachedPages, a.cacheNode]).toEqual([[], 0, 0, null]);
    expect(kv.available()).toBe(8);
    expect(kv.pool.freeCount).toBe(6);

    const b = sequence([1, 2, 3, 4, 9, 9]);
    expect(kv.admit(b, 0)).toBe(true);
    expect(b.pages.slice(0, 2)).toEqual(aPages.slice(0, 2));
    expect(b.pages).toHaveLength(3);
    expect([b.numComputed, b.cachedPages, b.request.cachedTokens]).toEqual([4, 2, 4]);

    // a prompt equal to the cached prefix still computes its last token: only [1,2] is reused
    const c = sequence([1, 2, 3, 4]);
    expect(kv.admit(c, 0)).toBe(true);
    expect([c.numComputed, c.cachedPages]).toEqual([2, 1]);
    expect(c.pages).toHaveLength(2);
    // admitted lookups: 0 of 5, 4 of 6, 2 of 4 prompt tokens came from the cache
    expect(kv.cache.hitRate).toBeCloseTo(6 / 15, 15);
  });

  it('without prefix caching, nothing is cached or reused', () => {
    const kv = new KvManager(8, 2, false);
    const a = sequence([1, 2, 3, 4, 5]);
    kv.admit(a, 0);
    a.numComputed = 5;
    kv.cacheFullPages(a);
    expect(a.cachedPages).toBe(0);
    kv.release(a);
    expect(kv.pool.freeCount).toBe(8);
    const b = sequence([1, 2, 3, 4, 9]);
    kv.admit(b, 0);
    expect(b.numComputed).toBe(0);
  });

  it('evicts cached pages to satisfy an allocation, and gives reused pages back when admission fails', () => {
    const kv = new KvManager(4, 2);
    const a = sequence([1, 2, 3, 4, 5]);
    kv.admit(a, 0);
    a.numComputed = 5;
    kv.cacheFullPages(a);
    kv.release(a);
    expect([kv.pool.freeCount, kv.available()]).toEqual([2, 4]);
    // reuses [1,2] and needs 3 fresh pages; 3 are obtainable (2 free + cached [3,4]), leaving 0 < reserve 1
    const b = sequence([1, 2, 7, 7, 7, 7, 7]);
    expect(kv.admit(b, 1)).toBe(false);
    expect([kv.pool.freeCount, kv.available()]).toEqual([2, 4]);
    // an unrelated prompt of 4 pages evicts both cached pages
    const c = sequence(range(8, 20));
    expect(kv.admit(c, 0)).toBe(true);
    expect(c.pages).toHaveLength(4);
    expect(kv.pool.freeCount).toBe(0);
  });

  it('the first admission sets the cached-token count the client sees; later ones do not change it', () => {
    const kv = new KvManager(8, 2);
    const s = sequence([1, 2, 3]);
    s.request.cachedTokens = 7;
    kv.admit(s, 0);
    expect(s.request.cachedTokens).toBe(7);
  });

  it('evicts only as many cached pages as the allocation lacks', () => {
    const kv = new KvManager(5, 2);
    const a = sequence([1, 2, 3, 4, 5, 6]);
    kv.admit(a, 0);
    a.numComputed = 6;
    kv.cacheFullPages(a); // 3 cached pages, 2 free
    kv.release(a);
    expect([kv.pool.freeCount, kv.cache.evictableCount()]).toEqual([2, 3]);
    expect(kv.allocate(3)).toHaveLength(3);
    expect(kv.cache.evictableCount()).toBe(2);
    expect(kv.pool.freeCount).toBe(0);
  });

  it('pages cached after a prefix hit hang under the reused prefix', () => {
    const kv = new KvManager(12, 2);
    const a = sequence([1, 2, 3, 4, 5]);
    kv.admit(a, 0);
    a.numComputed = 5;
    kv.cacheFullPages(a);
    kv.release(a);
    // b reuses [1,2][3,4], then computes [7,8] and [9,9]
    const b = sequence([1, 2, 3, 4, 7, 8, 9, 9, 0]);
    kv.admit(b, 0);
    expect(b.cachedPages).toBe(2);
    b.numComputed = 9;
    kv.cacheFullPages(b);
    expect(b.cachedPages).toBe(4);
    kv.release(b);
    // the whole 8-token chain is now one path from the root
    const c = sequence([1, 2, 3, 4, 7, 8, 9, 9, 5, 5]);
    kv.admit(c, 0);
    expect([c.numComputed, c.cachedPages]).toEqual([8, 4]);
  });

  it('a re-admission (after preemption) keeps the first admission cached-token count, even 0', () => {
    const kv = new KvManager(8, 2);
    const warm = sequence([1, 2, 3]);
    kv.admit(warm, 0);
    warm.numComputed = 3;
    kv.cacheFullPages(warm);
    kv.release(warm);
    const s = sequence([5, 6, 7]);
    kv.admit(s, 0);
    expect(s.request.cachedTokens).toBe(0);
    kv.release(s);
    s.tokens.splice(0, 3, 1, 2, 3);
    kv.admit(s, 0);
    expect(s.numComputed).toBe(2);
    expect(s.request.cachedTokens).toBe(0);
  });
});
