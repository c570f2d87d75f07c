/**
 * The parallelism the `lora_delta` plan gives a decode step at the Llama-3-8B shape (f16 stacks, 16
 * storage bindings). At batch 1 the term's cost is latency: a workgroup that walks K serially, or a
 * group of projections in a handful of workgroups, costs a launch many times over. So the plan must
 * give every group many workgroups (Q/K/V, which cannot take the workspace binding, at least one per
 * 256 output columns) and every thread a bounded run of k positions per rank, its loads of A
 * unrolled together (lora-delta-sliced.ts). The table printed is the one the dated note quotes.
 */
import { describe, expect, it } from 'vitest';
import { loraStepPlan } from '../../bench/lora-plan.js';
import { DECODE_ROWS } from '../../src/lora/lora-delta-plan.js';
import { ROW_TILE, SEG_WG } from '../../src/lora/lora-delta-segmented.js';
import { SLICE_BYTES, SLICED_WG } from '../../src/lora/lora-delta-sliced.js';
import { LLAMA3_8B_SHAPES } from './llama8b-lora-groups.js';

const CAPS = { maxStorageBuffersPerShaderStage: 16 };

describe('lora_delta sliced decode geometry at the 8B shape (f16 stacks, 16 bindings)', () => {
  for (const rank of [16, 64])
    it(`rank ${rank}, batch 1 sliced: many workgroups per group, at most 16 k positions a thread`, () => {
      // the sliced schedule forced: at one row the default is the segmented one (segmentedAt)
      const sliced = { segmentedFromRows: DECODE_ROWS + 1 };
      const ranks = new Int32Array(64).fill(rank);
      const step = loraStepPlan(CAPS, LLAMA3_8B_SHAPES, new Int32Array(1), ranks, rank, 'f16', sliced);
      const lines: string[] = [];
      for (const { group, plan } of step.groups)
        for (const d of plan) {
          const tiles = d.g.widths.reduce((s, N) => s + Math.ceil(N / (SLICED_WG * d.cols)), 0);
          const workgroups = tiles * d.slices;
          const kPerThread = d.sliceLen / SLICED_WG;
          const aBytes = rank * d.sliceLen * 2;
          lines.push(
            `${group.name}: ${d.schedule}, ${d.slices} slice(s) of ${d.sliceLen}, ${workgroups} workgroups of ${SLICED_WG}, ` +
              `${kPerThread} k a thread (${kPerThread * rank} loads of A), ${aBytes / 1024} KiB of A a workgroup`,
          );
          expect(d.schedule).toBe('sliced');
          expect(d.cols).toBe(1);
          expect(kPerThread).toBeLessThanOrEqual(16);
          // one column a thread: a workgroup per 256 columns at least, more where K is sliced
          expect(workgroups).toBeGreaterThanOrEqual(Math.ceil(d.g.widths.reduce((s, N) => s + N, 0) / SLICED_WG));
          if (d.slices > 1) expect(aBytes).toBeLessThanOrEqual(SLICE_BYTES);
          if (group.name !== 'q/k/v') expect(d.slices).toBeGreaterThan(1);
        }
      console.log(`[lora geometry] rank ${rank}, batch 1:\n  ${lines.join('\n  ')}`);
    });
});

/**
 * Batch 64 (the segmented schedule, lora-delta-segmented.ts): how many workgroups work when the 64
 * rows spread over 1, 8 and 64 adapters (a workgroup per row tile of a slot; the rest of the grid
 * returns after finding its segment), and each thread's serial work. The table the dated note quotes.
 */
describe('lora_delta batch-64 geometry at the 8B shape (f16 stacks, 16 bindings)', () => {
  for (const rank of [16, 64])
    it(`rank ${rank}, 64 rows: a shrink and an expand a group, row tiles of ${ROW_TILE} rows of one slot`, () => {
      const step = loraStepPlan(CAPS, LLAMA3_8B_SHAPES, new Int32Array(64), new Int32Array(64).fill(rank), rank, 'f16');
      const lines: string[] = [];
      for (const { group, plan } of step.groups)
        for (const d of plan) {
          expect(d.schedule).toBe('segmented');
          const members = d.members.length;
          const tiles = d.g.widths.reduce((s, N) => s + Math.ceil(N / (SEG_WG * d.cols)), 0);
          const working = [1, 8, 64].map((adapters) => {
            const chunks = adapters * Math.ceil(64 / adapters / ROW_TILE);
            return `${adapters}: ${members * d.slices * chunks} + ${tiles * chunks}`;
          });
          const kPerThread = d.sliceLen / (SEG_WG / ROW_TILE);
          lines.push(
            `${group.name}: shrink ${members}×${d.slices} slices of ${d.sliceLen} × 64 rows, expand ${tiles} tiles of ` +
              `${SEG_WG * d.cols} × 64 rows; working workgroups (shrink + expand) over ${working.join(', ')} adapters; ` +
              `a shrink thread ${kPerThread} k (${d.sliceLen / SEG_WG} in a one-row chunk) × ${rank} ranks of A for its row, ` +
              `an expand thread ${d.cols} column(s) × ${rank} ranks of B for the chunk's rows`,
          );
          expect(kPerThread).toBeLessThanOrEqual(16);
        }
      console.log(`[lora geometry] rank ${rank}, batch 64:\n  ${lines.join('\n  ')}`);
    });
});
