/**
 * Recorded mixed steps (a prefill chunk beside decodes) of every row bucket share one storage
 * (prefill-buckets.ts `sharedUpTo`): after the largest bucket is recorded, the buckets 8, 16 and 32
 * add less device memory than it holds (here 111 KB against 625 KB; with a storage apiece they added
 * 950 KB against 892 KB); each bucket's step,
 * replayed after the others overwrote the shared storage, gives the logits of the same step run
 * unrecorded in exactly its rows.
 */
import { describe, expect, it } from 'vitest';
import type { ForwardBatch } from '../../src/engine/model-runner.js';
import { openLlamaModel } from '../../src/models/llama/llama-family.js';
import { LlamaRunner } from '../../src/models/llama/llama-runner.js';
import { builtinModelPath } from '../../src/models/load-model.js';
import { gpuBackend, gpuSkipReason } from '../gpu-setup.js';
import { expectLogitsClose } from './logits-close.js';

const gpu = await gpuBackend();

/** A chunk of `n − 1` prompt tokens (its own pages) beside one decode: `n` rows over 2 sequences. */
const mixed = (n: number): ForwardBatch => ({
  seqs: [
    { tokens: Array.from({ length: n - 1 }, (_, i) => 20 + ((i * 13) % 400)), start: 0, pages: [8, 9, 10, 11] },
    { tokens: [42], start: 3, pages: [0] },
  ],
});

describe.skipIf(!gpu)(`mixed steps in shared storage${gpu ? '' : ` (skipped: ${gpuSkipReason()})`}`, () => {
  it('holds about the largest bucket for buckets 8…64, each replaying the unrecorded logits', async () => {
    const g = gpu!;
    const m = await openLlamaModel(builtinModelPath());
    const runner = await LlamaRunner.load(m, { backend: g, actDtype: 'f32', maxTokens: 64, maxSeqs: 4, numPages: 32 });
    await m.weights.close();
    // 60, 7, 12, 30 rows: the buckets 64, 8, 16, 32
    const sizes = [60, 7, 12, 30];
    const want = new Map<number, Float32Array>();
    for (const n of sizes) want.set(n, Float32Array.from(await runner.forward(mixed(n), { record: false })));
    await g.flush();
    const before = g.memory().totalBytes;
    expectLogitsClose(Float32Array.from(await runner.forward(mixed(60))), want.get(60)!, 'bucket 64, recorded');
    await g.flush();
    const first = g.memory().totalBytes - before;
    for (const n of sizes.slice(1))
      expectLogitsClose(Float32Array.from(await runner.forward(mixed(n))), want.get(n)!, `${n} rows, recorded`);
    await g.flush();
    const rest = g.memory().totalBytes - before - first;
    expect(runner.stats.mixedRecords).toBe(4);
    for (const n of [...sizes].reverse())
      expectLogitsClose(Float32Array.from(await runner.forward(mixed(n))), want.get(n)!, `${n} rows, replayed`);
    expect(runner.stats.mixedReplays).toBe(4);
    console.log(`device bytes: bucket 64 recorded first ${first}; buckets 8, 16, 32 after it ${rest}`);
    expect(rest).toBeLessThan(first);
    runner.destroy();
  });
});
