/**
 * Prefill chunks sized by measured step times (src/engine/step-times.ts, `prefillItlRatio`): the
 * budget arithmetic on given times, and an engine over a runner whose steps cost by their size,
 * which must learn to shrink the chunk that rides beside decodes, without changing any token.
 */
import { describe, expect, it } from 'vitest';
import { Engine } from '../../src/engine/engine.js';
import { MIN_PREFILL_CHUNK, StepTimes, rowBucket } from '../../src/engine/step-times.js';
import { loadTestModel } from './test-model.js';
import type { ToyRunner } from './toy-runner.js';

/** Times each bucket twice (the first time of a bucket is dropped as compile/record time). */
function times(decode: Record<number, number>, mixed: Record<number, number>): StepTimes {
  const t = new StepTimes();
  for (const [rows, ms] of Object.entries(decode)) for (let i = 0; i < 2; i++) t.observeDecode(Number(rows), ms);
  for (const [rows, ms] of Object.entries(mixed)) for (let i = 0; i < 2; i++) t.observeMixed(Number(rows), ms);
  return t;
}

describe('StepTimes.prefillBudget', () => {
  it('buckets rows by the next power of two', () => {
    expect([1, 2, 3, 4, 5, 68, 128, 129].map(rowBucket)).toEqual([1, 2, 4, 4, 8, 128, 128, 256]);
  });

  it('keeps the cap until a decode-only step of that many decodes was measured', () => {
    const t = times({}, { 264: 500 });
    expect(t.prefillBudget(8, 256, 2.5, 16)).toBe(256);
  });

  it('drops the first time of a bucket', () => {
    const t = new StepTimes();
    t.observeDecode(8, 10);
    t.observeMixed(264, 100);
    t.observeMixed(264, 100);
    expect(t.prefillBudget(8, 256, 2.5, 16)).toBe(256); // decode bucket not yet known
    t.observeDecode(8, 10);
    expect(t.prefillBudget(8, 256, 2.5, 16)).toBe(128);
  });

  it('halves the chunk while its step is measured slower than ratio × the decode step', () => {
    // 8 decodes at 10 ms; 8 + 256 → bucket 512 at 60 ms, 8 + 128 → 256 at 35 ms, 8 + 64 → 128 at 20 ms
    const t = times({ 8: 10 }, { 264: 60, 136: 35, 72: 20 });
    expect(t.prefillBudget(8, 256, 2.5, 16)).toBe(64);
    expect(t.prefillBudget(8, 256, 3.5, 16)).toBe(128);
    expect(t.prefillBudget(8, 256, 6, 16)).toBe(256);
  });

  it('lets a size that was never measured run (it is how the engine learns it)', () => {
    const t = times({ 8: 10 }, { 264: 60 });
    expect(t.prefillBudget(8, 256, 2.5, 16)).toBe(128);
  });

  it('never goes below the floor, nor above the cap', () => {
    const t = times({ 8: 1 }, { 264: 60, 136: 35, 72: 20, 40: 15, 24: 12 });
    expect(t.prefillBudget(8, 256, 2, 16)).toBe(16);
    expect(t.prefillBudget(8, 8, 2, 16)).toBe(8);
  });

  it('starts from the step costs of a warm-up: the first call is already sized, and serving times move them', () => {
    const costs = {
      decode: new Map([[8, 10]]),
      mixed: new Map([
        [264, 60],
        [136, 35],
        [72, 20],
      ]),
    };
    const t = new StepTimes(costs);
    expect(t.prefillBudget(8, 256, 2.5, 16)).toBe(64);
    expect(new StepTimes().prefillBudget(8, 256, 2.5, 16)).toBe(256);
    // a seeded bucket is not a first time: the next one counts
    for (let i = 0; i < 30; i++) t.observeMixed(136, 20);
    expect(t.prefillBudget(8, 256, 2.5, 16)).toBe(128);
  });

  it('follows the times as they move (a moving average)', () => {
    const t = times({ 8: 10 }, { 264: 60 });
    expect(t.prefillBudget(8, 256, 2.5, 16)).toBe(128);
    for (let i = 0; i < 30; i++) t.observeMixed(264, 20);
    expect(t.prefillBudget(8, 256, 2.5, 16)).toBe(256);
  });
});

