/**
 * The scheduler's prefill budget, driven step by step without a model: a step that carries
 * decodes takes at most `prefillChunkTokens` prefill tokens, a step without decodes takes up to
 * `maxBatchTokens`, every decoding sequence is in every step until it finishes, long prompts still
 * complete in arrival order, and preemption under a small page pool still lets everything finish.
 * "Decode" is judged here from the outside: a sequence that has generated a token and has exactly
 * one token left to compute when the step is planned.
 */
import { describe, expect, it } from 'vitest';
import { Engine } from '../../src/engine/engine.js';
import { KvManager } from '../../src/engine/kv-manager.js';
import { RequestState } from '../../src/engine/request.js';
import { resolveSamplingParams } from '../../src/engine/sampling-params.js';
import { Scheduler, type SchedulerConfig } from '../../src/engine/scheduler.js';
import { Sequence } from '../../src/engine/sequence.js';
import { Rng } from '../../src/util/rng.js';
import { loadTestModel, loadTestTokenizer } from './test-model.js';

const tokenizer = loadTestTokenizer();

interface StepLog {
  step: number;
  decodes: Sequence[];
  prefillTokens: number;
  totalTokens: number;
}

/** A scheduler over a page pool, with requests arriving at given steps and a log of every step. */
class Harness {
  readonly kv: KvManager;
  readonly scheduler: Scheduler;
  readonly log: StepLog[] = [];
  /** Step at which each sequence drew its first token, and the steps it drew tokens at. */
  readonly firstTokenStep = new Map<Sequence, number>();
  readonly tokenSteps = new Map<Sequence, number[]>();
  readonly finished = new Set<Sequence>();
  private order = 0;
  step = 0;

  constructor(
    config: SchedulerConfig,
    numPages = 4096,
    readonly pageSize = 16,
  ) {
    this.kv = new KvManager(numPages, pageSize, false);
    this.scheduler = new Scheduler(this.kv, config);
  }

  submit(promptLength: number, maxTokens: number): Sequence {
    const prompt = Array.from({ length: promptLength }, (_, i) => 3 + ((i * 7 + this.order) % 50));
    const request = new RequestState(
      `r${this.order}`,
      this.order++,
      prompt,
      resolveSamplingParams({ maxTokens, temperature: 0 }),
    );
    const seq = new Sequence(request, 0, prompt, tokenizer, null);
    request.sequences.push(seq);
    this.scheduler.enqueue(seq);
    this.tokenSteps.set(seq, []);
    return seq;
  }

  /** Plans one step, logs it, and applies it as the engine would (a token drawn when a sequence's tokens are all computed). */
  run(): StepLog {
    const pendingBefore = new Map(this.scheduler.running.map((s) => [s, s.pendingTokens]));
    const chunks = this.scheduler.schedule();
    const isDecode = (s: Sequence) => s.outputLength > 0 && (pendingBefore.get(s) ?? s.pendingTokens) === 1;
    const entry: StepLog = {
      step: this.step,
      decodes: chunks.filter((c) => isDecode(c.seq)).map((c) => c.seq),
      prefillTokens: chunks.filter((c) => !isDecode(c.seq)).reduce((n, c) => n + c.count, 0),
      totalTokens: chunks.reduce((n, c) => n + c.count, 0),
    };
    for (const { seq, start, count } of chunks) {
      expect(start).toBe(seq.numComputed);
      expect(seq.pages.length * this.pageSize).toBeGreaterThanOrEqual(start + count);
      seq.numComputed += count;
      if (seq.pendingTokens > 0) continue;
      seq.appendToken(5 + (seq.tokens.length % 40));
      this.tokenSteps.get(seq)!.push(this.step);
      if (!this.firstTokenStep.has(seq)) this.firstTokenStep.set(seq, this.step);
      if (seq.outputLength >= seq.request.params.maxTokens) {
        seq.status = 'finished';
        this.scheduler.remove(seq);
        this.finished.add(seq);
      }
    }
    this.log.push(entry);
    this.step++;
    return entry;
  }

  runUntilIdle(limit: number, arrivals: Map<number, () => void> = new Map()): void {
    while (this.step < limit) {
      arrivals.get(this.step)?.();
      if (
        this.scheduler.running.length === 0 &&
        this.scheduler.waiting.length === 0 &&
        this.step > Math.max(0, ...arrivals.keys())
      )
        return;
      this.run();
    }
    throw new Error(`not idle after ${limit} steps`);
  }
}

/** Every step with decodes carries at most `budget` prefill tokens, and no step exceeds maxBatchTokens. */
function expectBudgetHeld(log: readonly StepLog[], budget: number, maxBatchTokens: number): void {
  for (const s of log) {
    expect(s.totalTokens, `step ${s.step}`).toBeLessThanOrEqual(maxBatchTokens);
    if (s.decodes.length > 0) expect(s.prefillTokens, `step ${s.step}`).toBeLessThanOrEqual(budget);
  }
}

/** A sequence drew a token at every step from its first token until it finished (no decode skipped a step). */
function expectNoDecodeGap(h: Harness, seq: Sequence): void {
  const steps = h.tokenSteps.get(seq)!;
  for (let i = 1; i < steps.length; i++) expect(steps[i]! - steps[i - 1]!, `token ${i}`).toBe(1);
}

