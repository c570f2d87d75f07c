/**
 * Buffer lifetimes of the Llama runner on WebGPU: a recorded decode stream keeps every buffer it
 * binds alive, whatever steps of other shapes run in between. The defect this guards: a prefill
 * step of n tokens freed the attention scratch that the recorded decode stream of batch n bound,
 * and the next decode of that batch failed with "used in submit while destroyed".
 */
import { describe, expect, it } from 'vitest';
import { openLlamaModel } from '../../src/models/llama/llama-family.js';
import { LlamaRunner } from '../../src/models/llama/llama-runner.js';
import { builtinModelPath } from '../../src/models/load-model.js';
import { gpuBackend, gpuSkipReason } from '../gpu-setup.js';

const gpu = await gpuBackend();

describe.skipIf(!gpu)(`LlamaRunner buffer lifetimes${gpu ? '' : ` (skipped: ${gpuSkipReason()})`}`, () => {
  it('replays a decode stream after a prefill step of the same token count', async () => {
    const m = await openLlamaModel(builtinModelPath());
    const runner = await LlamaRunner.load(m, { backend: gpu!, maxTokens: 32, maxSeqs: 4, numPages: 16 });
    await m.weights.close();
    try {
      const seqs = [0, 1, 2].map((s) => ({ pages: [s * 4, s * 4 + 1, s * 4 + 2, s * 4 + 3] }));
      for (const s of seqs) await runner.forward({ seqs: [{ tokens: [5, 6, 7, 8], start: 0, pages: s.pages }] });
      const decode = (pos: number) =>
        runner.forward({ seqs: seqs.map((s) => ({ tokens: [9], start: pos, pages: s.pages })) });
      const before = await decode(4); // records the batch-3 stream
      // a prefill of exactly 3 tokens: the same token count as the recorded decode batch
      await runner.forward({ seqs: [{ tokens: [10, 11, 12], start: 0, pages: [12, 13, 14, 15] }] });
      const after = await decode(5);
      await gpu!.flush();
      expect(runner.stats.replays).toBeGreaterThanOrEqual(1);
      expect(after.length).toBe(before.length);
      expect(after.every(Number.isFinite)).toBe(true);
    } finally {
      runner.destroy();
    }
  });
});
