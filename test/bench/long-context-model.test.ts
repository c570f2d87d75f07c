/**
 * The long-context benches open a checkpoint whose config bounds positions below their contexts
 * (the H100 run of magicpig-decode stopped at position 16385 of an 8192-position checkpoint): the
 * runner loaded through openLlamaForContext decodes past the stated bound, one loaded plainly
 * refuses the same step.
 */
import { describe, expect, it } from 'vitest';
import { openLlamaForContext } from '../../bench/long-context-model.js';
import { openLlamaModel } from '../../src/models/llama/llama-family.js';
import { LlamaRunner } from '../../src/models/llama/llama-runner.js';
import { gpuBackend, gpuSkipReason } from '../gpu-setup.js';

const gpu = await gpuBackend();
const DIR = 'models/builtin';

describe.skipIf(!gpu)(`openLlamaForContext${gpu ? '' : ` (skipped: ${gpuSkipReason()})`}`, () => {
  it('lifts the bound only where the contexts need it', async () => {
    const { model, lifted } = await openLlamaForContext(DIR, 64);
    expect(lifted).toBeNull();
    await model.weights.close();
  });

  it('decodes past the checkpoint stated bound, where the plain load refuses', async () => {
    const probe = await openLlamaModel(DIR);
    const stated = probe.config.maxPositionEmbeddings;
    await probe.weights.close();
    const positions = stated + 64;
    const pageSize = 16;
    const pages = Array.from({ length: positions / pageSize }, (_, i) => i);
    // one decode step at position `stated + 1`: the earlier positions' KV need not be filled for the bound check
    const step = { seqs: [{ tokens: [7], start: stated, pages }] };
    const load = async (m: Awaited<ReturnType<typeof openLlamaModel>>) => {
      const r = await LlamaRunner.load(m, { backend: gpu!, maxSeqs: 1, numPages: pages.length, pageSize });
      await m.weights.close();
      return r;
    };
    const plain = await load(await openLlamaModel(DIR));
    await expect(plain.forward(step)).rejects.toThrow(/over the model's context of/);
    const { model, lifted } = await openLlamaForContext(DIR, positions);
    expect(lifted).toBe(stated);
    const long = await load(model);
    const out = await long.forward(step);
    expect(out).toBeDefined();
  }, 120_000);
});
