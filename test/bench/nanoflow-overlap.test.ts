/** The overlap probe (bench/nanoflow-overlap.ts) end to end at tiny sizes, so it cannot rot. */
import { describe, expect, it } from 'vitest';
import { runOverlapProbe, TINY_LAYER } from '../../bench/nanoflow-overlap.js';
import { Check } from '../../bench/verify.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { gpuBackend, gpuSkipReason } from '../gpu-setup.js';

const gpu = await gpuBackend();
const seed = testSeed();

describe.skipIf(!gpu)(`bench/nanoflow-overlap.ts --tiny (${seedNote(seed)})`, () => {
  it('times every part and combination, checks the fused dispatch against the oracle', async () => {
    const check = new Check('nanoflow-overlap');
    const { rows, costs } = await runOverlapProbe(gpu!, TINY_LAYER, [4, 8], seed, check, 2);
    expect(check.passed().checks).toHaveLength(4);
    expect(costs.gemm.map(([b]) => b)).toEqual([4, 8]);
    expect(costs.attentionSaturation).toBeGreaterThan(0);
    expect(costs.attentionSaturation).toBeLessThanOrEqual(1);
    expect(costs.stageMs).toBeGreaterThan(0);
    const cases = rows.map((r) => r.case);
    for (const part of [
      'gemm chain alone',
      'decode attention alone',
      'one pass',
      'fused to attention',
      'layer',
      'pipelined',
    ])
      expect(
        cases.some((c) => c.includes(part)),
        part,
      ).toBe(true);
    expect(rows.every((r) => Number.isFinite(r.ours) && r.ours > 0)).toBe(true);
    for (const r of rows.filter((r) => r.anchor !== null)) {
      expect(r.ratio).toBeCloseTo(r.anchor! / r.ours, 9);
      if (r.limit !== null) expect(r.limit).toBeLessThanOrEqual(r.anchor!);
    }
    console.log(
      rows.map((r) => `${r.case}: ${r.ours.toFixed(3)} ms${r.ratio ? ` (×${r.ratio.toFixed(2)})` : ''}`).join('\n'),
    );
  }, 120_000);
});

describe.skipIf(gpu)(`bench/nanoflow-overlap.ts (skipped: ${gpuSkipReason()})`, () => {
  it('needs a WebGPU adapter', () => {});
});
