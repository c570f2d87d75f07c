/**
 * The RAG bench's generation comparison (bench/telerag-generation.ts) on the built-in model on the
 * CPU backend: two greedy runs of one prompt record the same ids (no divergence); a run whose
 * token was replaced by the context's runner-up diverges there with the top-two logit gap as its
 * margin (the gap read from a separate top-logprobs request); a token outside the top 20, or a run
 * that ends early, has no finite margin, so the bench's near-tie bound can never accept it.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { firstDivergence, recordingGenerator } from '../../bench/telerag-generation.js';
import { CpuBackend } from '../../src/backends/cpu/cpu-backend.js';
import { Engine } from '../../src/engine/engine.js';
import { engineTokenizer } from '../../src/models/engine-tokenizer.js';
import { openLlamaModel } from '../../src/models/llama/llama-family.js';
import { LlamaRunner } from '../../src/models/llama/llama-runner.js';
import { builtinModelPath } from '../../src/models/load-model.js';

const model = await openLlamaModel(builtinModelPath());
const runner = await LlamaRunner.load(model, {
  backend: new CpuBackend(),
  actDtype: 'f32',
  maxTokens: 128,
  maxSeqs: 2,
  numPages: 32,
});
await model.weights.close();
const tokenizer = engineTokenizer(model.tokenizer!);
const engine = new Engine(runner, tokenizer, { seed: 1, prefixCaching: false });
afterAll(async () => {
  await engine.shutdown();
  runner.destroy();
});

describe('RAG bench: greedy runs compared token by token', () => {
  it('finds no divergence between two runs, and measures the margin where one is made', async () => {
    const a = recordingGenerator(engine, tokenizer);
    const b = recordingGenerator(engine, tokenizer);
    const prompt =
      'Write a short passage that answers the question.\nQuestion: who built the first iron ship\nPassage:';
    await a.generate(prompt, { maxTokens: 6 });
    await b.generate(prompt, { maxTokens: 6 });
    expect(a.calls[0]!.ids).toHaveLength(6);
    expect(await firstDivergence(engine, a.calls, b.calls)).toBeNull();

    const step = 2;
    const context = [...a.calls[0]!.prompt, ...a.calls[0]!.ids.slice(0, step)];
    const req = await engine.submit(context, { maxTokens: 1, temperature: 0, logprobs: true, topLogprobs: 20 });
    const top = (await req.result).choices[0]!.tokens[0]!.topLogprobs!;
    expect(top[0]!.token).toBe(a.calls[0]!.ids[step]);
    const swapped = { ...b.calls[0]!, ids: [...b.calls[0]!.ids] };
    swapped.ids[step] = top[1]!.token;
    const split = await firstDivergence(engine, a.calls, [swapped]);
    console.log(`[near-tie] step ${step}: top ${top[0]!.token} vs runner-up ${top[1]!.token}, margin ${split?.margin}`);
    expect(split).toMatchObject({ call: 0, step, a: top[0]!.token, b: top[1]!.token });
    expect(split!.margin).toBeCloseTo(top[0]!.logprob - top[1]!.logprob, 10);

    const outside = Array.from({ length: runner.vocabSize }, (_, i) => i).find((t) => !top.some((x) => x.token === t))!;
    swapped.ids[step] = outside;
    expect((await firstDivergence(engine, a.calls, [swapped]))!.margin).toBe(Number.POSITIVE_INFINITY);
    const short = { ...b.calls[0]!, ids: b.calls[0]!.ids.slice(0, step) };
    expect(await firstDivergence(engine, a.calls, [short])).toMatchObject({ step, margin: Number.POSITIVE_INFINITY });
  });
});
