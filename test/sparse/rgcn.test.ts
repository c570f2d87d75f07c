/**
 * RGCN aggregation (`rgcn_csr`, every relation in one dispatch) against a float64 oracle written
 * here: the graph split into one dense adjacency per relation, Y = Σ_r A_r·(X·W_r) with plain loops
 * (a different association order from the kernel's). Graphs from `randomHetero` (fixed seed,
 * printed): many relations, empty rows, one row with an edge to every column under every relation.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { Backend } from '../../src/backends/backend.js';
import { CpuBackend } from '../../src/backends/cpu/cpu-backend.js';
import { type HeteroCsr, randomHetero } from '../../src/sparse/hetero.js';
import { f32SumTolerance } from '../../src/sparse/reference.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { Rng } from '../../src/util/rng.js';
import { gpuBackend, gpusOrSkip } from '../gpu-setup.js';

const seed = testSeed();
const gpu = await gpuBackend();
afterAll(() => console.log(`rgcn: ${seedNote(seed)}`));

function oracle(g: HeteroCsr, x: Float32Array, w: Float32Array, fin: number, fout: number) {
  const { m, k, relations: R } = g;
  const y = new Float64Array(m * fout);
  const mag = new Float64Array(m * fout);
  const terms = new Float64Array(m);
  for (let r = 0; r < R; r++) {
    const a = new Float64Array(m * k);
    for (let i = 0; i < m; i++)
      for (let e = g.indptr[i]!; e < g.indptr[i + 1]!; e++)
        if (g.rel[e] === r) {
          a[i * k + g.indices[e]!] += g.vals[e]!;
          terms[i] += fin;
        }
    const xw = new Float64Array(k * fout);
    const xwAbs = new Float64Array(k * fout);
    for (let j = 0; j < k; j++)
      for (let c = 0; c < fout; c++)
        for (let q = 0; q < fin; q++) {
          const t = x[j * fin + q]! * w[(r * fin + q) * fout + c]!;
          xw[j * fout + c] += t;
          xwAbs[j * fout + c] += Math.abs(t);
        }
    for (let i = 0; i < m; i++)
      for (let j = 0; j < k; j++) {
        const v = a[i * k + j]!;
        if (v === 0) continue;
        for (let c = 0; c < fout; c++) {
          y[i * fout + c] += v * xw[j * fout + c]!;
          mag[i * fout + c] += Math.abs(v) * xwAbs[j * fout + c]!;
        }
      }
  }
  return { y, mag, terms };
}

const graphs = [
  {
    label: 'R40 60x50 with empty rows',
    p: { m: 60, k: 50, relations: 40, meanDegree: 12, emptyRows: [0, 13, 59] },
    fin: 16,
    fout: 16,
  },
  { label: 'R3 30x30 one dense row', p: { m: 30, k: 30, relations: 3, meanDegree: 4, denseRow: 7 }, fin: 9, fout: 5 },
  {
    label: 'R8 1x40 single row, every edge',
    p: { m: 1, k: 40, relations: 8, meanDegree: 0, denseRow: 0 },
    fin: 4,
    fout: 33,
  },
  { label: 'R6 25x20 all rows empty', p: { m: 25, k: 20, relations: 6, meanDegree: 0 }, fin: 3, fout: 8 },
];

const backends: { name: string; b: Backend }[] = [
  { name: 'cpu', b: new CpuBackend() },
  ...gpusOrSkip(gpu ? [{ name: 'webgpu', b: gpu as Backend }] : [], 'rgcn_csr on WebGPU'),
];

describe(`rgcn_csr against the per-relation dense float64 oracle (${seedNote(seed)})`, () => {
  graphs.forEach(({ label, p, fin, fout }, gi) => {
    const g = randomHetero(seed + gi, p);
    for (const { name, b } of backends)
      it(`${name}: ${label} (nnz ${g.indices.length}) fin${fin} fout${fout}`, async () => {
        const rng = new Rng(seed ^ (gi * 104729));
        const x = Float32Array.from(rng.normals(g.k * fin));
        const w = Float32Array.from(rng.normals(g.relations * fin * fout));
        const alloc = (dtype: 'i32' | 'f32', shape: number[], data: Int32Array | Float32Array) => {
          const t = b.alloc({ dtype, shape });
          b.write(t, data);
          return t;
        };
        const ins = [
          alloc('i32', [g.m + 1], g.indptr),
          alloc('i32', [g.indices.length], g.indices),
          alloc('i32', [g.rel.length], g.rel),
          alloc('f32', [g.vals.length], g.vals),
          alloc('f32', [g.k, fin], x),
          alloc('f32', [g.relations, fin, fout], w),
        ];
        const y = alloc('f32', [g.m, fout], new Float32Array(g.m * fout).fill(NaN));
        try {
          b.run('rgcn_csr', {}, ins, [y]);
          const got = (await b.read(y)) as Float32Array;
          const want = oracle(g, x, w, fin, fout);
          let bad = 0;
          let first = '';
          for (let e = 0; e < got.length; e++) {
            const tol = f32SumTolerance(want.terms[Math.floor(e / fout)]!, want.mag[e]!, want.y[e]!);
            if (!(Math.abs(got[e]! - want.y[e]!) <= tol)) {
              if (!bad) first = `[${Math.floor(e / fout)}, ${e % fout}] got ${got[e]} want ${want.y[e]}`;
              bad++;
            }
          }
          expect(bad ? `${bad} of ${got.length} wrong, first ${first}` : 'ok').toBe('ok');
        } finally {
          [...ins, y].forEach((t) => b.free(t));
        }
      });
  });
});
