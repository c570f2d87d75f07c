/**
 * The host path of unrecorded steps in steady state (WebGPU, built-in model): rounds of a mixed
 * step (one sequence's prefill chunk beside another's decode token) followed by a recorded decode
 * step of both, repeated with the same shapes, create no GPU buffer, no bind group and no new
 * kernel encoding once warm (buffers come back from the arena's free list with their identities,
 * so bind groups and kept encodings are found again) — and every round's logits equal the first
 * round's, which ran on fresh buffers, fresh bind groups and fresh encodings.
 */
import { describe, expect, it } from 'vitest';
import { openLlamaModel } from '../../src/models/llama/llama-family.js';
import { LlamaRunner } from '../../src/models/llama/llama-runner.js';
import { builtinModelPath } from '../../src/models/load-model.js';
import { gpuBackend, gpuSkipReason } from '../gpu-setup.js';

const gpu = await gpuBackend();
const WARM_ROUNDS = 2;
const ROUNDS = 4;

describe.skipIf(!gpu)(`unrecorded steps in steady state${gpu ? '' : ` (skipped: ${gpuSkipReason()})`}`, () => {
  it('create no buffer, bind group or encoding for repeated mixed steps, with unchanged logits', async () => {
    const m = await openLlamaModel(builtinModelPath());
    const runner = await LlamaRunner.load(m, { backend: gpu!, maxTokens: 32, maxSeqs: 4, numPages: 16 });
    await m.weights.close();
    try {
      const a = { pages: [0, 1] };
      const b = { pages: [2, 3] };
      // b's context, written once: the rounds below rewrite the same KV slots with the same values
      await runner.forward({ seqs: [{ tokens: [40, 41, 42, 43, 44, 45, 46], start: 0, pages: b.pages }] });
      const round = async () => {
        const mixed = await runner.forward({
          seqs: [
            { tokens: [5, 6, 7, 8, 9], start: 0, pages: a.pages },
            { tokens: [47], start: 7, pages: b.pages },
          ],
        });
        const decode = await runner.forward({
          seqs: [
            { tokens: [10], start: 5, pages: a.pages },
            { tokens: [48], start: 8, pages: b.pages },
          ],
        });
        return [mixed, decode] as const;
      };
      const first = await round();
      for (let r = 1; r < WARM_ROUNDS; r++) await round();
      const counts = () => ({
        buffers: gpu!.buffersCreated,
        bindGroups: gpu!.bindGroups.created,
        encodings: gpu!.encodeMemo.misses,
      });
      const before = counts();
      for (let r = 0; r < ROUNDS; r++) {
        const [mixed, decode] = await round();
        expect(mixed).toEqual(first[0]);
        expect(decode).toEqual(first[1]);
      }
      const after = counts();
      console.log(
        `${ROUNDS} warm rounds of a mixed step (${first[0].length / runner.vocabSize} rows) and a decode step: ` +
          `${after.buffers - before.buffers} buffers, ${after.bindGroups - before.bindGroups} bind groups, ` +
          `${after.encodings - before.encodings} new encodings`,
      );
      expect(after.buffers - before.buffers).toBe(0);
      expect(after.bindGroups - before.bindGroups).toBe(0);
      expect(after.encodings - before.encodings).toBe(0);
    } finally {
      runner.destroy();
    }
  });
});
