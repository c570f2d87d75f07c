/**
 * plan() checked against what attention needs, computed here independently: for every (request,
 * query row, KV head) the items holding that row must cover exactly the keys a query at position
 * kvLen − qLen + ⌊row / group⌋ may see (causal: ≤ its position; window w: ≥ position − w), in
 * disjoint chunks no longer than the plan's chunk; split units get scratch slots and one merge
 * record; the schedule decodes back to the same items, CTA by CTA. Small cases are also worked
 * out by hand. Fixed seed 99 for the random batches.
 */
import { describe, expect, it } from 'vitest';
import {
  HEADER_WORDS,
  ITEM_WORDS,
  MERGE_BLOCK,
  MERGE_WORDS,
  SCHEDULE_MAGIC,
  assignLongestFirst,
  itemsOffset,
  mergeOffset,
  mergeTaskOffset,
  planAttention,
  queryOffsets,
  scheduleLength,
  type PlanInput,
  type PlanOptions,
} from '../../src/attention/plan.js';
import { Rng } from '../../src/util/rng.js';

/** Checks every invariant of a plan against the batch, from first principles. */
function checkPlan(input: PlanInput, opts: PlanOptions): void {
  const p = planAttention(input, opts);
  const group = input.numQoHeads / input.numKvHeads;
  const s = p.schedule;
  expect(s).toHaveLength(scheduleLength(opts));
  expect(Array.from(s.subarray(0, HEADER_WORDS))).toEqual([
    SCHEDULE_MAGIC,
    opts.grid,
    opts.tileRows,
    p.items.length,
    p.merges,
    p.kvChunk,
    input.qoLens.length,
    s[7],
    s[8],
  ]);
  // the schedule's items, CTA by CTA, are the plan's items
  const decoded: number[][] = [];
  expect(s[HEADER_WORDS]).toBe(0);
  expect(s[HEADER_WORDS + opts.grid]).toBe(p.items.length);
  for (let c = 0; c < opts.grid; c++) {
    expect(s[HEADER_WORDS + c + 1]!).toBeGreaterThanOrEqual(s[HEADER_WORDS + c]!);
    for (let i = s[HEADER_WORDS + c]!; i < s[HEADER_WORDS + c + 1]!; i++)
      decoded.push(
        Array.from(s.subarray(itemsOffset(opts.grid) + ITEM_WORDS * i, itemsOffset(opts.grid) + ITEM_WORDS * (i + 1))),
      );
  }
  const qStart = [0];
  for (const l of input.qoLens) qStart.push(qStart.at(-1)! + l);
  const asWords = p.items.map((it) => [
    it.b,
    it.kvHead,
    it.rowStart,
    it.rowEnd,
    it.kvStart,
    it.kvEnd,
    it.slot,
    qStart[it.b]!,
    input.qoLens[it.b]!,
    input.kvLens[it.b]!,
    input.pageStarts ? input.pageStarts[it.b]! : -1,
    0,
  ]);
  const key = (w: number[]) => w.join(',');
  expect(decoded.map(key).sort()).toEqual(asWords.map(key).sort());
  // coverage: each row's keys exactly once, in chunks ≤ kvChunk
  input.qoLens.forEach((qLen, b) => {
    const kvLen = input.kvLens[b]!;
    for (let h = 0; h < input.numKvHeads; h++) {
      for (let row = 0; row < qLen * group; row++) {
        const qpos = kvLen - qLen + Math.floor(row / group);
        const mine = p.items.filter((it) => it.b === b && it.kvHead === h && it.rowStart <= row && row < it.rowEnd);
        expect(mine.length, `request ${b} head ${h} row ${row}`).toBeGreaterThan(0);
        const hits = new Array(kvLen).fill(0);
        for (const it of mine) {
          expect(it.kvEnd - it.kvStart).toBeLessThanOrEqual(p.kvChunk);
          expect(it.rowEnd - it.rowStart).toBeLessThanOrEqual(opts.tileRows);
          for (let k = it.kvStart; k < it.kvEnd; k++) hits[k]++;
        }
        for (let k = 0; k < kvLen; k++) {
          const visible =
            (!input.causal || k <= qpos) &&
            (input.windowLeft === undefined || input.windowLeft < 0 || qpos - k <= input.windowLeft);
          if (visible) expect(hits[k], `request ${b} row ${row} key ${k}`).toBe(1);
          expect(hits[k]).toBeLessThanOrEqual(1);
        }
      }
    }
  });
  // split units: distinct scratch rows, one merge record each
  const split = p.items.filter((it) => it.slot >= 0);
  const slots = split.map((it) => it.slot);
  expect(new Set(slots).size).toBe(slots.length);
  slots.forEach((sl) => expect(sl % opts.tileRows).toBe(0));
  for (let m = 0; m < p.merges; m++) {
    const w = Array.from(
      s.subarray(
        mergeOffset(opts.grid, opts.maxItems) + MERGE_WORDS * m,
        mergeOffset(opts.grid, opts.maxItems) + MERGE_WORDS * (m + 1),
      ),
    );
    const [b, h, r0, r1, first, n, q0] = w as [number, number, number, number, number, number, number];
    const parts = split.filter((it) => it.b === b && it.kvHead === h && it.rowStart === r0 && it.rowEnd === r1);
    expect(parts).toHaveLength(n);
    expect(parts.map((it) => it.slot).sort((x, y) => x - y)).toEqual(
      Array.from({ length: n }, (_, c) => first + c * opts.tileRows),
    );
    expect(q0).toBe(qStart[b]);
  }
  expect(s[7]).toBe(split.length * opts.tileRows);
}

