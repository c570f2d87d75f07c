/**
 * Step wall times per kind and row bucket (src/engine/step-log.ts, `Engine.stepSummary`): the
 * percentiles against a sort done here, the bounded window, and an engine over a runner whose steps
 * cost by their size, where the mixed steps (a prompt chunk beside decodes) must show as the slow ones
 * and every step must be counted once.
 */
import { describe, expect, it } from 'vitest';
import { Engine } from '../../src/engine/engine.js';
import { StepLog } from '../../src/engine/step-log.js';
import { Rng } from '../../src/util/rng.js';
import { loadTestModel } from './test-model.js';

const SEED = 20261207;

describe('StepLog', () => {
  it(`gives nearest-rank p50/p99, mean and max per (kind, bucket) (seed ${SEED})`, () => {
    const rng = new Rng(SEED);
    const next = () => rng.next();
    const log = new StepLog();
    const decode: number[] = [];
    const mixed: number[] = [];
    for (let i = 0; i < 500; i++) {
      const d = 5 + 10 * next();
      const m = 50 + 300 * next();
      log.record('decode', 5 + (i % 3), d); // rows 5–7: bucket 8
      log.record('mixed', 200 + (i % 50), m); // rows 200–249: bucket 256
      decode.push(d);
      mixed.push(m);
    }
    const s = log.summary();
    expect(s.map((b) => `${b.kind}:${b.rows}:${b.count}`)).toEqual(['decode:8:500', 'mixed:256:500']);
    for (const [b, xs] of [
      [s[0]!, decode],
      [s[1]!, mixed],
    ] as const) {
      const sorted = [...xs].sort((a, c) => a - c);
      // nearest rank: the ⌈q·n⌉-th smallest
      expect(b.p50Ms).toBe(sorted[249]);
      expect(b.p99Ms).toBe(sorted[494]);
      expect(b.maxMs).toBe(sorted[499]);
      expect(b.meanMs).toBeCloseTo(xs.reduce((a, c) => a + c, 0) / xs.length, 9);
    }
  });

  it('keeps prefill-only steps apart from mixed ones and lists decode, mixed, prefill in that order', () => {
    const log = new StepLog();
    log.record('prefill', 300, 90);
    log.record('mixed', 300, 95);
    log.record('decode', 30, 15);
    log.record('prefill', 20, 10);
    expect(log.summary().map((b) => `${b.kind}:${b.rows}`)).toEqual([
      'decode:32',
      'mixed:512',
      'prefill:32',
      'prefill:512',
    ]);
  });

  it('keeps the last 4096 times of a bucket and counts every one; reset empties it', () => {
    const log = new StepLog();
    for (let i = 0; i < 5000; i++) log.record('decode', 1, i < 904 ? 1000 : 1);
    const [b] = log.summary();
    expect(b!.count).toBe(5000);
    expect(b!.maxMs).toBe(1); // the 904 slow ones were the oldest, overwritten
    log.reset();
    expect(log.summary()).toEqual([]);
  });
});

describe('Engine.stepSummary', () => {
  it('counts every step once and shows the steps carrying a prompt chunk as the slow ones', async () => {
    // every forward costs 2 ms plus 2 ms a token: decodes of 3 rows ≈ 8 ms, a 64-token chunk ≈ 130 ms
    const model = await loadTestModel({ stepDelayMs: 2, tokenDelayMs: 2, maxContext: 2048, numPages: 512 });
    const engine = new Engine(model.runner, model.tokenizer, { seed: 7, prefillChunkTokens: 64 });
    const params = { temperature: 0, maxTokens: 40 };
    const decoders = await Promise.all(
      ['The quick brown fox', 'Once upon a time', 'In the beginning'].map((p) =>
        engine.submit(model.tokenizer.encode(p), params),
      ),
    );
    let seen = 0;
    for await (const ev of decoders[0]!) if (ev.type === 'delta' && ++seen >= 4) break;
    const long = await engine.submit(
      Array.from({ length: 400 }, (_, i) => 3 + (i % 50)),
      { temperature: 0, maxTokens: 4 },
    );
    await Promise.all([...decoders, long].map((r) => r.result));
    const steps = engine.stats().steps;
    const summary = engine.stepSummary(true);
    await engine.shutdown();
    console.log(
      summary
        .map(
          (b) => `${b.kind} ≤${b.rows}: ${b.count} steps, p50 ${b.p50Ms.toFixed(1)} ms, p99 ${b.p99Ms.toFixed(1)} ms`,
        )
        .join('\n'),
    );
    expect(summary.reduce((a, b) => a + b.count, 0)).toBe(steps);
    const decodeP50 = Math.max(...summary.filter((b) => b.kind === 'decode').map((b) => b.p50Ms));
    // the three prompts' first step carries no decode: prefill-only, not an inter-token gap
    expect(summary.some((b) => b.kind === 'prefill')).toBe(true);
    const bigMixed = summary.filter((b) => b.kind === 'mixed' && b.rows >= 64);
    expect(bigMixed.length).toBeGreaterThan(0);
    for (const b of bigMixed) expect(b.p50Ms).toBeGreaterThan(3 * decodeP50);
    expect(engine.stepSummary()).toEqual([]);
  });
});
