/**
 * The queue timeline's forecast (src/backends/webgpu/queue-timeline.ts), on a fake clock: what a
 * read is told to wait for, what it learns, and how a forecast that runs long corrects itself.
 * The oracle is the arithmetic of the scenarios written out here, not the class.
 */
import { describe, expect, it } from 'vitest';
import { QueueTimeline, pacedMapRead, unrecordedWork } from '../../src/backends/webgpu/queue-timeline.js';

function clocked() {
  let t = 1000;
  const tl = new QueueTimeline(() => t);
  return { tl, at: (ms: number) => (t = ms), now: () => t };
}

/** One more completed read of `ms` for `step`, 50 ms on (a stream needs two before it has an estimate). */
function twice(c: ReturnType<typeof clocked>, step: object, ms: number) {
  const t = c.at(c.now() + 50);
  c.tl.completed(c.tl.submitted(step), t, t + ms);
}

/** A stand-in buffer whose `mapAsync` resolves at once and notes when it was asked. */
function mappable(): { asked: number[]; buffer: GPUBuffer } {
  (globalThis as { GPUMapMode?: unknown }).GPUMapMode ??= { READ: 1, WRITE: 2 };
  const asked: number[] = [];
  return { asked, buffer: { mapAsync: async () => void asked.push(performance.now()) } as unknown as GPUBuffer };
}

