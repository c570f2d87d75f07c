/**
 * The segmented `lora_delta` schedule (src/lora/lora-delta-segmented.ts): batches of more rows than
 * decode, where rows of one slot share their loads of A and B. The kernel finds the segments itself
 * from the row slots, so one recorded call is replayed here with every spread of rows over slots:
 * all rows on one adapter, every row on its own, rows interleaved (A B A C B …), a slot with more
 * rows than a workgroup's row tile, rows with no adapter (−1, a slot past the stacks, a slot of rank
 * 0), mixed ranks, and a member where a slot is untargeted (rank 0 in that member only). Each replay
 * meets the float64 reference; a repeat of the same inputs gives the same bits. Each case prints the
 * plan's geometry and the A/B bytes its workgroups load against the distinct bytes, so a GPU run of
 * bench/lora-delta-time.ts can be read against it.
 */
import { describe, expect, it } from 'vitest';
import type { Tensor } from '../../src/backends/backend.js';
import { type LoraDeltaAttrs, loraDeltaOp } from '../../src/lora/lora-delta.js';
import { dispatchesOf, loraDeltaPlan, loraDeltaReads } from '../../src/lora/lora-delta-plan.js';
import { ROW_TILE, SEG_WG } from '../../src/lora/lora-delta-segmented.js';
import { randomInput } from '../../src/ops/test-data.js';
import { type HostArray, toFloat64 } from '../../src/tensor/dtype.js';
import { Rng } from '../../src/util/rng.js';
import { gpuBackend, gpuSkipReason } from '../gpu-setup.js';

const SEED = 4211;
const gpu = await gpuBackend();
const ROWS = 24;
/** K over two shrink slices, the second partial; a member wider than one expand tile and a narrow one. */
const K = 600;
const WIDTHS = [300, 40] as const;
const SLOTS = 24;

/** Slot s's rank in member 0: mixed, not multiples of eight, one of rank 0. */
const rankOf = (s: number) => [64, 17, 8, 3, 0, 1][s % 6]!;
/** Member 1 leaves slot 3 untargeted (rank 0): its rows get the term in member 0 only. */
const memberRanks = [
  Int32Array.from({ length: SLOTS }, (_, s) => rankOf(s)),
  Int32Array.from({ length: SLOTS }, (_, s) => (s === 3 ? 0 : rankOf(s))),
];
const RMAX = 64;

const CASES: readonly { name: string; rows: number[] }[] = [
  { name: 'all rows one adapter (3 row tiles)', rows: Array(ROWS).fill(1) },
  { name: 'every row its own adapter', rows: Array.from({ length: ROWS }, (_, i) => i) },
  { name: 'interleaved A B A C B …', rows: Array.from({ length: ROWS }, (_, i) => [0, 1, 0, 2, 1][i % 5]!) },
  {
    name: 'a slot of 11 rows (more than a row tile) among others',
    rows: Array.from({ length: ROWS }, (_, i) => (i % 2 === 0 || i === 5 ? 2 : 6 + (i % 3))),
  },
  {
    name: 'rows with no adapter: −1, a slot past the stacks, a slot of rank 0',
    rows: Array.from({ length: ROWS }, (_, i) => [-1, 0, 99, 4, 1, -1][i % 6]!),
  },
  {
    name: 'mixed ranks 64/17/8/3/1 and an untargeted member',
    rows: Array.from({ length: ROWS }, (_, i) => (i * 7) % 6),
  },
];

