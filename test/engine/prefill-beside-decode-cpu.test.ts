/**
 * The engine over the built-in model on the CPU backend: a long prompt arriving while another
 * request decodes is prefilled in chunks of at most `prefillChunkTokens`, and the decoding request
 * draws a token in every one of those steps (its inter-token gap is one step, counted in forwards,
 * not wall time), with the float64 oracle's greedy tokens.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CpuBackend } from '../../src/backends/cpu/cpu-backend.js';
import { Engine } from '../../src/engine/engine.js';
import type { ForwardBatch, ForwardOptions } from '../../src/engine/model-runner.js';
import { engineTokenizer } from '../../src/models/engine-tokenizer.js';
import { openLlamaModel } from '../../src/models/llama/llama-family.js';
import { LlamaRunner } from '../../src/models/llama/llama-runner.js';
import { builtinModelPath } from '../../src/models/load-model.js';
import { Rng } from '../../src/util/rng.js';

const reference = JSON.parse(readFileSync(`${builtinModelPath()}/reference.json`, 'utf8')) as {
  references: { ids: number[]; greedyFloat64: number[] }[];
};

const BUDGET = 32;
const LONG_PROMPT = 300;
const DECODE_TOKENS = 24;

describe('engine on the CPU backend: prefill beside decode', () => {
  it('decodes a token every step while a long prompt is prefilled in budget-sized chunks', async () => {
    const model = await openLlamaModel(builtinModelPath());
    const runner = await LlamaRunner.load(model, {
      backend: new CpuBackend(),
      actDtype: 'f32',
      maxTokens: 128,
      maxSeqs: 4,
      numPages: 64,
    });
    const tokenizer = engineTokenizer(model.tokenizer!);
    await model.weights.close();
    // Each forward's batch, as (first page, start, token count): the first page names the sequence.
    const steps: { page: number; start: number; count: number }[][] = [];
    const forward = runner.forward.bind(runner);
    runner.forward = (batch: ForwardBatch, options?: ForwardOptions) => {
      steps.push(batch.seqs.map((s) => ({ page: s.pages[0]!, start: s.start, count: s.tokens.length })));
      return forward(batch, options);
    };
    const engine = new Engine(runner, tokenizer, { seed: 1, maxBatchTokens: 128, prefillChunkTokens: BUDGET });
    const seed = 4242;
    console.log(`prefill beside decode: long prompt seed ${seed}`);
    const rng = new Rng(seed);
    const longPrompt = Array.from({ length: LONG_PROMPT }, () => rng.int(3, runner.vocabSize - 1));
    const ref = reference.references[0]!;

    const a = await engine.submit(ref.ids, { temperature: 0, maxTokens: DECODE_TOKENS, ignoreEos: true });
    let b: Awaited<ReturnType<Engine['submit']>> | null = null;
    let deltas = 0;
    for await (const ev of a) {
      if (ev.type === 'delta' && ++deltas === 3)
        b = await engine.submit(longPrompt, { temperature: 0, maxTokens: 2, ignoreEos: true });
    }
    const resultA = await a.result;
    const resultB = await b!.result;
    expect(engine.failed).toBeNull();
    expect(resultA.choices[0]!.tokens.map((t) => t.id)).toEqual(ref.greedyFloat64.slice(0, DECODE_TOKENS));
    expect(resultB.choices[0]!.tokens).toHaveLength(2);

    const pageA = steps[0]![0]!.page;
    const rowA = (s: (typeof steps)[number]) => s.find((r) => r.page === pageA);
    const rowB = (s: (typeof steps)[number]) => s.find((r) => r.page !== pageA);
    // A is in every forward from its prompt to its last token: it never waits a step for B.
    const withA = steps.map((s, i) => (rowA(s) ? i : -1)).filter((i) => i >= 0);
    expect(withA).toEqual(Array.from({ length: withA.length }, (_, i) => i));
    expect(withA).toHaveLength(DECODE_TOKENS);
    // B's prompt is prefilled beside A's decodes, in chunks of BUDGET tokens (the last one shorter).
    const chunksB = steps.filter((s) => rowB(s) && rowB(s)!.start < LONG_PROMPT);
    expect(chunksB.map((s) => rowB(s)!.count)).toEqual([
      ...Array.from({ length: Math.floor(LONG_PROMPT / BUDGET) }, () => BUDGET),
      LONG_PROMPT % BUDGET,
    ]);
    for (const s of chunksB) expect(rowA(s)).toBeDefined();
    await engine.shutdown();
    runner.destroy();
  }, 120_000);
});
