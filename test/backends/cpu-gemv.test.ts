/**
 * The CPU GEMV/GEMM paths at every small remainder: N not a multiple of the four-row blocks, K not a
 * multiple of the four- or eight-element vectors, M odd (the two-row blocks' tail), for each weight
 * dtype, against the float64 matmul reference.
 */
import { describe, expect, it } from 'vitest';
import { CpuBackend } from '../../src/backends/cpu/cpu-backend.js';
import { randomInput } from '../../src/ops/test-data.js';
import { toFloat64 } from '../../src/tensor/dtype.js';
import { matmulTransBAgainstReference } from '../../src/testing/matmul-check.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { Rng } from '../../src/util/rng.js';

const seed = testSeed();
const b = new CpuBackend();

describe(`CPU matmul remainders (${seedNote(seed)})`, () => {
  for (const wd of ['f32', 'f16', 'bf16'] as const)
    it(`${wd} weights, M 1…3, N 1…9, K 1…19`, async () => {
      const rng = new Rng(seed);
      for (const M of [1, 2, 3])
        for (let N = 1; N <= 9; N++)
          for (let K = 1; K <= 19; K += 3) {
            const x = randomInput(rng, 'f32', [M, K]);
            const w = randomInput(rng, wd, [N, K]);
            const { got, want } = await matmulTransBAgainstReference(b, x, w);
            for (let i = 0; i < got.length; i++)
              expect(Math.abs(got[i]! - want[i]!), `M${M} N${N} K${K} [${i}]`).toBeLessThan(1e-5 * (1 + K));
          }
    });

  // the bf16 decode kernel's paths: 32-element blocks, 8-element blocks, the scalar tail; eight-row
  // blocks where K > 4096 with leftover rows; and a size that splits across threads
  it('bf16 GEMV (M 1): K past the 32- and 8-element blocks, eight-row blocks at K > 4096', async () => {
    const rng = new Rng(seed + 1);
    const shapes: [number, number][] = [
      [7, 32],
      [9, 37],
      [17, 71],
      [5, 4096],
      [17, 4107],
      [19, 8192],
      [70, 8200],
      [600, 1030],
    ];
    for (const [N, K] of shapes) {
      const x = randomInput(rng, 'f32', [1, K]);
      const w = randomInput(rng, 'bf16', [N, K]);
      const { got, want } = await matmulTransBAgainstReference(b, x, w);
      // any f32 summation order of K products is within (K + 1)·2^-24·Σ|x·w| of the exact sum
      const xs = toFloat64('f32', x.data);
      const ws = toFloat64('bf16', w.data);
      for (let i = 0; i < N; i++) {
        let mag = 0;
        for (let k = 0; k < K; k++) mag += Math.abs(xs[k]! * ws[i * K + k]!);
        expect(Math.abs(got[i]! - want[i]!), `N${N} K${K} [${i}]`).toBeLessThanOrEqual((K + 1) * 2 ** -24 * mag);
      }
    }
  });

  // the packed GEMM (M ≥ 4): four-row tiles and their row tail, a last panel narrower than eight
  // columns, K across several 256-column panels with a short last one, and a size split over threads
  for (const wd of ['f32', 'f16', 'bf16'] as const)
    it(`${wd} weights, packed GEMM: M 4…11, N 8…37, K 7…600`, async () => {
      const rng = new Rng(seed + 2);
      const shapes: [number, number, number][] = [
        [4, 8, 7],
        [5, 13, 256],
        [11, 37, 300],
        [8, 16, 600],
        [6, 3, 257],
        [16, 200, 520],
      ];
      for (const [M, N, K] of shapes) {
        const x = randomInput(rng, 'f32', [M, K]);
        const w = randomInput(rng, wd, [N, K]);
        const tx = b.alloc(x.desc);
        const tw = b.alloc(w.desc);
        const ty = b.alloc({ dtype: 'f32', shape: [M, N] });
        b.write(tx, x.data);
        b.write(tw, w.data);
        b.run('matmul', { transB: true }, [tx, tw], [ty]);
        const got = toFloat64('f32', await b.read(ty));
        const xs = toFloat64('f32', x.data);
        const ws = toFloat64(wd, w.data);
        for (let m = 0; m < M; m++)
          for (let n = 0; n < N; n++) {
            let want = 0;
            let mag = 0;
            for (let k = 0; k < K; k++) {
              want += xs[m * K + k]! * ws[n * K + k]!;
              mag += Math.abs(xs[m * K + k]! * ws[n * K + k]!);
            }
            // any f32 summation order of K products is within (K + 1)·2^-24·Σ|x·w| of the exact sum
            expect(Math.abs(got[m * N + n]! - want), `M${M} N${N} K${K} [${m}, ${n}]`).toBeLessThanOrEqual(
              (K + 1) * 2 ** -24 * mag,
            );
          }
        for (const t of [tx, tw, ty]) b.free(t);
      }
    });
});
