import { describe, expect, it } from 'vitest';
import {
  HEADER_WORDS,
  ITEM_WORDS,
  MERGE_BLOCK,
  MERGE_WIDE,
  MERGE_WORDS,
  PlanError,
  assignLongestFirst,
  itemsOffset,
  mergeOffset,
  mergeTaskOffset,
  planAttention,
} from '../../src/attention/plan.js';

const heads = { numQoHeads: 32, numKvHeads: 8 };

describe('plan()', () => {
  it('splits long KV into fair shares of the grid, balanced over the CTAs', () => {
    const p = planAttention({ qoLens: [1], kvLens: [32768], ...heads }, { grid: 132, maxItems: 1024, tileRows: 4 });
    expect(p.kvChunk).toBe(Math.ceil((8 * 32768) / 132));
    expect(p.items.every((i) => i.kvEnd - i.kvStart <= p.kvChunk)).toBe(true);
    const loads = [...p.ctaLoads];
    expect(Math.max(...loads) / (loads.reduce((a, b) => a + b, 0) / loads.length)).toBeLessThan(1.15);
    expect(p.merges).toBe(8);
  });

  it('does not split when the batch alone fills the grid', () => {
    const p = planAttention(
      { qoLens: Array(64).fill(1), kvLens: Array(64).fill(4096), ...heads },
      { grid: 256, maxItems: 1024, tileRows: 4 },
    );
    expect(p.items.length).toBe(512);
    expect(p.merges).toBe(0);
  });

  it('balances extreme skew (one 32K request + 63 short) by splitting the long one', () => {
    const kvLens = [32768, ...Array(63).fill(512)];
    const p = planAttention(
      { qoLens: Array(64).fill(1), kvLens, ...heads },
      { grid: 1024, maxItems: 2048, tileRows: 4 },
    );
    const loads = [...p.ctaLoads].filter((l) => l > 0);
    const max = Math.max(...loads);
    const mean = loads.reduce((a, b) => a + b, 0) / loads.length;
    // without splitting one CTA would carry 64× a short request's work
    expect(max / mean).toBeLessThan(2.5);
    expect(p.items.filter((i) => i.b === 0).length).toBeGreaterThan(8);
  });

  it('bounds causal and sliding-window tiles to the keys they can see', () => {
    const p = planAttention(
      { qoLens: [64], kvLens: [100], numQoHeads: 1, numKvHeads: 1, causal: true, windowLeft: 10 },
      { grid: 1, maxItems: 64, tileRows: 16, kvChunk: 'none' },
    );
    // first tile: query positions 36…51 see keys 26…51
    const first = p.items.find((i) => i.rowStart === 0)!;
    expect([first.kvStart, first.kvEnd]).toEqual([26, 52]);
  });

  it('lays items out CTA by CTA in the schedule', () => {
    const p = planAttention(
      { qoLens: [3, 0, 5], kvLens: [40, 7, 9], numQoHeads: 4, numKvHeads: 2, causal: true },
      { grid: 5, maxItems: 64, tileRows: 4, kvChunk: 8 },
    );
    const s = p.schedule;
    expect(s[1]).toBe(5);
    expect(s[3]).toBe(p.items.length);
    let covered = 0;
    for (let c = 0; c < 5; c++) {
      for (let i = s[HEADER_WORDS + c]!; i < s[HEADER_WORDS + c + 1]!; i++) {
        const w = itemsOffset(5) + ITEM_WORDS * i;
        expect(s[w]).not.toBe(1); // request 1 has no queries: no items
        covered += s[w + 3]! - s[w + 2]!;
      }
    }
    // every row of every KV head, counted once per chunk at least
    expect(covered).toBeGreaterThanOrEqual((3 + 5) * 2 * 2);
  });

  it('lists merge tasks: a row each for units of many chunks, row blocks for units of few', () => {
    // request 0 splits into many chunks (wide), request 1 into two (narrow); 40-row tiles
    const p = planAttention(
      { qoLens: [10, 10], kvLens: [400, 30], numQoHeads: 4, numKvHeads: 1 },
      { grid: 4, maxItems: 64, tileRows: 40, kvChunk: 20 },
    );
    const s = p.schedule;
    const words = Array.from(s.subarray(mergeTaskOffset(4, 64), mergeTaskOffset(4, 64) + s[8]!));
    const wide = words.filter((w) => (w & 256) === 0);
    const narrow = words.filter((w) => (w & 256) !== 0);
    expect(400 / 20).toBeGreaterThan(MERGE_WIDE);
    expect(wide.map((w) => w & 255)).toEqual(Array.from({ length: 40 }, (_, r) => r));
    expect(narrow.map((w) => w & 255)).toEqual(
      Array.from({ length: Math.ceil(40 / MERGE_BLOCK) }, (_, i) => i * MERGE_BLOCK),
    );
    expect(new Set(wide.map((w) => w >> 9)).size).toBe(1);
    expect(new Set(narrow.map((w) => w >> 9)).size).toBe(1);
    expect(p.merges).toBe(2);
  });

  it("carries each item's request offsets and lengths, and each split unit's first query token", () => {
    const qoLens = [3, 0, 5];
    const kvLens = [40, 7, 9];
    const pageStarts = [0, 5, 7, 9];
    const withPages = planAttention(
      { qoLens, kvLens, numQoHeads: 4, numKvHeads: 2, causal: true, pageStarts },
      { grid: 5, maxItems: 64, tileRows: 4, kvChunk: 8 },
    );
    const without = planAttention(
      { qoLens, kvLens, numQoHeads: 4, numKvHeads: 2, causal: true },
      { grid: 5, maxItems: 64, tileRows: 4, kvChunk: 8 },
    );
    const qStart = [0, 3, 3];
    for (const [p, pages] of [
      [withPages, pageStarts],
      [without, null],
    ] as const) {
      for (let i = 0; i < p.items.length; i++) {
        const w = itemsOffset(5) + ITEM_WORDS * i;
        const b = p.schedule[w]!;
        expect(Array.from(p.schedule.subarray(w + 7, w + 11))).toEqual([
          qStart[b],
          qoLens[b],
          kvLens[b],
          pages ? pages[b] : -1,
        ]);
      }
      for (let m = 0; m < p.merges; m++) {
        const w = mergeOffset(5, 64) + MERGE_WORDS * m;
        expect(p.schedule[w + 6]).toBe(qStart[p.schedule[w]!]);
      }
      expect(p.merges).toBeGreaterThan(0);
    }
  });

  it('rejects impossible batches with a clear error', () => {
    expect(() =>
      planAttention({ qoLens: [5], kvLens: [3], ...heads, causal: true }, { grid: 8, maxItems: 8, tileRows: 4 }),
    ).toThrow(/5 query tokens but only 3 KV tokens/);
    expect(() =>
      planAttention({ qoLens: [1], kvLens: [9], numQoHeads: 6, numKvHeads: 4 }, { grid: 8, maxItems: 8, tileRows: 4 }),
    ).toThrow(PlanError);
    expect(() =>
      planAttention(
        { qoLens: Array(9).fill(1), kvLens: Array(9).fill(9), ...heads },
        { grid: 8, maxItems: 16, tileRows: 4 },
      ),
    ).toThrow(/72 work items over the capacity of 16/);
  });

  it('longest-first assignment keeps the heaviest bin near the optimum', () => {
    const costs = [9, 8, 7, 6, 5, 4, 3, 2, 1, 1];
    const { loads } = assignLongestFirst(costs, 3);
    expect(Math.max(...loads)).toBeLessThanOrEqual(16); // optimum is 46/3 → 16
  });
});
