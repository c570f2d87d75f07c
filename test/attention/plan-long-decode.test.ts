/**
 * The decode plan of the Llama-3-8B shape (GQA 32/8, d128, pages of 16) at long contexts and small
 * batches, as the runner's decode `BatchAttention` makes it: the few (sequence, KV head) units are
 * split along their keys (flash-decoding) into about `targetItems` items, so b1–b4 at 16K–128K
 * put work on every SM of an H100 (132) instead of 8–32 workgroups; every item fits the fixed grid
 * and capacity, so the recorded decode step replays any such plan; and each split unit's chunks
 * cover its keys exactly once, which the merge by lse combines.
 */
import { describe, expect, it } from 'vitest';
import { BatchAttention } from '../../src/attention/batch-attention.js';
import { CpuBackend } from '../../src/backends/cpu/cpu-backend.js';

const P = 16;
const KV_HEADS = 8;
const H100_SMS = 132;

describe('decode plan at long contexts (8B shape)', () => {
  const backend = new CpuBackend();
  const maxPages = (4 * 131072) / P + 4;
  const attn = new BatchAttention(backend, {
    numQoHeads: 32,
    numKvHeads: KV_HEADS,
    headDim: 128,
    pageSize: P,
    layout: 'HND',
    numPages: maxPages,
    maxBatch: 16,
    maxTokens: 16,
    maxPages,
    dtype: 'f32',
    variant: { causal: true },
    decode: true,
  });

  for (const b of [1, 4])
    for (const ctx of [16384, 32768, 131072])
      it(`b${b} ctx ${ctx / 1024}K: split over the whole device, within the recorded grid`, () => {
        const pagesPerSeq = Math.ceil(ctx / P);
        const indptr = Int32Array.from({ length: b + 1 }, (_, i) => i * pagesPerSeq);
        const indices = Int32Array.from({ length: b * pagesPerSeq }, (_, i) => i);
        const lastPageLen = new Int32Array(b).fill(ctx - (pagesPerSeq - 1) * P);
        const plan = attn.plan({ qoLens: Array(b).fill(1), indptr, indices, lastPageLen });
        expect(plan.items.length).toBeGreaterThanOrEqual(H100_SMS);
        expect(plan.items.length).toBeLessThanOrEqual(Math.min(plan.grid, plan.maxItems));
        expect(plan.merges).toBe(b * KV_HEADS);
        // one item per workgroup at most: no workgroup streams more than its share
        expect(Math.max(...plan.ctaLoads) / Math.max(1, Math.min(...plan.ctaLoads.filter((x) => x > 0)))).toBeLessThan(
          1.1,
        );
        for (let s = 0; s < b; s++)
          for (let h = 0; h < KV_HEADS; h++) {
            const chunks = plan.items
              .filter((it) => it.b === s && it.kvHead === h)
              .sort((x, y) => x.kvStart - y.kvStart);
            expect(chunks[0]!.kvStart).toBe(0);
            expect(chunks.at(-1)!.kvEnd).toBe(ctx);
            for (let i = 1; i < chunks.length; i++) expect(chunks[i]!.kvStart).toBe(chunks[i - 1]!.kvEnd);
          }
        console.log(
          `b${b} ctx ${ctx / 1024}K: ${plan.items.length} items of ≤ ${plan.kvChunk} keys, ${plan.merges} split units`,
        );
      });
});