describe('plan invariants on hand-picked batches', () => {
  const cases: [string, PlanInput, PlanOptions][] = [
    [
      'decode batch, GQA 4',
      { qoLens: [1, 1, 1], kvLens: [5, 17, 1], numQoHeads: 8, numKvHeads: 2, causal: true },
      { grid: 3, maxItems: 64, tileRows: 4, kvChunk: 4 },
    ],
    [
      'prefill with chunk 1',
      { qoLens: [4], kvLens: [4], numQoHeads: 2, numKvHeads: 1, causal: true },
      { grid: 2, maxItems: 64, tileRows: 3, kvChunk: 1 },
    ],
    [
      'window 0 and 3',
      { qoLens: [6, 2], kvLens: [9, 2], numQoHeads: 2, numKvHeads: 2, causal: true, windowLeft: 3 },
      { grid: 4, maxItems: 64, tileRows: 2, kvChunk: 2 },
    ],
    [
      'window 0',
      { qoLens: [5], kvLens: [7], numQoHeads: 1, numKvHeads: 1, causal: true, windowLeft: 0 },
      { grid: 2, maxItems: 64, tileRows: 2 },
    ],
    [
      'non-causal, more queries than keys',
      { qoLens: [6, 0, 2], kvLens: [3, 4, 0], numQoHeads: 3, numKvHeads: 1 },
      { grid: 2, maxItems: 64, tileRows: 4, kvChunk: 2 },
    ],
    [
      'page starts carried',
      { qoLens: [2, 3], kvLens: [10, 3], numQoHeads: 4, numKvHeads: 4, causal: true, pageStarts: [4, 9, 11] },
      { grid: 3, maxItems: 128, tileRows: 4, kvChunk: 3 },
    ],
    [
      'chunk searched, min chunk 1',
      { qoLens: [1, 1], kvLens: [100, 3], numQoHeads: 2, numKvHeads: 1, causal: true },
      { grid: 8, maxItems: 64, tileRows: 2, minChunk: 1 },
    ],
    [
      'no split',
      { qoLens: [3, 1], kvLens: [30, 9], numQoHeads: 2, numKvHeads: 1, causal: true },
      { grid: 4, maxItems: 64, tileRows: 8, kvChunk: 'none' },
    ],
    [
      'a negative window is none',
      { qoLens: [3], kvLens: [8], numQoHeads: 1, numKvHeads: 1, causal: true, windowLeft: -1 },
      { grid: 2, maxItems: 64, tileRows: 2, kvChunk: 3 },
    ],
  ];
  it.each(cases)('%s', (_, input, opts) => checkPlan(input, opts));
});

