import { describe, expect, it } from 'vitest';
import { streamDecoderFor } from '../../src/engine/sequence.js';
import { PagePool } from '../../src/engine/page-pool.js';
import { PrefixCache } from '../../src/engine/prefix-cache.js';
import { StopStringMatcher } from '../../src/engine/stop-strings.js';
import { loadTestTokenizer } from './test-model.js';

describe('page pool and prefix cache', () => {
  it('allocates all-or-nothing and refuses double release', () => {
    const pool = new PagePool(4);
    expect(pool.allocate(5)).toBeNull();
    const pages = pool.allocate(3)!;
    expect(new Set(pages).size).toBe(3);
    expect(pool.freeCount).toBe(1);
    pool.retain(pages[0]!);
    expect(pool.release(pages[0]!)).toBe(false);
    expect(pool.release(pages[0]!)).toBe(true);
    expect(() => pool.release(pages[0]!)).toThrow(/double release/);
  });

  it('matches full pages only, shares them by reference, dedups and evicts least recently used leaves', () => {
    const pool = new PagePool(16);
    const cache = new PrefixCache(pool, 2);
    const a = [1, 2, 3, 4, 5, 6, 7];
    const aPages = pool.allocate(4)!;
    cache.insert(cache.root, a, aPages, 0, 3);
    expect(cache.size).toBe(3);
    for (const p of aPages) pool.release(p); // sequence a finishes: the cache keeps its 3 full pages
    expect(pool.usedCount).toBe(3);

    const m = cache.match([1, 2, 3, 4, 9, 9, 9], 6);
    expect(m.tokens).toBe(4);
    expect(m.pages).toEqual(aPages.slice(0, 2));
    expect(pool.refCount(aPages[0]!)).toBe(2);
    // A sequence that computed a page the cache already has switches to the cached copy.
    const b = [1, 2, 3, 4, 5, 6, 8, 8];
    const bPages = [...m.pages, ...pool.allocate(2)!];
    const own = bPages[2]!;
    cache.insert(m.node, b, bPages, 2, 4);
    expect(bPages[2]).toBe(aPages[2]);
    expect(pool.refCount(own)).toBe(0);
    expect(cache.size).toBe(4);
    // Pages held by a sequence are not evictable; released ones are.
    expect(cache.evictableCount()).toBe(0);
    for (const p of bPages) pool.release(p);
    expect(cache.evictableCount()).toBe(4);
    // A second branch under [1,2], used more recently than the chain [3,4][5,6][8,8].
    const d = cache.match([1, 2, 7, 7, 0], 5);
    const dPages = [...d.pages, ...pool.allocate(1)!];
    cache.insert(d.node, [1, 2, 7, 7], dPages, 1, 2);
    for (const p of dPages) pool.release(p);
    expect(cache.evict(1)).toBe(1);
    const chain = cache.match([1, 2, 3, 4, 5, 6, 8, 8, 0], 9);
    const branch = cache.match([1, 2, 7, 7, 0], 5);
    expect([chain.tokens, branch.tokens]).toEqual([6, 4]);
    for (const p of [...chain.pages, ...branch.pages]) pool.release(p);
    expect(cache.evict(100)).toBe(4);
    expect(pool.usedCount).toBe(0);
  });
});

describe('text output', () => {
  it('stop strings are held back until they match or diverge, across deltas', () => {
    const m = new StopStringMatcher(['STOP', 'end.']);
    expect(m.push('hello S')).toEqual({ emit: 'hello ', stopped: false });
    expect(m.push('TO')).toEqual({ emit: '', stopped: false });
    expect(m.push('X en')).toEqual({ emit: 'STOX ', stopped: false });
    expect(m.push('d. more')).toEqual({ emit: '', stopped: true });
    const n = new StopStringMatcher(['ab']);
    expect(n.push('xa')).toEqual({ emit: 'x', stopped: false });
    expect(n.flush()).toBe('a');
  });

  it('incremental detokenization reproduces the full decode, holding back split characters', () => {
    const tok = loadTestTokenizer();
    const text = 'Héllo wörld — naïve café 😀 the end';
    const ids = tok.encode(text, { addSpecialTokens: false });
    const d = streamDecoderFor(tok);
    const deltas = ids.map((id) => d.push(id));
    expect(deltas.join('') + d.flush()).toBe(text);
    expect(deltas.some((x) => x === '')).toBe(true); // multi-byte characters span tokens
    expect(deltas.every((x) => !x.includes('\uFFFD'))).toBe(true);
  });
});
