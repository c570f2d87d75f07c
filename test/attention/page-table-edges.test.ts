/**
 * Page table (BSR rows) at page boundaries: lengths that end exactly on a page, one past it,
 * empty requests, reserved-ahead pages, shared prefixes with a partial last page, and the error
 * messages. Every expected indptr / lastPageLen is computed by hand: a request of L tokens on
 * pages of P holds ceil(L / P) pages and its last page holds L − (ceil(L / P) − 1)·P tokens.
 */
import { describe, expect, it } from 'vitest';
import { PageTable } from '../../src/attention/page-table.js';

describe('page table at page boundaries', () => {
  it('a request ending exactly on a page has a full last page; one more token opens a page of 1', () => {
    const t = new PageTable(8, 4);
    t.add(7);
    t.grow(7, 8);
    expect(t.pages(7)).toEqual([0, 1]);
    let r = t.rows([7]);
    expect([...r.indptr]).toEqual([0, 2]);
    expect([...r.indices]).toEqual([0, 1]);
    expect([...r.lastPageLen]).toEqual([4]);
    t.grow(7, 1);
    r = t.rows([7]);
    expect([...r.indptr]).toEqual([0, 3]);
    expect([...r.indices]).toEqual([0, 1, 2]);
    expect([...r.lastPageLen]).toEqual([1]);
    expect(t.length(7)).toBe(9);
    expect(t.freePages).toBe(5);
  });

  it('growing within the last page takes no page', () => {
    const t = new PageTable(4, 4);
    t.add(1);
    t.grow(1, 1);
    t.grow(1, 2);
    t.grow(1, 1);
    expect(t.pages(1)).toEqual([0]);
    expect(t.freePages).toBe(3);
    expect([...t.rows([1]).lastPageLen]).toEqual([4]);
  });

  it('an empty request has an empty row and last page length 0', () => {
    const t = new PageTable(4, 4);
    t.add(1);
    t.add(2);
    t.grow(2, 5);
    const r = t.rows([1, 2, 1]);
    expect([...r.indptr]).toEqual([0, 0, 2, 2]);
    expect([...r.lastPageLen]).toEqual([0, 1, 0]);
    expect(r.lengths).toEqual([0, 5, 0]);
    expect([...r.indices]).toEqual([0, 1]);
  });

  it('page size 1 and 64 are accepted; 0 and 65 are not', () => {
    const one = new PageTable(3, 1);
    one.add(0);
    one.grow(0, 3);
    expect([...one.rows([0]).lastPageLen]).toEqual([1]);
    expect(one.freePages).toBe(0);
    const big = new PageTable(1, 64);
    big.add(0);
    big.grow(0, 64);
    expect([...big.rows([0]).lastPageLen]).toEqual([64]);
    expect(() => new PageTable(1, 0)).toThrow('page size 0 outside 1…64');
    expect(() => new PageTable(1, 65)).toThrow('page size 65 outside 1…64');
  });

  it('a shared prefix with a partial last page counts only the shared tokens', () => {
    const t = new PageTable(6, 4);
    t.add(0);
    t.grow(0, 8);
    t.add(1, t.pages(0), 6); // shares 2 pages, of which 6 tokens are the prefix
    expect(t.length(1)).toBe(6);
    t.grow(1, 2); // fills the second shared page: no new page
    expect(t.pages(1)).toEqual([0, 1]);
    t.grow(1, 1);
    expect(t.pages(1)).toEqual([0, 1, 2]);
    expect([...t.rows([1]).lastPageLen]).toEqual([1]);
    t.release(0);
    expect(t.freePages).toBe(3);
    t.release(1);
    expect(t.freePages).toBe(6);
  });

  it('released pages go back to the pool and are handed out again', () => {
    const t = new PageTable(3, 2);
    t.add(0);
    t.grow(0, 6);
    expect(t.pages(0)).toEqual([0, 1, 2]);
    t.release(0);
    expect(t.freePages).toBe(3);
    t.add(1);
    t.grow(1, 2);
    expect(t.pages(1)).toHaveLength(1);
  });

  it('names the problem: duplicate ids, unknown ids, unallocated or over-long shared pages', () => {
    const t = new PageTable(4, 4);
    t.add(1);
    expect(() => t.add(1)).toThrow('request 1 already exists');
    expect(() => t.grow(9, 1)).toThrow('unknown request 9');
    expect(() => t.rows([9])).toThrow('unknown request 9');
    expect(() => t.release(9)).toThrow('unknown request 9');
    expect(() => t.add(2, [0])).toThrow('shared page 0 is not allocated');
    expect(() => t.add(2, [-1])).toThrow('shared page -1 is not allocated');
    expect(() => t.add(2, [4])).toThrow('shared page 4 is not allocated');
    t.grow(1, 4);
    expect(() => t.add(2, [0], 5)).toThrow('shared length 5 over the 1 shared pages');
    t.add(2, [0], 4);
    expect(t.length(2)).toBe(4);
    expect(() => t.grow(1, 13)).toThrow('request 1 needs 4 more pages, 3 free (pool of 4)');
    t.grow(1, 12);
    expect(t.freePages).toBe(0);
  });

  it('shared pages past the shared length are held but not in the row until tokens reach them', () => {
    const t = new PageTable(4, 2);
    t.add(0);
    t.grow(0, 4);
    t.add(1, t.pages(0), 2); // holds both pages, only the first has its tokens
    let r = t.rows([1]);
    expect([...r.indptr]).toEqual([0, 1]);
    expect([...r.indices]).toEqual([t.pages(0)[0]]);
    expect([...r.lastPageLen]).toEqual([2]);
    t.grow(1, 1);
    r = t.rows([1]);
    expect([...r.indices]).toEqual([...t.pages(0)]);
    expect([...r.lastPageLen]).toEqual([1]);
    expect(t.freePages).toBe(2);
  });
});
