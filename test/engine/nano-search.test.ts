/** The nano-batch auto-search on synthetic cost tables whose optimum is known in closed form. */
import { describe, expect, it } from 'vitest';
import {
  interpolateCost,
  modelStepMs,
  type NanoCostTable,
  NanoPlanCache,
  nanoCostProblem,
  nanoPlanKey,
  nanoShapeBucket,
  searchNanoPlan,
} from '../../src/engine/nano-search.js';

/** 1 ms per token of GEMM and per decode request of attention, sampled at a few sizes. */
const linear = (attentionSaturation: number, stageMs = 0): NanoCostTable => ({
  gemm: [
    [64, 64],
    [1024, 1024],
  ],
  attention: [
    [64, 64],
    [1024, 1024],
  ],
  attentionSaturation,
  stageMs,
});

describe('nano-batch search', () => {
  it('interpolates between samples and extrapolates past the last', () => {
    const s = [
      [10, 5],
      [20, 25],
    ] as const;
    expect(interpolateCost(s, 0)).toBe(0);
    expect(interpolateCost(s, 5)).toBeCloseTo(2.5, 12);
    expect(interpolateCost(s, 15)).toBeCloseTo(15, 12);
    expect(interpolateCost(s, 30)).toBeCloseTo(45, 12);
  });

  it('keeps the plain step when both ops scale linearly with their share (nothing to overlap)', () => {
    // every plan costs 2D: D/n + (n−1)·max(D/(n s), D/(n(1−s))) + D/n ≥ 2D, equal at s = ½
    const plan = searchNanoPlan(linear(1), { decodeTokens: 256, prefillTokens: 0 });
    expect(plan).toMatchObject({ nano: 1, share: 1 });
    expect(plan.ms).toBeCloseTo(512, 9);
    expect(modelStepMs(linear(1), { decodeTokens: 256, prefillTokens: 0 }, 4, 0.5)).toBeCloseTo(512, 9);
  });

  it('finds the closed-form optimum when attention saturates bandwidth on a quarter of the device', () => {
    // middle stage: max(D/(n s), D/n · max(1, ¼/(1−s))), least at 1/s = ¼/(1−s): s = 0.8, 1.25·D/n;
    // total D/n·(2 + 1.25(n−1)), least at the largest n = 4: 1.4375·D
    const D = 400;
    const plan = searchNanoPlan(linear(0.25), { decodeTokens: D, prefillTokens: 0 }, { maxNano: 4, shareSteps: 20 });
    expect(plan.nano).toBe(4);
    expect(plan.share).toBeCloseTo(0.8, 12);
    expect(plan.ms).toBeCloseTo(1.4375 * D, 9);
    expect(plan.plainMs).toBeCloseTo(2 * D, 9);
  });

  it('agrees with brute force over the grid on random tables', () => {
    let state = 12345;
    const rand = () => (state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 2 ** 32;
    for (let trial = 0; trial < 50; trial++) {
      const costs: NanoCostTable = {
        gemm: [
          [32, 1 + 10 * rand()],
          [512, 20 + 100 * rand()],
        ],
        attention: [
          [32, 0.5 + 5 * rand()],
          [512, 10 + 80 * rand()],
        ],
        attentionSaturation: 0.1 + 0.9 * rand(),
        stageMs: 2 * rand(),
      };
      const shape = { decodeTokens: Math.floor(512 * rand()), prefillTokens: Math.floor(256 * rand()) };
      const plan = searchNanoPlan(costs, shape, { maxNano: 5, shareSteps: 8 });
      let best = modelStepMs(costs, shape, 1, 1);
      for (let n = 2; n <= 5; n++)
        for (let k = 1; k < 8; k++) best = Math.min(best, modelStepMs(costs, shape, n, k / 8));
      expect(plan.ms).toBeCloseTo(best, 9);
      expect(plan.ms).toBeLessThanOrEqual(plan.plainMs + 1e-9);
    }
  });

  it('keeps the plain step when a stage costs more than overlap saves', () => {
    const plan = searchNanoPlan(linear(0.25, 1000), { decodeTokens: 400, prefillTokens: 0 });
    expect(plan.nano).toBe(1);
  });
});

describe('nano plan cache', () => {
  it('buckets shapes by powers of two and plans each bucket once', () => {
    expect(nanoShapeBucket({ decodeTokens: 300, prefillTokens: 0 })).toBe('d512p0');
    expect(nanoShapeBucket({ decodeTokens: 512, prefillTokens: 3 })).toBe('d512p4');
    const cache = new NanoPlanCache(nanoPlanKey('llama3-8b', 'H100'), linear(0.25), { maxNano: 4, shareSteps: 20 });
    const planner = cache.planner();
    expect(planner(300, 0)).toBe(4);
    expect(cache.plan({ decodeTokens: 400, prefillTokens: 0 })).toBe(
      cache.plan({ decodeTokens: 300, prefillTokens: 0 }),
    );
  });

  it('round-trips through JSON and refuses a cache of another model or card', () => {
    const key = nanoPlanKey('llama3-8b', 'H100');
    const cache = new NanoPlanCache(key, linear(0.25));
    const plan = cache.plan({ decodeTokens: 128, prefillTokens: 64 });
    const text = JSON.stringify(cache);
    const back = NanoPlanCache.fromJSON(text, key)!;
    expect(back.plan({ decodeTokens: 128, prefillTokens: 64 })).toEqual(plan);
    expect(NanoPlanCache.fromJSON(text, nanoPlanKey('llama3-8b', 'H200'))).toBeNull();
  });
});

describe('nano cost table check', () => {
  // the table a probe wrote when its "stage" dispatch was one persistent attention workgroup looping
  // over the whole batch: seconds per stage, where a dispatch and its barrier cost microseconds
  const wrong: NanoCostTable = {
    gemm: [
      [256, 665.949056],
      [512, 1270.722848],
    ],
    attention: [
      [256, 266.206752],
      [512, 480.165792],
    ],
    attentionSaturation: 1,
    stageMs: 380810.55136,
  };

  it('refuses a stage cost above the smallest GEMM chain, and the cache will not take it', () => {
    expect(nanoCostProblem(wrong)).toMatch(/stage's fixed cost/);
    expect(() => new NanoPlanCache(nanoPlanKey('llama3-8b-random', 'H100'), wrong)).toThrow(
      /not a measured cost table/,
    );
    const text = JSON.stringify({ key: 'k', costs: wrong, grid: { maxNano: 4, shareSteps: 16 }, plans: {} });
    expect(() => NanoPlanCache.fromJSON(text, 'k')).toThrow(/stage's fixed cost/);
  });

  it('takes the same table with a stage of 32 dispatches of 10 µs, and plans in its units', () => {
    const right = { ...wrong, stageMs: 32 * 0.01 };
    expect(nanoCostProblem(right)).toBeNull();
    // plain step: GEMMs + attention + two stages, in the table's ms per step
    const plan = new NanoPlanCache('k', right).plan({ decodeTokens: 256, prefillTokens: 0 });
    expect(plan.plainMs).toBeCloseTo(665.949056 + 266.206752 + 0.64, 9);
  });

  it('refuses samples out of order, not positive, or a saturation outside (0, 1]', () => {
    const ok: NanoCostTable = { ...wrong, stageMs: 0.3 };
    expect(nanoCostProblem({ ...ok, gemm: [...ok.gemm].reverse() })).toMatch(/ascending/);
    expect(nanoCostProblem({ ...ok, attention: [[256, 0]] })).toMatch(/positive/);
    expect(nanoCostProblem({ ...ok, gemm: [] })).toMatch(/no gemm samples/);
    expect(nanoCostProblem({ ...ok, attentionSaturation: 0 })).toMatch(/saturation/);
    expect(nanoCostProblem({ ...ok, stageMs: -1 })).toMatch(/negative/);
  });
});