describe('engine with prefillItlRatio', () => {
  it('refuses a ratio below 1 or not a number', async () => {
    const { runner, tokenizer } = await loadTestModel();
    for (const bad of [0.5, Number.NaN, Number.POSITIVE_INFINITY])
      expect(() => new Engine(runner, tokenizer, { prefillItlRatio: bad })).toThrow(/prefillItlRatio/);
  });

  it('shrinks the chunk beside decodes to what the measured steps allow, with the same tokens', async () => {
    // Every forward costs 2 ms plus 2 ms a token: 4 decodes ≈ 10 ms, a 16-token chunk beside them
    // ≈ 42 ms, 32 ≈ 74 ms, 64 ≈ 138 ms; at ratio 2 only the floor fits, and 32 would pass only if
    // the host added over 50 ms to every step (the bound below leaves that much room for a loaded machine).
    const run = async (ratio: number | undefined, seeded = false) => {
      const model = await loadTestModel({ stepDelayMs: 2, tokenDelayMs: 2, maxContext: 2048, numPages: 512 });
      // what a warm-up would have timed on this runner: 2 ms plus 2 ms a row
      const cost = (rows: number) => [rows, 2 + 2 * rows] as [number, number];
      if (seeded)
        Object.assign(model.runner, {
          stepCosts: { decode: new Map([1, 2, 4, 8].map(cost)), mixed: new Map([16, 32, 64, 128].map(cost)) },
        });
      const engine = new Engine(model.runner, model.tokenizer, {
        seed: 7,
        prefillChunkTokens: 64,
        ...(ratio !== undefined ? { prefillItlRatio: ratio } : {}),
      });
      const params = { temperature: 0, maxTokens: 90 };
      const decoders = await Promise.all(
        ['The quick brown fox', 'Once upon a time', 'In the beginning', 'A'].map((p) =>
          engine.submit(model.tokenizer.encode(p), params),
        ),
      );
      // a few decode-only steps first, so the decode step time is known before the long prompt
      let seen = 0;
      for await (const ev of decoders[0]!) if (ev.type === 'delta' && ++seen >= 4) break;
      const runner = model.runner as ToyRunner;
      const from = runner.forwardTokens.length;
      const long = await engine.submit(
        Array.from({ length: 900 }, (_, i) => 3 + (i % 50)),
        { temperature: 0, maxTokens: 4 },
      );
      const results = await Promise.all([...decoders, long].map((r) => r.result));
      await engine.shutdown();
      // the long prompt's chunks in steps that also carried decodes (its chunk is the only entry > 1)
      const chunks = runner.forwardTokens
        .slice(from)
        .filter((f) => f.length > 1 && f.some((n) => n > 1))
        .map((f) => Math.max(...f));
      return { tokens: results.map((r) => r.choices[0]!.tokens.map((t) => t.id)), chunks };
    };
    const fixed = await run(undefined);
    const measured = await run(2);
    expect(measured.tokens).toEqual(fixed.tokens);
    // the fixed budget keeps 64 beside decodes; the measured one learns that 64 and 32 are too slow
    expect(fixed.chunks.slice(0, -1).every((n) => n === 64)).toBe(true);
    const late = measured.chunks.slice(-6, -1);
    console.log(`chunks beside decodes, measured budget: ${measured.chunks.join(' ')}`);
    expect(late.length).toBe(5);
    expect(Math.max(...late)).toBeLessThanOrEqual(2 * MIN_PREFILL_CHUNK);
    expect(measured.chunks).toContain(MIN_PREFILL_CHUNK);
    // learning costs slow steps: the first chunk beside decodes is the full one
    expect(measured.chunks[0]).toBe(64);
    // seeded with the warm-up's costs, the first chunk beside decodes is already cut, tokens unchanged
    const seeded = await run(2, true);
    console.log(`chunks beside decodes, seeded budget: ${seeded.chunks.join(' ')}`);
    expect(seeded.tokens).toEqual(fixed.tokens);
    expect(seeded.chunks[0]).toBeLessThanOrEqual(2 * MIN_PREFILL_CHUNK);
  });
});
