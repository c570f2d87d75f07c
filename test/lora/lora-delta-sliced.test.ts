/**
 * The sliced `lora_delta` schedule (src/lora/lora-delta-sliced.ts) as a decode step uses it: one
 * dispatch of several slices of K, recorded once and replayed with new rows and slots each time
 * (mixed adapters, ranks that are not a multiple of eight, rows with no adapter). Every replay
 * matches the float64 reference (so the workspace counters the last slice resets are right on the
 * next replay), and replaying the same inputs gives the same bits (the parts are summed in slice
 * order, not in the order the slices finished).
 */
import { describe, expect, it } from 'vitest';
import type { Tensor } from '../../src/backends/backend.js';
import { type LoraDeltaAttrs, loraDeltaOp } from '../../src/lora/lora-delta.js';
import { DECODE_ROWS, loraDeltaPlan } from '../../src/lora/lora-delta-plan.js';
import { randomInput } from '../../src/ops/test-data.js';
import { toFloat64 } from '../../src/tensor/dtype.js';
import { Rng } from '../../src/util/rng.js';
import { gpuBackend, gpuSkipReason } from '../gpu-setup.js';

const SEED = 2377;
const gpu = await gpuBackend();
const [N_ROWS, K, RANKS, WIDTHS] = [4, 2056, [64, 17, 0, 8], [300, 40]] as const;

describe.skipIf(!gpu)(`lora_delta sliced schedule, replayed${gpu ? '' : ` (skipped: ${gpuSkipReason()})`}`, () => {
  it('one dispatch; every replay meets the float64 reference; equal inputs give equal bits', async () => {
    console.log(`[lora sliced] seed ${SEED}`);
    const g = gpu!;
    const rng = new Rng(SEED);
    const slots = RANKS.length;
    const rmax = Math.max(...RANKS);
    // the sliced schedule forced: at rank 64 decode rows default to the segmented one (segmentedAt)
    const attrs: LoraDeltaAttrs = { count: WIDTHS.length, normEps: 1e-5, segmentedFromRows: DECODE_ROWS + 1 };
    const fixed = [
      randomInput(rng, 'f32', [K]),
      { desc: { dtype: 'i32' as const, shape: [N_ROWS] }, data: new Int32Array(N_ROWS) },
      { desc: { dtype: 'f32' as const, shape: [slots] }, data: Float32Array.from(RANKS, () => rng.uniform(0.5, 2)) },
      ...WIDTHS.flatMap((N) => [
        randomInput(rng, 'f16', [slots, rmax, K], 1 / Math.sqrt(K)),
        randomInput(rng, 'f16', [slots, N, rmax], 1 / Math.sqrt(rmax)),
        { desc: { dtype: 'i32' as const, shape: [slots] }, data: Int32Array.from(RANKS) },
      ]),
    ];
    const descs = [{ dtype: 'f32' as const, shape: [N_ROWS, K] }, ...fixed.map((f) => f.desc)];
    const plan = loraDeltaPlan(g.caps, attrs, descs);
    expect(plan.map((d) => d.schedule)).toEqual(['sliced']);
    const slices = plan[0]!.slices;
    console.log(`[lora sliced] K ${K} in ${slices} slices of ${plan[0]!.sliceLen}`);
    expect(slices).toBeGreaterThan(1);
    const x = g.alloc(descs[0]!, 'x');
    const inputs: Tensor[] = [x, ...fixed.map((f, i) => g.alloc(f.desc, `in${i}`))];
    fixed.forEach((f, i) => g.write(inputs[i + 1]!, f.data));
    const outDescs = loraDeltaOp.outputs(attrs, descs);
    const outs = outDescs.map((d, i) => g.alloc(d, `d${i}`));
    const rec = g.record!(() => g.run('lora_delta', attrs, inputs, outs));
    expect(rec.dispatches.map((d) => d.label)).toEqual([`lora_delta.sliced.x2.norm.s${slices}`]);
    const tol = loraDeltaOp.tolerance(attrs, descs);
    const step = async (xs: Float32Array, rows: Int32Array) => {
      g.write(x, xs);
      g.write(inputs[2]!, rows);
      rec.replay();
      await g.flush();
      return Promise.all(outs.map(async (o) => (await g.read(o)) as Float32Array));
    };
    // slots 0..3 have ranks 64, 17, 0, 8; −1 and 7 name no adapter
    const steps = [
      [0, 1, -1, 3],
      [1, 2, 7, 0],
      [3, 0, 0, 1],
    ];
    let first: Float32Array[] | undefined;
    for (const slotsOfRows of steps) {
      const xs = Float32Array.from({ length: N_ROWS * K }, () => rng.uniform(-2, 2));
      const rows = Int32Array.from(slotsOfRows);
      const got = await step(xs, rows);
      const f64 = [xs, ...fixed.map((f) => f.data)].map((d, i) => toFloat64(descs[i]!.dtype, d));
      f64[2] = Float64Array.from(rows);
      const want = loraDeltaOp.reference(attrs, f64, descs, outDescs);
      let worst = 0;
      got.forEach((o, m) =>
        o.forEach((v, i) => {
          const w = want[m]![i]!;
          worst = Math.max(worst, Math.abs(v - w) / (tol.abs + tol.rel * Math.abs(w)));
        }),
      );
      console.log(`[lora sliced] rows of slots [${rows}]: worst error ${worst.toFixed(3)} of the tolerance`);
      expect(worst).toBeLessThanOrEqual(1);
      if (!first) {
        first = got.map((o) => o.slice());
        const again = await step(xs, rows);
        again.forEach((o, m) => expect(Buffer.from(o.buffer).equals(Buffer.from(first![m]!.buffer))).toBe(true));
      }
    }
    rec.destroy();
    for (const t of [...inputs, ...outs]) g.free(t);
  }, 120_000);
});
