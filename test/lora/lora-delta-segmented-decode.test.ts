/**
 * The segmented `lora_delta` schedule at decode rows: which calls take it by default (one row, and
 * decode rows over stacks above SLICED_MAX_RANK, as the H100 times of both schedules said), what
 * the `segmentedFromRows` attribute overrides, and batches of 1 and 3 rows (one adapter; two
 * adapters and a row with none) against the float64 reference. A bad attribute is refused with its
 * name.
 */
import { describe, expect, it } from 'vitest';
import type { Tensor } from '../../src/backends/backend.js';
import { type LoraDeltaAttrs, loraDeltaOp } from '../../src/lora/lora-delta.js';
import { DECODE_ROWS, loraDeltaPlan, SLICED_MAX_RANK, segmentedAt } from '../../src/lora/lora-delta-plan.js';
import { randomInput } from '../../src/ops/test-data.js';
import { toFloat64 } from '../../src/tensor/dtype.js';
import { Rng } from '../../src/util/rng.js';
import { gpuBackend, gpuSkipReason } from '../gpu-setup.js';

const SEED = 5309;
const gpu = await gpuBackend();
const K = 520;
const WIDTHS = [300, 40] as const;
const SLOTS = 4;
const RMAX = 24;
const RANKS = Int32Array.from([24, 9, 0, 16]);

describe('segmentedAt', () => {
  it('segmented at one row, at decode rows above SLICED_MAX_RANK and past decode rows; sliced between', () => {
    const a = { count: 1 };
    expect(segmentedAt(a, 1, 16)).toBe(true);
    expect(segmentedAt(a, 1, 64)).toBe(true);
    for (const rows of [2, 8, DECODE_ROWS]) {
      expect(segmentedAt(a, rows, SLICED_MAX_RANK)).toBe(false);
      expect(segmentedAt(a, rows, SLICED_MAX_RANK + 1)).toBe(true);
    }
    expect(segmentedAt(a, DECODE_ROWS + 1, 8)).toBe(true);
  });
  it('the attribute is the threshold when set, and a bad one is refused by name', () => {
    expect(segmentedAt({ count: 1, segmentedFromRows: 1 }, 4, 8)).toBe(true);
    expect(segmentedAt({ count: 1, segmentedFromRows: DECODE_ROWS + 1 }, 1, 64)).toBe(false);
    expect(segmentedAt({ count: 1, segmentedFromRows: DECODE_ROWS + 1 }, DECODE_ROWS, 64)).toBe(false);
    expect(() => segmentedAt({ count: 1, segmentedFromRows: 0 }, 1, 16)).toThrow(/segmentedFromRows/);
    expect(() => segmentedAt({ count: 1, segmentedFromRows: '4' }, 1, 16)).toThrow(/segmentedFromRows/);
  });
});

describe.skipIf(!gpu)(`lora_delta segmented at decode rows${gpu ? '' : ` (skipped: ${gpuSkipReason()})`}`, () => {
  it.each([
    { rows: [1], name: 'one row, one adapter' },
    { rows: [0, -1, 3], name: 'three rows: two adapters and a row with none' },
  ])(
    '$name meets the float64 reference',
    async ({ rows }) => {
      console.log(`[lora segmented decode] seed ${SEED}`);
      const g = gpu!;
      const rng = new Rng(SEED);
      const n = rows.length;
      const attrs: LoraDeltaAttrs = { count: WIDTHS.length, normEps: 1e-5, segmentedFromRows: 1 };
      const fixed = [
        randomInput(rng, 'f32', [K]),
        { desc: { dtype: 'i32' as const, shape: [n] }, data: Int32Array.from(rows) },
        { desc: { dtype: 'f32' as const, shape: [SLOTS] }, data: Float32Array.from([2, 0.5, 1, 1.5]) },
        ...WIDTHS.flatMap((N) => [
          randomInput(rng, 'f16', [SLOTS, RMAX, K], 1 / Math.sqrt(K)),
          randomInput(rng, 'f16', [SLOTS, N, RMAX], 1 / Math.sqrt(RMAX)),
          { desc: { dtype: 'i32' as const, shape: [SLOTS] }, data: RANKS },
        ]),
      ];
      const xIn = randomInput(rng, 'f16', [n, K], 2);
      const descs = [xIn.desc, ...fixed.map((f) => f.desc)];
      expect(loraDeltaPlan(g.caps, attrs, descs).map((d) => d.schedule)).toEqual(['segmented']);
      // by default: segmented at one row, and at 3 rows because RMAX (24) is above SLICED_MAX_RANK
      expect(loraDeltaPlan(g.caps, { ...attrs, segmentedFromRows: undefined }, descs)[0]!.schedule).toBe('segmented');
      const forced = { ...attrs, segmentedFromRows: DECODE_ROWS + 1 };
      expect(loraDeltaPlan(g.caps, forced, descs)[0]!.schedule).toBe('sliced');
      const inputs: Tensor[] = descs.map((d, i) => g.alloc(d, `in${i}`));
      [xIn, ...fixed].forEach((f, i) => g.write(inputs[i]!, f.data));
      const outDescs = loraDeltaOp.outputs(attrs, descs);
      const outs = outDescs.map((o, i) => g.alloc(o, `d${i}`));
      g.run('lora_delta', attrs, inputs, outs);
      const got = await Promise.all(outs.map(async (o) => (await g.read(o)) as Float32Array));
      const f64 = [xIn, ...fixed].map((f, i) => toFloat64(descs[i]!.dtype, f.data));
      const want = loraDeltaOp.reference(attrs, f64, descs, outDescs);
      const tol = loraDeltaOp.tolerance(attrs, descs);
      let worst = 0;
      let nonzero = 0;
      got.forEach((o, m) =>
        o.forEach((v, i) => {
          const w = want[m]![i]!;
          if (w !== 0) nonzero++;
          worst = Math.max(worst, Math.abs(v - w) / (tol.abs + tol.rel * Math.abs(w)));
        }),
      );
      console.log(`[lora segmented decode] rows [${rows}]: worst error ${worst.toFixed(3)} of the tolerance`);
      expect(nonzero).toBeGreaterThan(0);
      expect(worst).toBeLessThanOrEqual(1);
      for (const t of [...inputs, ...outs]) g.free(t);
    },
    120_000,
  );
});
