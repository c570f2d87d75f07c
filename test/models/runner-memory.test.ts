/**
 * A long-running server must not grow GPU memory with the shapes it sees: prefill and mixed steps
 * of ever-new token counts free their storage, inputs and logits; decode shapes are kept (recorded),
 * and so are single-sequence prefill buckets, at most `prefillBuckets` of them (3 by default).
 */
import { describe, expect, it } from 'vitest';
import { openLlamaModel } from '../../src/models/llama/llama-family.js';
import { LlamaRunner } from '../../src/models/llama/llama-runner.js';
import { builtinModelPath } from '../../src/models/load-model.js';
import { gpuBackend, gpuSkipReason } from '../gpu-setup.js';

const gpu = await gpuBackend();

describe.skipIf(!gpu)(`LlamaRunner memory${gpu ? '' : ` (skipped: ${gpuSkipReason()})`}`, () => {
  it('does not grow over steps of new shapes', async () => {
    const m = await openLlamaModel(builtinModelPath());
    const runner = await LlamaRunner.load(m, { backend: gpu!, maxTokens: 64, maxSeqs: 4, numPages: 16 });
    await m.weights.close();
    const pages = [0, 1, 2, 3];
    const step = async (n: number) => {
      await runner.forward({ seqs: [{ tokens: Array.from({ length: n }, (_, i) => 5 + i), start: 0, pages }] });
      await runner.forward({ seqs: [{ tokens: [7], start: n, pages }] }); // a decode step (recorded once)
    };
    // one prompt per prefill bucket of this runner (16, 32 and 64 rows): all three stay recorded
    for (const n of [9, 17, 40]) await step(n);
    await gpu!.flush();
    const settled = gpu!.memory().totalBytes;
    for (const n of [3, 17, 30, 11, 25, 9, 63, 33]) await step(n);
    await gpu!.flush();
    expect(gpu!.memory().totalBytes).toBeLessThanOrEqual(settled);
    runner.destroy();
  });
});
