/**
 * Recorded decode steps of every batch size share one storage (decode-buckets.ts): the streams of
 * batch sizes 1…7 add less than the batch of 8 holds alone (with one storage per batch size they
 * held 8.2 times as much: 812 KB against 99 KB on this model); and each size, recorded in any order and replayed after the others,
 * gives the logits of the same step run unrecorded (its own storage).
 */
import { describe, expect, it } from 'vitest';
import type { ForwardBatch } from '../../src/engine/model-runner.js';
import { openLlamaModel } from '../../src/models/llama/llama-family.js';
import { LlamaRunner } from '../../src/models/llama/llama-runner.js';
import { builtinModelPath } from '../../src/models/load-model.js';
import { gpuBackend, gpuSkipReason } from '../gpu-setup.js';
import { expectLogitsClose } from './logits-close.js';

const gpu = await gpuBackend();
const MAX_SEQS = 8;

/** A decode step of `b` sequences: sequence i decodes one token at position 5 + i in its own two pages. */
const decode = (b: number): ForwardBatch => ({
  seqs: Array.from({ length: b }, (_, i) => ({ tokens: [10 + 7 * i], start: 5 + i, pages: [2 * i, 2 * i + 1] })),
});

describe.skipIf(!gpu)(`decode steps in shared storage${gpu ? '' : ` (skipped: ${gpuSkipReason()})`}`, () => {
  it('holds about one batch of 8 for the streams of batches 1…8, each replaying its own logits', async () => {
    const g = gpu!;
    const m = await openLlamaModel(builtinModelPath());
    const runner = await LlamaRunner.load(m, {
      backend: g,
      actDtype: 'f32',
      maxTokens: 64,
      maxSeqs: MAX_SEQS,
      numPages: 32,
      // a stream per batch size, so eight recordings share the storage
      decodeBatchBuckets: 'exact',
    });
    await m.weights.close();
    const unrecorded = new Map<number, Float32Array>();
    for (let b = 1; b <= MAX_SEQS; b++)
      unrecorded.set(b, Float32Array.from(await runner.forward(decode(b), { record: false })));
    await g.flush();
    const before = g.memory().totalBytes;
    const largest = Float32Array.from(await runner.forward(decode(MAX_SEQS)));
    await g.flush();
    const first = g.memory().totalBytes - before;
    expectLogitsClose(largest, unrecorded.get(MAX_SEQS)!, `batch ${MAX_SEQS}, recorded`);
    for (const b of [3, 1, 6, 2, 7, 4, 5]) {
      expectLogitsClose(Float32Array.from(await runner.forward(decode(b))), unrecorded.get(b)!, `batch ${b}, recorded`);
    }
    await g.flush();
    const rest = g.memory().totalBytes - before - first;
    expect(runner.stats.decodeRecords).toBe(MAX_SEQS);
    // every stream replays after the others have overwritten the shared storage
    for (let b = MAX_SEQS; b >= 1; b--)
      expectLogitsClose(Float32Array.from(await runner.forward(decode(b))), unrecorded.get(b)!, `batch ${b}, replayed`);
    expect(runner.stats.replays).toBe(MAX_SEQS);
    console.log(`device bytes: batch ${MAX_SEQS} recorded first ${first}; batches 1…7 after it ${rest}`);
    // one storage per batch size held more for batches 1…7 than for the batch of 8 (8.2 times as much here)
    expect(rest).toBeLessThan(first);
    runner.destroy();
  });
});
