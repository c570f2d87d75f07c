/**
 * What a decode step's LoRA terms read, counted from the WebGPU kernel's own plan
 * (src/lora/lora-delta-plan.ts, through bench/lora-plan.ts) at the Llama-3-8B shape with f16 stacks of 64 slots: a step reads
 * the A and B of the adapters its rows name and no other slot, each only up to its own rank
 * (mixed ranks in rmax-64 stacks), so the bytes that must come from memory are the distinct
 * adapters' rank-sized blocks, and at 64 rows the rows of one adapter share their workgroups' loads.
 * The table printed is the one bench/lora.ts's notes quote.
 */
import { describe, expect, it } from 'vitest';
import { loraStepPlan } from '../../bench/lora-plan.js';
import { slotBytes } from '../../src/lora/adapter-stacks.js';
import { ROW_TILE } from '../../src/lora/lora-delta-segmented.js';
import { LLAMA3_8B_BASE_BYTES, LLAMA3_8B_SHAPES } from './llama8b-lora-groups.js';

/** The binding limit of the devices the kernels run on (Dawn on lavapipe and on the H100). */
const CAPS = { maxStorageBuffersPerShaderStage: 16 };
const SLOTS = 64;
const GB = 1e9;

/** A step's reads over all layers: rows in slots `rowSlots`, slot s of rank `rankOf(s)`, stacks of rmax. */
function stepReads(rowSlots: Int32Array, rankOf: (s: number) => number, rmax: number, weight: 'f16' | 'f32' = 'f16') {
  const ranks = Int32Array.from({ length: SLOTS }, (_, s) => rankOf(s));
  const { distinct, loaded } = loraStepPlan(CAPS, LLAMA3_8B_SHAPES, rowSlots, ranks, rmax, weight);
  return { distinct, loaded };
}

/** 64 rows spread round-robin over the first `adapters` slots. */
const spread = (rows: number, adapters: number) => Int32Array.from({ length: rows }, (_, i) => i % adapters);

describe('bytes of A and B a decode step reads (8B shape, f16 stacks, 64 slots)', () => {
  it('64 rows over 1, 8 and 64 adapters at rank 16 and 64: the distinct adapters’ blocks', () => {
    const lines = [`base weights ${(LLAMA3_8B_BASE_BYTES / GB).toFixed(1)} GB (bf16)`];
    for (const rank of [16, 64])
      for (const adapters of [1, 8, 64]) {
        const r = stepReads(spread(64, adapters), () => rank, rank);
        expect(r.distinct).toBe(adapters * slotBytes(LLAMA3_8B_SHAPES, rank, 2));
        // rows of one slot share loads (the segmented schedule): a slot's blocks are loaded once per
        // row tile of its rows, so 64 rows of one adapter load them 8 times, 8 or 64 adapters once
        expect(r.loaded).toBe(Math.ceil(64 / adapters / ROW_TILE) * r.distinct);
        lines.push(
          `rank ${rank}, 64 rows over ${adapters} adapters: ${(r.distinct / GB).toFixed(2)} GB distinct A/B per step ` +
            `(${(r.distinct / LLAMA3_8B_BASE_BYTES).toFixed(2)}× the base weights), ${(r.loaded / GB).toFixed(2)} GB loaded by workgroups`,
        );
      }
    const one = stepReads(spread(1, 1), () => 16, 16);
    lines.push(
      `batch 1, rank 16: ${(one.distinct / 1e6).toFixed(0)} MB distinct, ${(one.loaded / 1e6).toFixed(0)} MB loaded (tiles re-read A from the cache)`,
    );
    console.log(`[lora reads]\n  ${lines.join('\n  ')}`);
  });

  it('reads only the slots the rows name, each up to its own rank (mixed ranks in rmax-64 stacks)', () => {
    // every slot resident at rank 64 but slot 5 (rank 16); the rows name only slot 5
    const rankOf = (s: number) => (s === 5 ? 16 : 64);
    expect(stepReads(new Int32Array(64).fill(5), rankOf, 64).distinct).toBe(slotBytes(LLAMA3_8B_SHAPES, 16, 2));
    // half the rows on slot 5 (rank 16), half on slot 9 (rank 64), plus rows without an adapter
    const mixed = Int32Array.from({ length: 64 }, (_, i) => (i % 4 === 3 ? -1 : i % 2 ? 9 : 5));
    expect(stepReads(mixed, rankOf, 64).distinct).toBe(
      slotBytes(LLAMA3_8B_SHAPES, 16, 2) + slotBytes(LLAMA3_8B_SHAPES, 64, 2),
    );
    // f32 stacks read twice the bytes of f16 ones
    expect(stepReads(mixed, rankOf, 64, 'f32').distinct).toBe(2 * stepReads(mixed, rankOf, 64).distinct);
    expect(stepReads(new Int32Array(8).fill(-1), rankOf, 64)).toEqual({ distinct: 0, loaded: 0 });
  });
});
