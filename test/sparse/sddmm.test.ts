/**
 * SDDMM on CSR against a float64 oracle written here with plain loops (out[e] = Σ_c A[i,c]·B[j,c]
 * at each stored (i, j)), on random and R-MAT sparsity with empty rows, a dense row and one huge
 * row, at d = 32/64/128 (vec4) and an odd d (scalar).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { type Coo, cooFromTriples, csrFromCoo, randomCoo, rmatCoo, withDenseRow } from '../../src/sparse/index.js';
import { f32SumTolerance } from '../../src/sparse/reference.js';
import type { SddmmSchedule } from '../../src/sparse/schedule.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { Rng } from '../../src/util/rng.js';
import { gpuBackend, gpusOrSkip } from '../gpu-setup.js';

const seed = testSeed();
const backend = await gpuBackend();
afterAll(() => console.log(`sparse sddmm: ${seedNote(seed)}`));

const matrices: [string, Coo][] = [
  ['random 150x120 with empty rows', randomCoo(seed, 150, 120, 0.05, [0, 9, 149])],
  ['rmat 2^8', rmatCoo(seed + 1, { scale: 8, edgeFactor: 6 })],
  ['one huge row 60x400', withDenseRow(seed + 2, randomCoo(seed + 3, 60, 400, 0.005), 30)],
  ['all empty 5x5', cooFromTriples(5, 5, [], [], [])],
  ['single dense row 1x70', withDenseRow(seed + 4, cooFromTriples(1, 70, [], [], []), 0)],
];
const cases: [number, SddmmSchedule][] = [
  [32, { lanes: 8, nnzPerWorkgroup: 8, vec4: true }],
  [64, { lanes: 16, nnzPerWorkgroup: 4, vec4: true }],
  [128, { lanes: 32, nnzPerWorkgroup: 2, vec4: true }],
  [19, { lanes: 4, nnzPerWorkgroup: 32, vec4: false }],
  // a thread per entry (vec4 as a factored lane reduction, and scalar)
  [32, { lanes: 1, nnzPerWorkgroup: 64, vec4: true }],
  [19, { lanes: 1, nnzPerWorkgroup: 32, vec4: false }],
];

describe(`SDDMM (CSR) against the float64 oracle (${seedNote(seed)})`, () => {
  for (const [label, coo] of matrices)
    for (const [d, sched] of cases)
      for (const { backend: b } of gpusOrSkip(backend ? [{ backend }] : [], `${label} d${d}`))
        it(`${label} (nnz ${coo.vals.length}) d${d} lanes ${sched.lanes}${sched.vec4 ? ' vec4' : ''}`, async () => {
          const rng = new Rng(seed ^ (d * 104729));
          const a = Float32Array.from(rng.normals(coo.m * d));
          const bm = Float32Array.from(rng.normals(coo.k * d));
          const csr = csrFromCoo(coo);
          const t = [
            b.alloc({ dtype: 'i32', shape: [coo.m + 1] }),
            b.alloc({ dtype: 'i32', shape: [coo.vals.length] }),
            b.alloc({ dtype: 'f32', shape: [coo.m, d] }),
            b.alloc({ dtype: 'f32', shape: [coo.k, d] }),
          ];
          const out = b.alloc({ dtype: 'f32', shape: [coo.vals.length] });
          try {
            [csr.indptr, csr.indices, a, bm].forEach((data, i) => b.write(t[i]!, data));
            b.write(out, new Float32Array(coo.vals.length).fill(NaN));
            b.run('sddmm_csr', { schedule: sched }, t, [out]);
            const got = (await b.read(out)) as Float32Array;
            let bad = 0;
            for (let e = 0; e < coo.vals.length; e++) {
              const i = coo.rows[e]!;
              const j = coo.cols[e]!;
              let want = 0;
              let mag = 0;
              for (let c = 0; c < d; c++) {
                want += a[i * d + c]! * bm[j * d + c]!;
                mag += Math.abs(a[i * d + c]! * bm[j * d + c]!);
              }
              if (!(Math.abs(got[e]! - want) <= f32SumTolerance(d, mag, want))) bad++;
            }
            expect(bad).toBe(0);
          } finally {
            for (const x of [...t, out]) b.free(x);
          }
        });
});
