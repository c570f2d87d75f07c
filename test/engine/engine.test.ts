import { describe, expect, it } from 'vitest';
import { Engine, type EngineOptions } from '../../src/engine/engine.js';
import type { SamplingParams } from '../../src/engine/sampling-params.js';
import type { RequestResult } from '../../src/engine/request.js';
import { loadTestModel } from './test-model.js';
import type { ToyRunnerOptions } from './toy-runner.js';

async function makeEngine(runnerOptions: Partial<ToyRunnerOptions> = {}, engineOptions: EngineOptions = {}) {
  const model = await loadTestModel(runnerOptions);
  return { ...model, engine: new Engine(model.runner, model.tokenizer, { seed: 7, ...engineOptions }) };
}

const prompts = [
  'The quick brown fox',
  'Once upon a time there was',
  'In the beginning',
  'The committee said that the',
  'She walked into the room and',
  'A',
  'Numbers: 1, 2, 3,',
  'The the the the the the the the the the',
];

async function runAll(
  engine: Engine,
  encode: (s: string) => number[],
  texts: string[],
  params: Partial<SamplingParams>,
): Promise<RequestResult[]> {
  const reqs = await Promise.all(texts.map((t) => engine.submit(encode(t), params)));
  return Promise.all(reqs.map((r) => r.result));
}

