/**
 * Plain sampled requests draw their tokens on the device (`sample` op) from logits that never
 * leave it; a seeded request gets the same tokens alone and beside a request that needs host
 * sampling (a repetition penalty), so the path choice never leaks into the output.
 */
import { describe, expect, it } from 'vitest';
import { LlamaRunner } from '../../src/models/llama/llama-runner.js';
import { loadModel } from '../../src/models/load-model.js';
import { gpuBackend, gpuSkipReason } from '../gpu-setup.js';

const gpu = await gpuBackend();

/** The built-in model is a Llama-family one; its runner counts device draws. */
const llamaStats = (runner: unknown) => {
  if (!(runner instanceof LlamaRunner)) throw new Error('expected the built-in model to load as a LlamaRunner');
  return runner.stats;
};

describe.skipIf(!gpu)(`sampling on the device${gpu ? '' : ` (skipped: ${gpuSkipReason()})`}`, () => {
  it('is used for plain requests and does not depend on batch-mates', async () => {
    const model = await loadModel(undefined, { backend: gpu!, maxTokens: 64, maxSeqs: 4, numPages: 32 });
    const prompt = model.tokenizer.encode('The jury said');
    const params = { maxTokens: 12, temperature: 0.9, topP: 0.95, topK: 50, seed: 1234, ignoreEos: true };
    const alone = (await (await model.engine.submit(prompt, params)).result).choices[0]!.tokens.map((t) => t.id);
    expect(llamaStats(model.runner).deviceSamples).toBeGreaterThanOrEqual(12);
    const before = llamaStats(model.runner).deviceSamples;
    const [a, b] = await Promise.all([
      model.engine.submit(prompt, params),
      model.engine.submit(model.tokenizer.encode('In the morning'), {
        maxTokens: 12,
        temperature: 0.7,
        repetitionPenalty: 1.3,
        seed: 9,
        ignoreEos: true,
      }),
    ]);
    const together = (await a.result).choices[0]!.tokens.map((t) => t.id);
    await b.result;
    expect(together).toEqual(alone);
    // only the plain request was drawn on the device
    expect(llamaStats(model.runner).deviceSamples - before).toBe(12);
    const again = (await (await model.engine.submit(prompt, { ...params, seed: 1235 })).result).choices[0]!.tokens.map(
      (t) => t.id,
    );
    expect(again).not.toEqual(alone);
    await model.close();
  });
});
