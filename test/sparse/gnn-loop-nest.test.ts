/**
 * SDDMM and RGCN lowered to loop nests (`src/sparse/sddmm-lower.ts`, `rgcn-lower.ts`), run as the
 * generated JavaScript on the CPU against the float64 references (`sddmmCsr`, `rgcnReference`)
 * within the f32 summation bound: random sparsity with empty rows, R-MAT, one huge row, a dense
 * row, an all-empty matrix; the shuffled-relation case checks that any entry order stays correct.
 * The same programs run on WebGPU in `sddmm.test.ts`, `rgcn.test.ts` and the op conformance.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { generateLoopJs } from '../../src/compiler/codegen/js-loop-nest.js';
import { type Coo, cooFromTriples, csrFromCoo, randomCoo, rmatCoo, withDenseRow } from '../../src/sparse/index.js';
import { randomHetero } from '../../src/sparse/hetero.js';
import { compareWithBound } from '../../src/sparse/ops.js';
import { sddmmCsr } from '../../src/sparse/reference.js';
import { rgcnProgram } from '../../src/sparse/rgcn-lower.js';
import { rgcnReference } from '../../src/sparse/rgcn.js';
import type { SddmmSchedule } from '../../src/sparse/schedule.js';
import { sddmmProgram } from '../../src/sparse/sddmm-lower.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { Rng } from '../../src/util/rng.js';

const seed = testSeed();
afterAll(() => console.log(`sparse gnn loop nests: ${seedNote(seed)}`));

const f64 = (a: ArrayLike<number>) => Float64Array.from(a);

describe(`SDDMM loop nest as generated JavaScript (${seedNote(seed)})`, () => {
  const matrices: [string, Coo][] = [
    ['random 50x40 empty rows', randomCoo(seed, 50, 40, 0.1, [0, 9, 49])],
    ['rmat 2^7', rmatCoo(seed + 1, { scale: 7, edgeFactor: 5 })],
    ['one huge row 30x200', withDenseRow(seed + 2, randomCoo(seed + 3, 30, 200, 0.01), 11)],
    ['all empty 5x5', cooFromTriples(5, 5, [], [], [])],
  ];
  const schedules: [number, SddmmSchedule][] = [
    [12, { lanes: 1, nnzPerWorkgroup: 64, vec4: true }],
    [7, { lanes: 1, nnzPerWorkgroup: 32, vec4: false }],
    [20, { lanes: 4, nnzPerWorkgroup: 16, vec4: true }],
    [9, { lanes: 8, nnzPerWorkgroup: 8, vec4: false }],
  ];
  for (const [label, coo] of matrices)
    for (const [d, s] of schedules)
      it(`${label} d${d} lanes ${s.lanes}${s.vec4 ? ' vec4' : ''}`, () => {
        const rng = new Rng(seed ^ (d * 104729));
        const csr = csrFromCoo(coo);
        const a = Float32Array.from(rng.normals(coo.m * d));
        const b = Float32Array.from(rng.normals(coo.k * d));
        const out = new Float32Array(csr.indices.length).fill(NaN);
        const js = generateLoopJs(sddmmProgram(s));
        const env: Record<string, number> = { m: coo.m, n: coo.k, d, nnz: csr.indices.length };
        js.run(
          [csr.indptr, csr.indices, a, b, out],
          js.dims.map((x) => env[x]!),
        );
        const want = sddmmCsr(f64(csr.indptr), f64(csr.indices), f64(a), f64(b), d);
        expect(compareWithBound(f64(out), want.out, want.mag, () => d)).toBeNull();
      });
});

describe(`RGCN loop nest as generated JavaScript (${seedNote(seed)})`, () => {
  const graphs = [
    { m: 37, k: 29, relations: 5, meanDegree: 6, emptyRows: [0, 9, 36], fin: 7, fout: 13 },
    { m: 23, k: 19, relations: 3, meanDegree: 3, denseRow: 4, fin: 5, fout: 32 },
    { m: 16, k: 16, relations: 4, meanDegree: 5, fin: 3, fout: 2, shuffle: true },
  ];
  for (const [n, p] of graphs.entries())
    it(`${p.m}x${p.k} R${p.relations} fin${p.fin} fout${p.fout}${p.shuffle ? ' entries out of relation order' : ''}`, () => {
      const g = randomHetero(seed + n, p);
      const rel = Int32Array.from(g.rel);
      if (p.shuffle) for (let e = 0; e + 1 < rel.length; e += 2) [rel[e], rel[e + 1]] = [rel[e + 1]!, rel[e]!];
      const rng = new Rng(seed ^ (n * 7919));
      const x = Float32Array.from(rng.normals(p.k * p.fin));
      const w = Float32Array.from(rng.normals(p.relations * p.fin * p.fout));
      const y = new Float32Array(p.m * p.fout).fill(NaN);
      const js = generateLoopJs(rgcnProgram());
      const env: Record<string, number> = {
        m: p.m,
        k: p.k,
        nnz: g.indices.length,
        R: p.relations,
        fin: p.fin,
        fout: p.fout,
      };
      js.run(
        [g.indptr, g.indices, rel, g.vals, x, w, y],
        js.dims.map((d) => env[d]!),
      );
      const geo = { m: p.m, k: p.k, nnz: g.indices.length, relations: p.relations, fin: p.fin, fout: p.fout };
      const want = rgcnReference([f64(g.indptr), f64(g.indices), f64(rel), f64(g.vals), f64(x), f64(w)], geo);
      const rowTerms = (e: number) => {
        const i = Math.floor(e / p.fout);
        return (g.indptr[i + 1]! - g.indptr[i]!) * p.fin;
      };
      expect(compareWithBound(f64(y), want.y, want.mag, rowTerms)).toBeNull();
    });
});
