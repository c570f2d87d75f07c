/** The overlap probe (bench/nanoflow-overlap.ts) end to end at tiny sizes, so it cannot rot. */
import { describe, expect, it } from 'vitest';
import { HashFill } from '../../bench/hash-fill.js';
import { runOverlapProbe, TINY_LAYER } from '../../bench/nanoflow-overlap.js';
import { checkFused } from '../../bench/nanoflow-overlap-check.js';
import { capGrid, GATE_UP, ProbeBatch, ProbeDevice } from '../../bench/nanoflow-overlap-setup.js';
import { Check } from '../../bench/verify.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { gpuBackend, gpuSkipReason } from '../gpu-setup.js';

const gpu = await gpuBackend();
const seed = testSeed();
const quick = { minMs: 2, warmMs: 2, rowMs: 50, maxReps: 20 };

describe.skipIf(!gpu)(
  `bench/nanoflow-overlap.ts --tiny (${seedNote(seed)})${gpu ? '' : ` (skipped: ${gpuSkipReason()})`}`,
  () => {
    it('checks the fused dispatch against the oracle, times every part and combination', async () => {
      // a failed check exits the process (bench/verify.ts), which fails this test
      const check = new Check('nanoflow-overlap');
      const batchesSeen: number[] = [];
      const { rows, costs, skipped } = await runOverlapProbe(gpu!, TINY_LAYER, [4, 8], seed, check, {
        timer: quick,
        onBatch: (r, c) => batchesSeen.push(c.gemm.length, r.length),
      });
      expect(check.passed().checks).toHaveLength(4);
      expect(skipped).toEqual([]);
      expect(costs!.gemm.map(([b]) => b)).toEqual([4, 8]);
      expect(costs!.attentionSaturation).toBeGreaterThan(0);
      expect(costs!.attentionSaturation).toBeLessThanOrEqual(1);
      expect(costs!.stageMs).toBeGreaterThan(0);
      // called after each batch size with the rows so far: half of them, then all
      expect(batchesSeen).toEqual([1, rows.length / 2, 2, rows.length]);
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

    it('the check fails when the inputs on the device are not the ones the oracle recomputes from their seeds', async () => {
      const p = new ProbeDevice(gpu!.device, TINY_LAYER, 8, seed);
      try {
        const b = new ProbeBatch(p, 8, seed);
        const good = await checkFused(b, 0.5);
        expect(good.gemmErr).toBeLessThanOrEqual(good.gemmTol);
        expect(good.attentionErr).toBeLessThanOrEqual(good.attentionTol);
        const fill = new HashFill(p.device);
        const g = p.gemms[GATE_UP]!;
        fill.fill(p.w[GATE_UP]!, p.seeds.w[GATE_UP]! + 1, g.K * g.N);
        fill.fill(p.kv, p.seeds.kv + 1, p.poolPages * p.pageFloats);
        const bad = await checkFused(b, 0.5);
        expect(bad.gemmErr).toBeGreaterThan(bad.gemmTol);
        expect(bad.attentionErr).toBeGreaterThan(bad.attentionTol);
      } finally {
        await p.destroy();
      }
    }, 60_000);

    it('the fused dispatch stays correct with its grid cut far below its work items (both sides loop)', async () => {
      const p = new ProbeDevice(gpu!.device, TINY_LAYER, 8, seed, 5);
      try {
        const b = new ProbeBatch(p, 8, seed);
        expect(b.gemmItems(GATE_UP) + b.attentionItems()).toBeGreaterThan(5 * 4);
        for (const share of [0.25, 0.75]) {
          expect(b.fused(share).groups).toBe(5);
          const r = await checkFused(b, share);
          expect(r.gemmErr).toBeLessThanOrEqual(r.gemmTol);
          expect(r.attentionErr).toBeLessThanOrEqual(r.attentionTol);
        }
      } finally {
        await p.destroy();
      }
    }, 60_000);

    it('starts no batch size past its budget, after checking them all', async () => {
      const check = new Check('nanoflow-overlap');
      const { rows, costs, skipped } = await runOverlapProbe(gpu!, TINY_LAYER, [4, 8], seed, check, {
        timer: quick,
        budgetS: 0,
      });
      expect(check.passed().checks).toHaveLength(4);
      expect(skipped).toEqual([8]);
      expect(costs!.gemm.map(([b]) => b)).toEqual([4]);
      expect(rows.every((r) => r.case.startsWith('B4 '))).toBe(true);
    }, 120_000);
  },
);

describe('capGrid', () => {
  it('keeps a grid within the limit, each side at least one workgroup, the shares about the same', () => {
    expect(capGrid(10, 20, 100)).toEqual({ nA: 10, nB: 20 });
    expect(capGrid(57344, 32768, 65535)).toEqual({ nA: 41704, nB: 23831 });
    expect(capGrid(90000, 0, 65535)).toEqual({ nA: 65535, nB: 0 });
    expect(capGrid(0, 90000, 65535)).toEqual({ nA: 0, nB: 65535 });
    expect(capGrid(1, 1000, 10)).toEqual({ nA: 1, nB: 9 });
    expect(capGrid(1000, 1, 10)).toEqual({ nA: 9, nB: 1 });
  });
});

describe.skipIf(gpu)(`bench/nanoflow-overlap.ts (skipped: ${gpuSkipReason()})`, () => {
  it('needs a WebGPU adapter', () => {});
});
