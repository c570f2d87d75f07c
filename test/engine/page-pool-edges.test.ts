/**
 * Page pool bookkeeping beyond the happy path: allocation order, counters after every step,
 * reference counts, and the errors for retaining or releasing a free page. Expected ids and
 * counts are worked out by hand from the documented contract (low ids first, all-or-nothing).
 */
import { describe, expect, it } from 'vitest';
import { PagePool } from '../../src/engine/page-pool.js';

describe('page pool', () => {
  it('hands out the lowest free ids first, in increasing order', () => {
    const pool = new PagePool(6);
    expect(pool.allocate(2)).toEqual([0, 1]);
    expect(pool.allocate(3)).toEqual([2, 3, 4]);
    expect(pool.release(3)).toBe(true);
    expect(pool.allocate(1)).toEqual([3]);
  });

  it('counts free and used pages after each step', () => {
    const pool = new PagePool(5);
    expect([pool.numPages, pool.freeCount, pool.usedCount]).toEqual([5, 5, 0]);
    pool.allocate(2);
    expect([pool.freeCount, pool.usedCount]).toEqual([3, 2]);
    pool.retain(0);
    expect([pool.freeCount, pool.usedCount]).toEqual([3, 2]);
    pool.release(0);
    expect([pool.freeCount, pool.usedCount]).toEqual([3, 2]);
    pool.release(0);
    expect([pool.freeCount, pool.usedCount]).toEqual([4, 1]);
  });

  it('allocates exactly the free count and refuses one more, taking nothing', () => {
    const pool = new PagePool(3);
    expect(pool.allocate(4)).toBeNull();
    expect(pool.freeCount).toBe(3);
    expect(pool.allocate(3)).toEqual([0, 1, 2]);
    expect(pool.allocate(1)).toBeNull();
    expect(pool.allocate(0)).toEqual([]);
  });

  it('tracks reference counts: 1 on allocation, +1 per retain, −1 per release', () => {
    const pool = new PagePool(2);
    const [p] = pool.allocate(1)!;
    expect(pool.refCount(p!)).toBe(1);
    pool.retain(p!);
    pool.retain(p!);
    expect(pool.refCount(p!)).toBe(3);
    expect(pool.release(p!)).toBe(false);
    expect(pool.refCount(p!)).toBe(2);
    expect(pool.release(p!)).toBe(false);
    expect(pool.release(p!)).toBe(true);
    expect(pool.refCount(p!)).toBe(0);
    expect(pool.refCount(1)).toBe(0);
  });

  it('refuses to retain or release a free page, naming it', () => {
    const pool = new PagePool(3);
    expect(() => pool.retain(2)).toThrow('page pool: retain of free page 2');
    expect(() => pool.release(1)).toThrow('page pool: double release of page 1');
    expect(pool.freeCount).toBe(3);
    // a page freed and handed out again starts from one reference
    pool.allocate(1);
    pool.release(0);
    expect(pool.allocate(1)).toEqual([0]);
    expect(pool.refCount(0)).toBe(1);
  });
});
