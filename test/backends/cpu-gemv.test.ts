/**
 * The CPU GEMV/GEMM paths at every small remainder: N not a multiple of the four-row blocks, K not a
 * multiple of the four- or eight-element vectors, M odd (the two-row blocks' tail), for each weight
 * dtype, against the float64 matmul reference.
 */
import { describe, expect, it } from 'vitest';
import { CpuBackend } from '../../src/backends/cpu/cpu-backend.js';
import { getOp } from '../../src/ops/registry.js';
import { randomInput } from '../../src/ops/test-data.js';
import { toFloat64 } from '../../src/tensor/dtype.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { Rng } from '../../src/util/rng.js';

const seed = testSeed();
const b = new CpuBackend();
const op = getOp('matmul');

describe(`CPU matmul remainders (${seedNote(seed)})`, () => {
  for (const wd of ['f32', 'f16', 'bf16'] as const)
    it(`${wd} weights, M 1…3, N 1…9, K 1…19`, async () => {
      const rng = new Rng(seed);
      for (const M of [1, 2, 3])
        for (let N = 1; N <= 9; N++)
          for (let K = 1; K <= 19; K += 3) {
            const x = randomInput(rng, 'f32', [M, K]);
            const w = randomInput(rng, wd, [N, K]);
            const tx = b.alloc(x.desc);
            const tw = b.alloc(w.desc);
            const ty = b.alloc({ dtype: 'f32', shape: [M, N] });
            b.write(tx, x.data);
            b.write(tw, w.data);
            b.run('matmul', { transB: true }, [tx, tw], [ty]);
            const got = toFloat64('f32', await b.read(ty));
            const want = op.reference(
              { transB: true },
              [toFloat64('f32', x.data), toFloat64(wd, w.data)],
              [x.desc, w.desc],
              [ty],
            )[0]!;
            for (let i = 0; i < got.length; i++)
              expect(Math.abs(got[i]! - want[i]!), `M${M} N${N} K${K} [${i}]`).toBeLessThan(1e-5 * (1 + K));
            for (const t of [tx, tw, ty]) b.free(t);
          }
    });
});
