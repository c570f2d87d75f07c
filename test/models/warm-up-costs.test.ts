/**
 * The warm-up's step costs (src/models/llama/warm-up.ts): every shape runs once to compile and
 * record and once more timed to the device's completion, decode-only shapes (one per batch bucket)
 * filed by every batch size they serve and shapes carrying a prompt chunk by rows. The target here is a stand-in whose device "finishes" a
 * step 1 ms a row after it was submitted, so the times must grow with the rows and the first run of
 * a shape (which costs an extra 40 ms, like a compile) must not be the one kept.
 */
import { describe, expect, it } from 'vitest';
import type { ForwardBatch } from '../../src/engine/model-runner.js';
import { type WarmUpTarget, warmUpSteps } from '../../src/models/llama/warm-up.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function target(): WarmUpTarget & { runs: Map<string, number>; settle(): Promise<void> } {
  const runs = new Map<string, number>();
  let pending = 0;
  return {
    maxTokens: 64,
    maxSeqs: 4,
    pageSize: 16,
    numPages: 64,
    mixedRowBuckets: [16, 32, 64],
    decodeBatchBuckets: [1, 2, 4],
    runs,
    async forward(batch: ForwardBatch) {
      const key = batch.seqs.map((s) => s.tokens.length).join(',');
      const first = !runs.has(key);
      runs.set(key, (runs.get(key) ?? 0) + 1);
      pending = batch.seqs.reduce((a, s) => a + s.tokens.length, 0) + (first ? 40 : 0);
      return new Float32Array(0);
    },
    async settle() {
      await sleep(pending);
      pending = 0;
    },
  };
}

describe('warm-up step costs', () => {
  it('times a second run of every shape, decode by batch size and prompt chunks by rows', async () => {
    const t = target();
    const report = await warmUpSteps(t, () => t.settle());
    const costs = report.costs!;
    const show = (m: ReadonlyMap<number, number>) => [...m].map(([r, ms]) => `${r}:${ms.toFixed(0)}`).join(' ');
    console.log(`[warm-up costs] decode ${show(costs.decode)}; mixed ${show(costs.mixed)}`);
    for (const n of t.runs.values()) expect(n).toBe(2);
    // decode runs at its batch buckets only; a batch of 3 is served (and timed) by the bucket of 4
    expect(t.runs.has('1,1,1')).toBe(false);
    expect(t.runs.get('1,1,1,1')).toBe(2);
    expect([...costs.decode.keys()]).toEqual([1, 2, 3, 4]);
    expect(costs.decode.get(3)).toBe(costs.decode.get(4));
    // prefill buckets 16, 32 and the largest (64), then the mixed shapes of 16, 32, 64 rows
    expect([...costs.mixed.keys()].sort((a, b) => a - b)).toEqual([16, 32, 64]);
    // the kept time is the second run's: about the rows, not rows + 40
    expect(costs.mixed.get(16)!).toBeLessThan(16 + 35);
    expect(costs.mixed.get(64)!).toBeGreaterThan(costs.mixed.get(16)!);
    expect(costs.mixed.get(64)!).toBeGreaterThanOrEqual(60);
    expect(report.steps).toBe(t.runs.size);
    expect(report.recordedBytes, 'a target without a backend has no memory to report').toBeUndefined();
  });
});
