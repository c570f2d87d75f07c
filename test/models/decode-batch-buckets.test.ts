/**
 * Decode steps in batch buckets (step-padding.ts `defaultDecodeBatchBuckets`): a decode of b
 * sequences replays the stream of the smallest bucket that holds it, its pad rows idle. Every b
 * from 1 to 8 gives the logits of the same step run unrecorded in exactly its rows, the K/V it
 * leaves behind is the same (a later step over the same pages agrees too), only the buckets
 * 1, 2, 4, 8 are recorded, and a resident decode loop of 3 sequences (bucket 4) draws the greedy
 * tokens of the unrecorded host loop.
 */
import { describe, expect, it } from 'vitest';
import type { ForwardBatch } from '../../src/engine/model-runner.js';
import { openLlamaModel } from '../../src/models/llama/llama-family.js';
import { LlamaRunner } from '../../src/models/llama/llama-runner.js';
import { builtinModelPath } from '../../src/models/load-model.js';
import { gpuBackend, gpuSkipReason } from '../gpu-setup.js';
import { expectLogitsClose } from './logits-close.js';

const gpu = await gpuBackend();

const decode = (b: number, start: number): ForwardBatch => ({
  seqs: Array.from({ length: b }, (_, i) => ({ tokens: [10 + 7 * i], start: start + i, pages: [2 * i, 2 * i + 1] })),
});

async function load(): Promise<LlamaRunner> {
  const m = await openLlamaModel(builtinModelPath());
  const r = await LlamaRunner.load(m, { backend: gpu!, actDtype: 'f32', maxTokens: 64, maxSeqs: 8, numPages: 32 });
  await m.weights.close();
  return r;
}

describe.skipIf(!gpu)(`decode batch buckets${gpu ? '' : ` (skipped: ${gpuSkipReason()})`}`, () => {
  it('serves every batch of 1…8 from the buckets 1, 2, 4, 8 with the unrecorded logits', async () => {
    const runner = await load();
    expect(runner.decodeBatchBuckets).toEqual([1, 2, 4, 8]);
    for (let b = 1; b <= 8; b++) {
      // the same step twice over the same pages: unrecorded in b rows, then recorded in its bucket
      const want = Float32Array.from(await runner.forward(decode(b, 5), { record: false }));
      const got = Float32Array.from(await runner.forward(decode(b, 5)));
      expectLogitsClose(got, want, `batch ${b}, bucket ${runner.lastStepRows}`);
      expect(runner.lastStepRows).toBe([1, 2, 4, 4, 8, 8, 8, 8][b - 1]);
      // the next position reads the K/V the padded step appended: it must be the sequences' own
      const nextWant = Float32Array.from(await runner.forward(decode(b, 6), { record: false }));
      const next = Float32Array.from(await runner.forward(decode(b, 6)));
      expectLogitsClose(next, nextWant, `batch ${b}, the step after`);
    }
    expect(runner.stats.decodeRecords).toBe(4);
    expect(runner.decodeStream(3)).toBe(runner.decodeStream(4));
    expect(runner.decodeStream(5)).toBe(runner.decodeStream(8));
    runner.destroy();
  });

  it('runs a resident loop of 3 sequences in the bucket of 4, drawing the unrecorded greedy tokens', async () => {
    const runner = await load();
    const prompts = [
      [5, 6, 7, 8, 9],
      [40, 41],
      [300, 301, 302],
    ];
    const pages = (i: number) => [4 * i, 4 * i + 1];
    const greedy = (logits: Float32Array, row: number, vocab: number) => {
      let best = 0;
      for (let v = 1; v < vocab; v++) if (logits[row * vocab + v]! > logits[row * vocab + best]!) best = v;
      return best;
    };
    const first: number[] = [];
    for (const [i, p] of prompts.entries()) {
      const l = await runner.forward({ seqs: [{ tokens: p, start: 0, pages: pages(i) }] }, { record: false });
      first.push(greedy(l, 0, runner.vocabSize));
    }
    // host loop, every step unrecorded in exactly 3 rows
    const host = prompts.map((_, i) => [first[i]!]);
    for (let k = 0; k < 6; k++) {
      const l = await runner.forward(
        {
          seqs: prompts.map((p, i) => ({ tokens: [host[i]!.at(-1)!], start: p.length + k, pages: pages(i) })),
        },
        { record: false },
      );
      host.forEach((h, i) => h.push(greedy(l, i, runner.vocabSize)));
    }
    // resident loop over the same pages (each step rewrites the K/V the host loop wrote, with the same tokens)
    const row = (i: number, step: number) => ({
      row: i,
      temperature: 0,
      topK: 0,
      topP: 1,
      minP: 0,
      seed: 1,
      stream: 0,
      step,
    });
    const pending: Promise<Int32Array>[] = [];
    for (let k = 0; k < 6; k++)
      pending.push(
        runner.submitDecode!(
          prompts.map((p, i) => ({ start: p.length + k, pages: pages(i) })),
          k === 0 ? Int32Array.from(first) : null,
          prompts.map((_, i) => row(i, k + 1)),
        ),
      );
    const resident = prompts.map((_, i) => [first[i]!]);
    for (const ids of await Promise.all(pending)) ids.forEach((t, i) => resident[i]!.push(t));
    console.log(`host ${JSON.stringify(host)}\nresident ${JSON.stringify(resident)}`);
    expect(resident).toEqual(host);
    // one recording, the bucket of 4: a batch of 3 has no stream of its own
    expect([runner.stats.residentSteps, runner.stats.decodeRecords]).toEqual([6, 1]);
    expect(runner.decodeStream(3)).toBe(runner.decodeStream(4));
    runner.destroy();
  });
});