describe.skipIf(!gpu)(`lora_delta segmented schedule, replayed${gpu ? '' : ` (skipped: ${gpuSkipReason()})`}`, () => {
  it('every spread of rows over slots meets the float64 reference; equal inputs give equal bits', async () => {
    console.log(`[lora segments] seed ${SEED}`);
    const g = gpu!;
    const rng = new Rng(SEED);
    const attrs: LoraDeltaAttrs = { count: WIDTHS.length, normEps: 1e-5 };
    const fixed = [
      randomInput(rng, 'f32', [K]),
      { desc: { dtype: 'i32' as const, shape: [ROWS] }, data: new Int32Array(ROWS) },
      {
        desc: { dtype: 'f32' as const, shape: [SLOTS] },
        data: Float32Array.from({ length: SLOTS }, () => rng.uniform(0.5, 2)),
      },
      ...WIDTHS.flatMap((N, m) => [
        randomInput(rng, 'f16', [SLOTS, RMAX, K], 1 / Math.sqrt(K)),
        randomInput(rng, 'f16', [SLOTS, N, RMAX], 1 / Math.sqrt(RMAX)),
        { desc: { dtype: 'i32' as const, shape: [SLOTS] }, data: memberRanks[m]! },
      ]),
    ];
    const descs = [{ dtype: 'f16' as const, shape: [ROWS, K] }, ...fixed.map((f) => f.desc)];
    const plan = loraDeltaPlan(g.caps, attrs, descs);
    expect(plan.map((d) => d.schedule)).toEqual(['segmented']);
    const d = plan[0]!;
    const tiles = WIDTHS.reduce((s, N) => s + Math.ceil(N / (SEG_WG * d.cols)), 0);
    console.log(
      `[lora segments] ${ROWS} rows, K ${K} in ${d.slices} slices of ${d.sliceLen}, row tile ${ROW_TILE}: ` +
        `shrink grid ${WIDTHS.length * d.slices}×${ROWS}, expand grid ${tiles}×${ROWS} (tiles of ${SEG_WG * d.cols} columns)`,
    );
    expect(d.slices).toBe(2);
    const x = g.alloc(descs[0]!, 'x');
    const inputs: Tensor[] = [x, ...fixed.map((f, i) => g.alloc(f.desc, `in${i}`))];
    fixed.forEach((f, i) => g.write(inputs[i + 1]!, f.data));
    const outDescs = loraDeltaOp.outputs(attrs, descs);
    const outs = outDescs.map((o, i) => g.alloc(o, `d${i}`));
    const rec = g.record!(() => g.run('lora_delta', attrs, inputs, outs));
    const label = `lora_delta.segmented.x2.norm.s${d.slices}`;
    expect(rec.dispatches.map((r) => r.label)).toEqual([`${label}.shrink`, `${label}.expand`]);
    expect(rec.dispatches.length).toBe(dispatchesOf(d));
    const tol = loraDeltaOp.tolerance(attrs, descs);
    const step = async (xs: HostArray, rows: Int32Array) => {
      g.write(x, xs);
      g.write(inputs[2]!, rows);
      rec.replay();
      await g.flush();
      return Promise.all(outs.map(async (o) => (await g.read(o)) as Float32Array));
    };
    for (const [ci, c] of CASES.entries()) {
      const xIn = randomInput(rng, 'f16', [ROWS, K], 2);
      const rows = Int32Array.from(c.rows);
      const got = await step(xIn.data, rows);
      const f64 = [xIn.data, ...fixed.map((f) => f.data)].map((v, i) => toFloat64(descs[i]!.dtype, v));
      f64[2] = Float64Array.from(rows);
      const want = loraDeltaOp.reference(attrs, f64, descs, outDescs);
      let worst = 0;
      got.forEach((o, m) =>
        o.forEach((v, i) => {
          const w = want[m]![i]!;
          worst = Math.max(worst, Math.abs(v - w) / (tol.abs + tol.rel * Math.abs(w)));
        }),
      );
      const reads = loraDeltaReads(plan, rows, memberRanks);
      // what one load per row would cost: each row's own A and B, whatever its slot
      const perRow = loraDeltaReads([{ ...d, schedule: 'wide', slices: 1, cols: 16 }], rows, memberRanks);
      console.log(
        `[lora segments] ${c.name}: rows [${c.rows}]; A/B ${reads.distinct} B distinct, ${reads.loaded} B loaded ` +
          `(a load per row: ${perRow.loaded} B); worst error ${worst.toFixed(3)} of the tolerance`,
      );
      expect(worst).toBeLessThanOrEqual(1);
      if (ci === 0) {
        // one slot, 24 rows: three row tiles, so three loads of its blocks instead of 24
        expect(reads.loaded).toBe(3 * reads.distinct);
        const again = await step(xIn.data, rows);
        again.forEach((o, m) => expect(Buffer.from(o.buffer).equals(Buffer.from(got[m]!.buffer))).toBe(true));
      }
      if (ci === 1) expect(reads.loaded).toBe(reads.distinct);
    }
    rec.destroy();
    for (const t of [...inputs, ...outs]) g.free(t);
  }, 180_000);
});