describe('engine', () => {
  it('streams deltas that add up to the final text, and the text decodes the tokens', async () => {
    const { engine, tokenizer } = await makeEngine();
    const req = await engine.submit(tokenizer.encode('Hello there'), { temperature: 0, maxTokens: 24 });
    let streamed = '';
    let finish = '';
    for await (const ev of req) {
      if (ev.type === 'delta') streamed += ev.text;
      else finish = ev.reason;
    }
    const result = await req.result;
    expect(finish).toBe('length');
    expect(result.choices[0]!.tokens).toHaveLength(24);
    expect(streamed).toBe(result.choices[0]!.text);
    expect(result.choices[0]!.text).toBe(tokenizer.decode(result.choices[0]!.tokens.map((t) => t.id)));
    expect(engine.stats().pagesUsed).toBe(0);
    await engine.shutdown();
  });

  it('batched greedy outputs equal each request run alone, with chunked prefill and prefix caching on or off', async () => {
    const alone: string[] = [];
    for (const p of prompts) {
      const { engine, tokenizer } = await makeEngine({}, { prefixCaching: false });
      const [r] = await runAll(engine, (s) => tokenizer.encode(s), [p], { temperature: 0, maxTokens: 30 });
      alone.push(r!.choices[0]!.text);
      await engine.shutdown();
    }
    for (const options of [
      { maxBatchTokens: 7 },
      { maxBatchTokens: 512, prefixCaching: false },
      { maxBatchTokens: 64 },
    ] as EngineOptions[]) {
      const { engine, tokenizer, runner } = await makeEngine({}, options);
      const results = await runAll(engine, (s) => tokenizer.encode(s), prompts, { temperature: 0, maxTokens: 30 });
      expect(results.map((r) => r.choices[0]!.text)).toEqual(alone);
      expect((runner as unknown as { maxBatchSeqs: number }).maxBatchSeqs).toBeGreaterThan(1);
      await engine.shutdown();
    }
  });

  it('preempts the newest requests under a tiny page budget and still returns the same outputs', async () => {
    const reference = await makeEngine({ numPages: 512 });
    const expected = await runAll(reference.engine, (s) => reference.tokenizer.encode(s), prompts, {
      temperature: 0,
      maxTokens: 40,
    });
    await reference.engine.shutdown();
    // 24 pages of 4 tokens: any one request fits (≤ 52 tokens), all eight at once do not.
    const { engine, tokenizer } = await makeEngine({ numPages: 24 }, { maxBatchTokens: 16 });
    const results = await runAll(engine, (s) => tokenizer.encode(s), prompts, { temperature: 0, maxTokens: 40 });
    expect(results.map((r) => r.choices[0]!.text)).toEqual(expected.map((r) => r.choices[0]!.text));
    expect(engine.stats().preemptions).toBeGreaterThan(0);
    expect(engine.stats().pagesUsed).toBe(0);
    await engine.shutdown();
  });

  it('reuses cached prefix pages across requests without changing outputs', async () => {
    const shared = 'You are a helpful assistant who answers in the style of a 1961 newspaper. ';
    const texts = ['Tell me about cats.', 'Tell me about dogs.', 'What is the weather?', 'Tell me about cats.'].map(
      (q) => shared + q,
    );
    const plain = await makeEngine({}, { prefixCaching: false });
    const expected: string[] = [];
    for (const t of texts)
      expected.push(
        (await runAll(plain.engine, (s) => plain.tokenizer.encode(s), [t], { temperature: 0, maxTokens: 20 }))[0]!
          .choices[0]!.text,
      );
    await plain.engine.shutdown();
    const { engine, tokenizer } = await makeEngine({ numPages: 64 });
    const got: RequestResult[] = [];
    for (const t of texts)
      got.push((await runAll(engine, (s) => tokenizer.encode(s), [t], { temperature: 0, maxTokens: 20 }))[0]!);
    expect(got.map((r) => r.choices[0]!.text)).toEqual(expected);
    expect(got[0]!.cachedTokens).toBe(0);
    expect(got[1]!.cachedTokens).toBeGreaterThanOrEqual(tokenizer.encode(shared).length - 4);
    // The repeated prompt reuses all its full pages but the one holding its last token.
    expect(got[3]!.cachedTokens).toBe(Math.floor((got[3]!.promptTokens - 1) / 4) * 4);
    expect(engine.stats().prefixCacheHitRate).toBeGreaterThan(0.3);
    // With 64 pages and outputs that fill the cache, eviction must have happened and stayed within budget.
    const after = await runAll(engine, (s) => tokenizer.encode(s), prompts, { temperature: 0, maxTokens: 40 });
    expect(after.every((r) => r.choices[0]!.tokens.length === 40)).toBe(true);
    expect(engine.stats().pagesUsed).toBe(0);
    await engine.shutdown();
  });

  it('n > 1 shares the prompt: choice i equals a single request on random stream i, with or without copyPages', async () => {
    const params = { temperature: 0.9, topP: 0.95, maxTokens: 25, seed: 42 };
    for (const copyPages of [true, false]) {
      const { engine, tokenizer, runner } = await makeEngine({ copyPages });
      // Prompt lengths 4k+1 … 4k+4: the last prompt page is partial (copied or recomputed) or full.
      for (const text of ['Three endings:', 'Three endings: a', 'Three endings: ab', 'Three endings: abc']) {
        const prompt = tokenizer.encode(text);
        const many = await (await engine.submit(prompt, { ...params, n: 3 })).result;
        const one = await (await engine.submit(prompt, params)).result;
        expect(many.choices).toHaveLength(3);
        expect(many.choices[0]!.text).toBe(one.choices[0]!.text);
        expect(new Set(many.choices.map((c) => c.text)).size).toBe(3);
        expect(many.completionTokens).toBe(75);
      }
      expect((runner as unknown as { forwards: number }).forwards).toBeGreaterThan(0);
      expect(engine.stats().pagesUsed).toBe(0);
      await engine.shutdown();
    }
  });

  it('n > 1 gives the same completions under a tiny page budget (forks preempted and recomputed) and when each ends at once', async () => {
    const params = { temperature: 1, maxTokens: 30, seed: 8, n: 4 };
    const big = await makeEngine();
    const prompt = big.tokenizer.encode('Four endings, please:');
    const expected = await (await big.engine.submit(prompt, params)).result;
    const ones = await (await big.engine.submit(prompt, { ...params, maxTokens: 1 })).result;
    expect(ones.choices.map((c) => c.tokens[0]!.id)).toEqual(expected.choices.map((c) => c.tokens[0]!.id));
    expect(big.engine.stats().pagesUsed).toBe(0);
    await big.engine.shutdown();
    // 14 pages of 4 tokens: one completion needs ≤ 11, four at once do not fit.
    const tiny = await makeEngine({ numPages: 14 });
    const got = await (await tiny.engine.submit(prompt, params)).result;
    expect(got.choices.map((c) => c.text)).toEqual(expected.choices.map((c) => c.text));
    expect(tiny.engine.stats().preemptions).toBeGreaterThan(0);
    expect(tiny.engine.stats().pagesUsed).toBe(0);
    await tiny.engine.shutdown();
  });

  it('seeded sampling is reproducible whatever else is in the batch', async () => {
    const { engine, tokenizer } = await makeEngine();
    const params = {
      temperature: 1.1,
      topK: 40,
      minP: 0.01,
      maxTokens: 30,
      seed: 99,
      presencePenalty: 0.5,
      frequencyPenalty: 0.3,
      repetitionPenalty: 1.2,
    };
    const alone = await (await engine.submit(tokenizer.encode('Reproducible'), params)).result;
    const crowd = await runAll(engine, (s) => tokenizer.encode(s), ['Reproducible', ...prompts], { ...params });
    expect(crowd[0]!.choices[0]!.text).toBe(alone.choices[0]!.text);
    const other = await (await engine.submit(tokenizer.encode('Reproducible'), { ...params, seed: 100 })).result;
    expect(other.choices[0]!.text).not.toBe(alone.choices[0]!.text);
    await engine.shutdown();
  });

  it('stop strings end generation before the stop text; stop tokens end it after the token', async () => {
    const { engine, tokenizer } = await makeEngine();
    const prompt = tokenizer.encode('Stop me');
    const full = await (await engine.submit(prompt, { temperature: 0, maxTokens: 30 })).result;
    const text = full.choices[0]!.text;
    const stop = text.slice(10, 13);
    const cut = text.indexOf(stop);
    const stopped = await (await engine.submit(prompt, { temperature: 0, maxTokens: 30, stop: [stop, 'zzzz-never'] }))
      .result;
    expect(stopped.choices[0]!.text).toBe(text.slice(0, cut));
    expect(stopped.choices[0]!.finishReason).toBe('stop');
    const fifth = full.choices[0]!.tokens[4]!.id;
    const byToken = await (await engine.submit(prompt, { temperature: 0, maxTokens: 30, stopTokenIds: [fifth] }))
      .result;
    expect(byToken.choices[0]!.tokens.map((t) => t.id)).toEqual(
      full.choices[0]!.tokens.slice(0, full.choices[0]!.tokens.findIndex((t) => t.id === fifth) + 1).map((t) => t.id),
    );
    expect(byToken.choices[0]!.finishReason).toBe('stop');
    await engine.shutdown();
  });

  it('abort at any point frees every page and ends the stream with reason abort', async () => {
    const { engine, tokenizer } = await makeEngine({ stepDelayMs: 1 });
    // Aborted while waiting, mid-prefill, mid-decode.
    const waiting = await engine.submit(tokenizer.encode('never runs'), { maxTokens: 50 });
    waiting.abort();
    expect((await waiting.result).choices[0]!.finishReason).toBe('abort');
    const reqs = await Promise.all(prompts.map((p) => engine.submit(tokenizer.encode(p), { maxTokens: 100, n: 2 })));
    let seen = 0;
    for await (const ev of reqs[0]!) {
      if (ev.type === 'delta' && ++seen === 5) reqs.forEach((r) => r.abort());
    }
    const results = await Promise.all(reqs.map((r) => r.result));
    expect(results.every((r) => r.choices.every((c) => c.finishReason === 'abort'))).toBe(true);
    expect(engine.stats()).toMatchObject({ pagesUsed: 0, runningSequences: 0, waitingSequences: 0 });
    await engine.shutdown();
  });

  it('rejects prompts that can never run with typed errors', async () => {
    const { engine, tokenizer } = await makeEngine({ maxContext: 64, numPages: 8 });
    await expect(engine.submit(tokenizer.encode('x'.repeat(10)), { maxTokens: 60 })).rejects.toMatchObject({
      code: 'context_length_exceeded',
    });
    await expect(engine.submit(tokenizer.encode('hello'), { maxTokens: 40 })).rejects.toMatchObject({
      code: 'kv_capacity_exceeded',
    });
    await expect(engine.submit([], {})).rejects.toMatchObject({ code: 'invalid_request' });
    await expect(engine.submit([100000], {})).rejects.toMatchObject({ code: 'invalid_request' });
    await expect(engine.submit([5], { topP: 0 })).rejects.toMatchObject({ code: 'invalid_request' });
    await engine.shutdown();
  });
});