describe('QueueTimeline', () => {
  it('maps at once until a stream has been seen to finish, then wakes a margin before its forecast end', () => {
    const clk = clocked();
    const { tl, at } = clk;
    const step = {};
    const n1 = tl.submitted(step);
    expect(tl.wakeAt(n1)).toBe(0);
    // asked at once (1000), done at 1020: the step costs 20 ms, but one sample is no estimate yet
    tl.completed(n1, 1000, 1020);
    expect(tl.estimate(step)).toBeUndefined();
    at(1025);
    const n = tl.submitted(step);
    expect(tl.wakeAt(n)).toBe(0);
    tl.completed(n, 1025, 1046);
    expect(tl.estimate(step)).toBe(20);
    at(1030);
    const n2 = tl.submitted(step);
    // forecast end 1050; margin max(1, 10% of 20 ms) = 2
    expect(tl.wakeAt(n2)).toBe(1048);
  });

  it('chains the forecast of steps queued behind each other and re-anchors it at each completion', () => {
    const clk = clocked();
    const { tl, at } = clk;
    const step = {};
    tl.completed(tl.submitted(step), 1000, 1010); // 10 ms a step
    twice(clk, step, 10);
    at(1100);
    const a = tl.submitted(step);
    const b = tl.submitted(step);
    const c = tl.submitted(step);
    // back to back from 1100: ends 1110, 1120, 1130; each wakes a tenth of its wait early (the
    // error of a chained forecast grows with its length)
    expect([tl.wakeAt(a), tl.wakeAt(b), tl.wakeAt(c)]).toEqual([1109, 1118, 1127]);
    // a finished late (1115): b and c now end 10 and 20 ms after that
    tl.completed(a, 1109, 1115);
    expect([tl.wakeAt(b), tl.wakeAt(c)]).toEqual([1125 - 2.5, 1135 - 3.5]);
  });

  it('learns a queued step by the time since the one before it finished, not since its submit', () => {
    const clk = clocked();
    const { tl, at } = clk;
    const step = {};
    tl.completed(tl.submitted(step), 1000, 1010);
    twice(clk, step, 10);
    at(1100);
    const a = tl.submitted(step);
    const b = tl.submitted(step);
    tl.completed(a, 1109, 1112); // 12 ms
    tl.completed(b, 1120, 1124); // 12 ms after a, though 24 after its submit
    expect(tl.estimate(step)).toBe(10); // the least of 10, 12, 12
    tl.completed(tl.submitted(step), 1124, 1200);
    expect(tl.estimate(step)).toBe(10);
  });

  it('gives no forecast behind work of unknown cost, until a read completes after it', () => {
    const clk = clocked();
    const { tl, at } = clk;
    const step = {};
    tl.completed(tl.submitted(step), 1000, 1010);
    twice(clk, step, 10);
    at(1100);
    tl.submitted('unknown');
    const s = tl.submitted(step);
    expect(tl.wakeAt(s)).toBe(0);
    // the copy after the unknown work teaches nothing about the step (two costly submissions)
    const copy = tl.submitted('free');
    tl.completed(copy, 1100, 1190);
    expect(tl.estimate(step)).toBe(10);
    at(1200);
    expect(tl.wakeAt(tl.submitted(step))).toBe(1209);
  });

  it('shrinks an estimate when a read that slept finds its work already done', () => {
    const clk = clocked();
    const { tl, at } = clk;
    const step = {};
    tl.completed(tl.submitted(step), 1000, 1040); // 40 ms, but the step really takes 20 from now on
    twice(clk, step, 40);
    let wake = 0;
    for (let i = 0; i < 8; i++) {
      at(2000 + i * 100);
      const n = tl.submitted(step);
      wake = tl.wakeAt(n);
      // the work ended at +20; the read asked at its wake time and the map resolved at once
      tl.completed(n, wake, wake + 0.1);
    }
    // 40 · 0.9^k falls until the wake comes before the real end (+20)
    expect(tl.estimate(step)!).toBeLessThan(24);
    // once a read wakes early it spins and sees the true cost
    at(3000);
    const n = tl.submitted(step);
    tl.completed(n, tl.wakeAt(n), 3020);
    expect(tl.estimate(step)).toBeLessThanOrEqual(20);
  });

  it('learns nothing from a read asked after its work was done, where no estimate exists yet', () => {
    const { tl, at } = clocked();
    const step = {};
    for (const t of [1000, 1500, 2000]) {
      at(t);
      const n = tl.submitted(step);
      // the caller asked 400 ms after its submit and the map resolved at once: 400 is no cost
      tl.completed(n, t + 400, t + 400.1);
    }
    expect(tl.estimate(step)).toBeUndefined();
    at(3000);
    expect(tl.wakeAt(tl.submitted(step))).toBe(0);
  });

  it('takes a submit of a dispatch or two as free and of more as unknown', () => {
    expect(unrecordedWork(0)).toBe('free');
    expect(unrecordedWork(2)).toBe('free');
    expect(unrecordedWork(3)).toBe('unknown');
  });

  it('maps at once whatever it learned when pacing is off', () => {
    let t = 1000;
    const tl = new QueueTimeline(() => t, false);
    const step = {};
    for (let i = 0; i < 3; i++) {
      t += 50;
      tl.completed(tl.submitted(step), t, t + 10);
    }
    expect(tl.estimate(step)).toBe(10);
    t = 2000;
    expect(tl.wakeAt(tl.submitted(step))).toBe(0);
  });

  it('counts a copy as free and learns the stream submitted before it', () => {
    const clk = clocked();
    const { tl, at } = clk;
    const step = {};
    for (const t of [1000, 1040]) {
      at(t);
      tl.submitted(step);
      const copy = tl.submitted('free');
      tl.completed(copy, t, t + 30);
    }
    expect(tl.estimate(step)).toBe(30);
    at(1100);
    tl.submitted(step);
    const copy2 = tl.submitted('free');
    expect(tl.wakeAt(copy2)).toBe(1127);
  });

  it('forgets work nobody reads back instead of holding it forever, and a flush settles everything', () => {
    const clk = clocked();
    const { tl, at } = clk;
    const step = {};
    tl.completed(tl.submitted(step), 1000, 1010);
    twice(clk, step, 10);
    for (let i = 0; i < 200; i++) tl.submitted('unknown');
    at(5000);
    tl.settled();
    expect(tl.wakeAt(tl.submitted(step))).toBe(5009);
  });

  it('asks a paced read map only near the forecast end, and at once where nothing is known', async () => {
    const { asked, buffer } = mappable();
    const tl = new QueueTimeline(() => performance.now(), true);
    const step = {};
    // two reads that each waited 40 ms for their step
    const t = performance.now();
    tl.completed(tl.submitted(step), t, t + 40);
    tl.completed(tl.submitted(step), t + 40, t + 80);
    expect(tl.estimate(step)).toBeCloseTo(40, 0);
    const t0 = performance.now();
    await pacedMapRead(tl, tl.submitted(step), buffer);
    // forecast end t0 + 40, margin 4 ms: the map is asked no earlier than t0 + 36 (timers may run late)
    expect(asked[0]! - t0).toBeGreaterThanOrEqual(35);
    const t1 = performance.now();
    await pacedMapRead(tl, tl.submitted('unknown'), buffer);
    expect(asked[1]! - t1).toBeLessThan(20);
  });

  it('sleeps at most 2 s in all, whatever the forecast', async () => {
    const { asked, buffer } = mappable();
    const tl = new QueueTimeline(() => performance.now(), true);
    const step = {};
    const t = performance.now();
    tl.completed(tl.submitted(step), t, t + 100_000); // a stream taught to cost 100 s
    tl.completed(tl.submitted(step), t + 100_000, t + 200_000);
    const t0 = performance.now();
    await pacedMapRead(tl, tl.submitted(step), buffer);
    expect(asked[0]! - t0).toBeGreaterThanOrEqual(1990);
    expect(asked[0]! - t0).toBeLessThan(2500);
  });
});
