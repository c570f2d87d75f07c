import { describe, expect, it } from 'vitest';
import { PageTable } from '../../src/attention/page-table.js';
import {
  PageTableError,
  kvLength,
  poolGeometry,
  poolOffset,
  poolShape,
  validatePageTable,
} from '../../src/attention/kv-layout.js';

describe('page table (BSR rows)', () => {
  it('grows requests page by page and reports indptr / indices / lastPageLen', () => {
    const t = new PageTable(10, 4);
    t.add(1);
    t.add(2);
    t.grow(1, 9); // 3 pages, last holds 1
    t.grow(2, 4); // exactly one page
    t.grow(2, 1); // a second page with 1 token
    const r = t.rows([1, 2]);
    expect([...r.indptr]).toEqual([0, 3, 5]);
    expect([...r.lastPageLen]).toEqual([1, 1]);
    expect(r.lengths).toEqual([9, 5]);
    expect(new Set(r.indices).size).toBe(5);
    expect(t.freePages).toBe(5);
    for (let b = 0; b < 2; b++) expect(kvLength(r.indptr, r.lastPageLen, 4, b)).toBe(r.lengths[b]);
  });

  it('shares prefix pages by reference and frees them with the last user', () => {
    const t = new PageTable(6, 2);
    t.add(0);
    t.grow(0, 4);
    const prefix = t.pages(0);
    t.add(1, prefix);
    t.grow(1, 1);
    expect(t.rows([1]).indices.slice(0, 2)).toEqual(Int32Array.from(prefix));
    t.release(0);
    expect(t.freePages).toBe(3); // prefix still held by request 1
    t.release(1);
    expect(t.freePages).toBe(6);
  });

  it('refuses to overfill the pool without allocating anything', () => {
    const t = new PageTable(2, 16);
    t.add(0);
    expect(() => t.grow(0, 33)).toThrow(/needs 3 more pages, 2 free/);
    expect(t.freePages).toBe(2);
    expect(() => new PageTable(4, 65)).toThrow(PageTableError);
  });

  it('validates page tables before any dispatch', () => {
    const g = { numPages: 4, pageSize: 8 };
    expect(() => validatePageTable([0, 2], [1, 3], [5], 1, g)).not.toThrow();
    expect(() => validatePageTable([0, 2], [1, 4], [5], 1, g)).toThrow(
      /page index 4 out of range \(pool has 4 pages\)/,
    );
    expect(() => validatePageTable([0, 1], [1], [9], 1, g)).toThrow(/last page length 9/);
    expect(() => validatePageTable([0, 3], [1, 2], [1], 1, g)).toThrow(/past the 2 page indices/);
    expect(() => validatePageTable([1, 1], [], [], 1, g)).toThrow(/indptr\[0\]/);
  });

  it('addresses NHD and HND pools consistently with their shapes', () => {
    for (const layout of ['NHD', 'HND'] as const) {
      const g = { numPages: 3, pageSize: 5, numKvHeads: 2, headDim: 8, layout };
      const shape = poolShape(g);
      expect(poolGeometry(shape, layout)).toEqual(g);
      const seen = new Set<number>();
      for (let p = 0; p < 3; p++)
        for (const kv of [0, 1] as const)
          for (let s = 0; s < 5; s++)
            for (let h = 0; h < 2; h++) for (let d = 0; d < 8; d++) seen.add(poolOffset(g, p, kv, s, h, d));
      expect(seen.size).toBe(shape.reduce((a, b) => a * b, 1));
      expect(Math.max(...seen)).toBe(seen.size - 1);
    }
  });
});