describe('scheduler prefill budget', () => {
  it('a long prompt arriving mid-decode is chunked at the budget while the decodes go on every step', () => {
    const h = new Harness({ maxBatchTokens: 512, maxRunningSeqs: 16, prefillChunkTokens: 64 });
    const decoders = Array.from({ length: 4 }, () => h.submit(8, 40));
    let long: Sequence | null = null;
    h.runUntilIdle(200, new Map([[5, () => (long = h.submit(1000, 4))]]));
    expectBudgetHeld(h.log, 64, 512);
    for (const d of decoders) {
      expect(h.finished.has(d)).toBe(true);
      expectNoDecodeGap(h, d);
    }
    // The prompt is prefilled 64 tokens a step while the 4 decodes run (40 tokens each, arriving at step 5).
    const withLong = h.log.filter((s) => s.step >= 5 && s.decodes.length > 0 && s.prefillTokens > 0);
    expect(withLong.length).toBeGreaterThan(8);
    for (const s of withLong.slice(0, -1)) expect(s.prefillTokens).toBe(64);
    expect(h.finished.has(long!)).toBe(true);
    expect(h.tokenSteps.get(long!)).toHaveLength(4);
  });

  it('a step without decodes fills maxBatchTokens with prefill', () => {
    const h = new Harness({ maxBatchTokens: 256, maxRunningSeqs: 16, prefillChunkTokens: 32 });
    const seq = h.submit(1000, 2);
    h.runUntilIdle(50);
    expect(h.log.slice(0, 3).map((s) => s.prefillTokens)).toEqual([256, 256, 256]);
    expect(h.firstTokenStep.get(seq)).toBe(3); // ⌈1000 / 256⌉ steps
    expectBudgetHeld(h.log, 32, 256);
  });

  it('with the budget equal to maxBatchTokens the steps are as before: prefill fills what decodes leave', () => {
    const h = new Harness({ maxBatchTokens: 128, maxRunningSeqs: 16, prefillChunkTokens: 128 });
    h.submit(4, 20);
    h.submit(4, 20);
    h.runUntilIdle(100, new Map([[3, () => h.submit(600, 1)]]));
    const mixed = h.log.filter((s) => s.decodes.length === 2 && s.prefillTokens > 0);
    expect(mixed[0]!.prefillTokens).toBe(126);
  });

  it('long prompts arriving among a stream of short requests all complete, first come first served', () => {
    const seed = 20261127;
    console.log(`scheduler prefill budget: arrival seed ${seed}`);
    const rng = new Rng(seed);
    const h = new Harness({ maxBatchTokens: 512, maxRunningSeqs: 32, prefillChunkTokens: 48 });
    const longs: Sequence[] = [];
    const arrivals = new Map<number, () => void>();
    for (let step = 0; step < 120; step++) {
      const shorts = rng.int(0, 3);
      const isLong = step % 17 === 3;
      arrivals.set(step, () => {
        for (let i = 0; i < shorts; i++) h.submit(rng.int(4, 24), rng.int(8, 30));
        if (isLong) longs.push(h.submit(rng.int(400, 900), 3));
      });
    }
    h.runUntilIdle(2000, arrivals);
    expectBudgetHeld(h.log, 48, 512);
    expect(longs.length).toBeGreaterThan(5);
    for (const l of longs) expect(h.finished.has(l)).toBe(true);
    const firsts = longs.map((l) => h.firstTokenStep.get(l)!);
    expect([...firsts].sort((a, b) => a - b)).toEqual(firsts);
    // every sequence that decoded did so once per step until it finished
    for (const seq of h.tokenSteps.keys()) expectNoDecodeGap(h, seq);
    // a long prompt waits behind at most the earlier ones: ⌈900 / 48⌉ steps each, plus its own
    const worstWait = Math.max(...longs.map((l, i) => h.firstTokenStep.get(l)! - (17 * i + 3)));
    expect(worstWait).toBeLessThanOrEqual(longs.length * Math.ceil(900 / 48) + 5);
  });

  it('preemption under a small page pool still lets every request finish, within the budget', () => {
    // 48 pages of 4 tokens: six decodes growing to 8 + 40 tokens need 72 pages at the end
    const h = new Harness({ maxBatchTokens: 128, maxRunningSeqs: 16, prefillChunkTokens: 16 }, 48, 4);
    const seqs = Array.from({ length: 6 }, () => h.submit(8, 40));
    let long: Sequence | null = null;
    h.runUntilIdle(2000, new Map([[4, () => (long = h.submit(100, 3))]]));
    expect(h.scheduler.preemptions).toBeGreaterThan(0);
    expectBudgetHeld(h.log, 16, 128);
    for (const s of [...seqs, long!]) {
      expect(h.finished.has(s)).toBe(true);
      expect(s.outputLength).toBe(s.request.params.maxTokens);
    }
    expect(h.kv.pool.usedCount).toBe(0);
  });

  it('refuses a zero budget in the engine options', async () => {
    const { runner } = await loadTestModel();
    expect(() => new Engine(runner, tokenizer, { prefillChunkTokens: 0 })).toThrow(/prefillChunkTokens/);
  });
});