describe('plan invariants on random batches (seed 99)', () => {
  it('40 batches', () => {
    const rng = new Rng(99);
    for (let n = 0; n < 40; n++) {
      const B = rng.int(1, 5);
      const kvLens = Array.from({ length: B }, () => rng.int(0, 40));
      const causal = rng.next() < 0.7;
      const qoLens = kvLens.map((kv) => rng.int(0, causal ? kv : kv + 3));
      const numKvHeads = rng.pick([1, 2]);
      const numQoHeads = numKvHeads * rng.pick([1, 2, 3]);
      const windowLeft = rng.next() < 0.3 ? rng.int(0, 6) : undefined;
      const kvChunk = rng.pick<number | 'none' | undefined>([undefined, 'none', 1, 3, 7]);
      const input: PlanInput = {
        qoLens,
        kvLens,
        numQoHeads,
        numKvHeads,
        causal,
        ...(windowLeft !== undefined ? { windowLeft } : {}),
      };
      checkPlan(input, {
        grid: rng.int(1, 6),
        maxItems: 4096,
        tileRows: rng.pick([1, 2, 4, 5]),
        ...(kvChunk !== undefined ? { kvChunk } : { minChunk: rng.pick([1, 4]) }),
      });
    }
  });
});

describe('plan by hand', () => {
  it('chunk: the fair share of all visible keys over targetItems, clamped to [minChunk, longest]', () => {
    // one head, decode rows: units of 100 and 20 keys, 120 keys over 4 → 30
    const base = { qoLens: [1, 1], kvLens: [100, 20], numQoHeads: 1, numKvHeads: 1, causal: true };
    expect(planAttention(base, { grid: 4, maxItems: 64, tileRows: 1, minChunk: 1 }).kvChunk).toBe(30);
    expect(planAttention(base, { grid: 4, maxItems: 64, tileRows: 1, minChunk: 1, targetItems: 7 }).kvChunk).toBe(18);
    expect(planAttention(base, { grid: 4, maxItems: 64, tileRows: 1, minChunk: 40 }).kvChunk).toBe(40);
    expect(planAttention(base, { grid: 4, maxItems: 64, tileRows: 1 }).kvChunk).toBe(100);
    expect(planAttention(base, { grid: 1, maxItems: 64, tileRows: 1, minChunk: 1 }).kvChunk).toBe(100);
    expect(planAttention(base, { grid: 4, maxItems: 64, tileRows: 1, kvChunk: 'none' }).kvChunk).toBe(100);
    expect(planAttention(base, { grid: 4, maxItems: 64, tileRows: 1, kvChunk: 7 }).kvChunk).toBe(7);
    // 100 keys in chunks of 30: 30, 30, 30, 10 — four items with slots 0, 1, 2, 3; the 20-key unit is whole
    const p = planAttention(base, { grid: 4, maxItems: 64, tileRows: 1, minChunk: 1 });
    expect(p.items.map((i) => [i.b, i.kvStart, i.kvEnd, i.slot])).toEqual([
      [0, 0, 30, 0],
      [0, 30, 60, 1],
      [0, 60, 90, 2],
      [0, 90, 100, 3],
      [1, 0, 20, -1],
    ]);
    expect(p.merges).toBe(1);
    // an empty batch still has a chunk of 1
    expect(
      planAttention({ qoLens: [], kvLens: [], numQoHeads: 1, numKvHeads: 1 }, { grid: 2, maxItems: 4, tileRows: 1 })
        .kvChunk,
    ).toBe(1);
  });

  it('causal tiles end one past their last row, windows start at their first row minus the window', () => {
    // 6 queries on 10 keys (positions 4…9), GQA 2 → 12 rows, tiles of 4 rows = 2 query positions
    const p = planAttention(
      { qoLens: [6], kvLens: [10], numQoHeads: 2, numKvHeads: 1, causal: true, windowLeft: 1 },
      { grid: 1, maxItems: 64, tileRows: 4, kvChunk: 'none' },
    );
    expect(p.items.map((i) => [i.rowStart, i.rowEnd, i.kvStart, i.kvEnd])).toEqual([
      [0, 4, 3, 6],
      [4, 8, 5, 8],
      [8, 12, 7, 10],
    ]);
  });

  it('merge tasks: unit · 512 + 256 + first row for a narrow unit', () => {
    const p = planAttention(
      { qoLens: [40], kvLens: [40], numQoHeads: 1, numKvHeads: 1 },
      { grid: 2, maxItems: 64, tileRows: 40, kvChunk: 20 },
    );
    const s = p.schedule;
    expect(Array.from(s.subarray(mergeTaskOffset(2, 64), mergeTaskOffset(2, 64) + s[8]!))).toEqual([
      256,
      256 + MERGE_BLOCK,
    ]);
  });

  it('query offsets are prefix sums', () => {
    expect(queryOffsets([3, 0, 5])).toEqual([0, 3, 3, 8]);
    expect(queryOffsets([])).toEqual([0]);
  });

  it('longest first to the least loaded bin, ties to the lower bin', () => {
    // 5 → bin 0; 3 → bin 1; 3 → bin 1 (3 < 5); 1 → bin 0 (5 < 6)
    const { bin, loads } = assignLongestFirst([5, 3, 3, 1], 2);
    expect(Array.from(bin)).toEqual([0, 1, 1, 0]);
    expect(Array.from(loads)).toEqual([6, 6]);
    // equal costs go in index order to bins 0, 1, 2, then back to 0
    expect(Array.from(assignLongestFirst([2, 2, 2, 2], 3).bin)).toEqual([0, 1, 2, 0]);
    // 8 → bin 0; 4 → bin 1; 3 → bin 2; 2 → bin 2 (3 is least); 1 → bin 1 (4 < 5 < 8)
    expect(Array.from(assignLongestFirst([1, 4, 2, 8, 3], 3).bin)).toEqual([1, 1, 2, 0, 2]);
    expect(Array.from(assignLongestFirst([], 3).loads)).toEqual([0, 0, 0]);
  });

  it('names bad inputs', () => {
    const one = { qoLens: [1], kvLens: [1], numQoHeads: 1, numKvHeads: 1 };
    expect(() => planAttention({ ...one, kvLens: [1, 2] }, { grid: 1, maxItems: 4, tileRows: 1 })).toThrow(
      'plan: 1 query lengths but 2 KV lengths',
    );
    expect(() => planAttention({ ...one, qoLens: [-1] }, { grid: 1, maxItems: 4, tileRows: 1 })).toThrow(
      'plan: request 0 has lengths q=-1, kv=1',
    );
    expect(() => planAttention({ ...one, kvLens: [1.5] }, { grid: 1, maxItems: 4, tileRows: 1 })).toThrow(
      /lengths q=1, kv=1.5/,
    );
    expect(() => planAttention(one, { grid: 0, maxItems: 4, tileRows: 1 })).toThrow(
      'plan: grid 0, maxItems 4, tileRows 1',
    );
    expect(() => planAttention(one, { grid: 1, maxItems: 0, tileRows: 1 })).toThrow(/maxItems 0/);
    expect(() => planAttention(one, { grid: 1, maxItems: 4, tileRows: 0 })).toThrow(/tileRows 0/);
    expect(() => planAttention(one, { grid: 1, maxItems: 4, tileRows: 1, kvChunk: 0 })).toThrow('plan: kvChunk 0');
    expect(() => planAttention(one, { grid: 1, maxItems: 4, tileRows: 257 })).toThrow('plan: 257 rows per tile');
    expect(planAttention(one, { grid: 1, maxItems: 4, tileRows: 256 }).items).toHaveLength(1);
    expect(
      planAttention({ ...one, qoLens: [4], causal: false }, { grid: 1, maxItems: 4, tileRows: 4 }).items,
    ).toHaveLength(1);
    expect(() => planAttention({ ...one, qoLens: [2], causal: true }, { grid: 1, maxItems: 4, tileRows: 1 })).toThrow(
      'plan: request 0 has 2 query tokens but only 1 KV tokens',
    );
    expect(() => planAttention({ ...one, qoLens: [3] }, { grid: 1, maxItems: 2, tileRows: 1 })).toThrow(
      'plan: 3 work items over the capacity of 2',
    );
    expect(planAttention({ ...one, qoLens: [2] }, { grid: 1, maxItems: 2, tileRows: 1 }).items).toHaveLength(2);
  });

  it('errors are PlanErrors that say what to do', () => {
    const one = { qoLens: [1], kvLens: [1], numQoHeads: 1, numKvHeads: 1 };
    const hint = (f: () => unknown): string => {
      try {
        f();
      } catch (e) {
        expect((e as Error).name).toBe('PlanError');
        return (e as Error).message.split('\n  → ')[1] ?? '';
      }
      throw new Error('no error');
    };
    expect(hint(() => planAttention({ ...one, kvLens: [] }, { grid: 1, maxItems: 4, tileRows: 1 }))).toBe(
      'pass one of each per request',
    );
    expect(
      hint(() => planAttention({ ...one, numQoHeads: 3, numKvHeads: 2 }, { grid: 1, maxItems: 4, tileRows: 1 })),
    ).toBe('GQA needs numQoHeads = k·numKvHeads');
    expect(hint(() => planAttention({ ...one, qoLens: [-1] }, { grid: 1, maxItems: 4, tileRows: 1 }))).toBe(
      'lengths are non-negative integers',
    );
    expect(
      hint(() => planAttention({ ...one, qoLens: [2], causal: true }, { grid: 1, maxItems: 4, tileRows: 1 })),
    ).toBe('append the new tokens to the KV cache before attention (the KV holds them too)');
    expect(hint(() => planAttention(one, { grid: 0, maxItems: 4, tileRows: 1 }))).toBe('all must be positive');
    expect(hint(() => planAttention(one, { grid: 1, maxItems: 4, tileRows: 1, kvChunk: 0.5 }))).toBe(
      'a chunk is at least one token',
    );
    expect(hint(() => planAttention(one, { grid: 1, maxItems: 4, tileRows: 300 }))).toBe(
      'merge tasks keep a row in one byte: use at most 256',
    );
    expect(hint(() => planAttention({ ...one, qoLens: [3] }, { grid: 1, maxItems: 2, tileRows: 1 }))).toBe(
      'create the planner with a larger maxItems (or a larger tileRows) for batches this large',
    );
    expect(
      hint(() =>
        planAttention({ ...one, numQoHeads: 2, numKvHeads: 1, kvLens: [1, 1] }, { grid: 1, maxItems: 4, tileRows: 1 }),
      ),
    ).toBe('pass one of each per request');
  });

  it('schedule layout: header, CTA offsets, items, merge records, merge tasks', () => {
    expect(itemsOffset(3)).toBe(HEADER_WORDS + 4);
    expect(mergeOffset(3, 5)).toBe(HEADER_WORDS + 4 + ITEM_WORDS * 5);
    expect(mergeTaskOffset(3, 5)).toBe(HEADER_WORDS + 4 + (ITEM_WORDS + MERGE_WORDS) * 5);
    // merge task capacity per item: ceil(rows / 32) blocks + ceil(rows / 9) single rows
    expect(scheduleLength({ grid: 3, maxItems: 5, tileRows: 40 })).toBe(mergeTaskOffset(3, 5) + 5 * (2 + 5));
    expect(scheduleLength({ grid: 1, maxItems: 1, tileRows: 1 })).toBe(HEADER_WORDS + 2 + ITEM_WORDS + MERGE_WORDS + 2);
    // a wide unit (more than 8 chunks) lists one task per row: unit · 512 + row
    const p = planAttention(
      { qoLens: [3], kvLens: [90], numQoHeads: 1, numKvHeads: 1 },
      { grid: 2, maxItems: 64, tileRows: 3, kvChunk: 10 },
    );
    const s = p.schedule;
    expect(Array.from(s.subarray(mergeTaskOffset(2, 64), mergeTaskOffset(2, 64) + s[8]!))).toEqual([0, 1, 2]);
    // two units split in two: tasks 256 (unit 0, rows 0…) and 512 + 256 (unit 1)
    const q = planAttention(
      { qoLens: [1, 1], kvLens: [20, 20], numQoHeads: 1, numKvHeads: 1 },
      { grid: 2, maxItems: 64, tileRows: 1, kvChunk: 10 },
    );
    expect(Array.from(q.schedule.subarray(mergeTaskOffset(2, 64), mergeTaskOffset(2, 64) + q.schedule[8]!))).toEqual([
      256,
      512 + 256,
    ]);
    expect(q.schedule[7]).toBe(4);
  });
});
