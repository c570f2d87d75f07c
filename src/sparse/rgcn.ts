/**
 * RGCN aggregation as one op: Y [m, fout] = Σ_r A_r · X · W_r, all relations in one CSR whose edges
 * carry a relation id (`hetero.ts`). Inputs: indptr i32[m+1], indices i32[nnz], rel i32[nnz],
 * vals f32[nnz], x f32[k, fin], w f32[R, fin, fout]. The reference sums every edge's x_j·W_r in
 * float64; the check is the f32 summation bound with nnz_row·fin terms per output.
 */
import type { TensorDesc } from '../backends/backend.js';
import { type CaseInput, defineOp } from '../ops/op-spec.js';
import { randomInput } from '../ops/test-data.js';
import type { Rng } from '../util/rng.js';
import { type HeteroCsr, randomHetero } from './hetero.js';
import { compareWithBound } from './ops.js';

const OP = 'rgcn_csr';

export interface RgcnGeometry {
  readonly m: number;
  readonly k: number;
  readonly nnz: number;
  readonly relations: number;
  readonly fin: number;
  readonly fout: number;
}

const fail = (msg: string): never => {
  throw new Error(`${OP}: ${msg}`);
};

export function rgcnGeometry(inputs: readonly TensorDesc[]): RgcnGeometry {
  if (inputs.length !== 6) fail(`takes 6 inputs (indptr, indices, rel, vals, x, w), ${inputs.length} given`);
  const [indptr, indices, rel, vals, x, w] = inputs as [
    TensorDesc,
    TensorDesc,
    TensorDesc,
    TensorDesc,
    TensorDesc,
    TensorDesc,
  ];
  const oneD = (t: TensorDesc, name: string, dtype: string) => {
    if (t.dtype !== dtype || t.shape.length !== 1)
      fail(`'${name}' must be a 1-D ${dtype} tensor, got ${t.dtype} [${t.shape}]`);
    return t.shape[0]!;
  };
  const m = oneD(indptr, 'indptr', 'i32') - 1;
  if (m < 0) fail('indptr needs at least one entry');
  const nnz = oneD(indices, 'indices', 'i32');
  if (oneD(rel, 'rel', 'i32') !== nnz || oneD(vals, 'vals', 'f32') !== nnz) fail(`rel and vals need ${nnz} entries`);
  if (x.dtype !== 'f32' || x.shape.length !== 2) fail(`x must be f32 [k, fin], got ${x.dtype} [${x.shape}]`);
  if (w.dtype !== 'f32' || w.shape.length !== 3 || w.shape[1] !== x.shape[1])
    fail(`w must be f32 [relations, ${x.shape[1]}, fout], got ${w.dtype} [${w.shape}]`);
  return { m, k: x.shape[0]!, nnz, relations: w.shape[0]!, fin: x.shape[1]!, fout: w.shape[2]! };
}

/** Float64 Y and Σ|v·x·w| per output; an out-of-range relation or column throws. */
export function rgcnReference(
  [indptr, indices, rel, vals, x, w]: readonly Float64Array[],
  g: RgcnGeometry,
): { y: Float64Array; mag: Float64Array } {
  const { m, k, relations: R, fin, fout } = g;
  const y = new Float64Array(m * fout);
  const mag = new Float64Array(m * fout);
  for (let i = 0; i < m; i++)
    for (let e = indptr![i]!; e < indptr![i + 1]!; e++) {
      const j = indices![e]!;
      const r = rel![e]!;
      if (j < 0 || j >= k || r < 0 || r >= R) fail(`edge ${e} names column ${j}, relation ${r}`);
      for (let c = 0; c < fout; c++)
        for (let q = 0; q < fin; q++) {
          const t = vals![e]! * x![j * fin + q]! * w![(r * fin + q) * fout + c]!;
          y[i * fout + c] += t;
          mag[i * fout + c] += Math.abs(t);
        }
    }
  return { y, mag };
}

export function heteroInputs(g: HeteroCsr): CaseInput[] {
  const i32 = (a: Int32Array): CaseInput => ({ desc: { dtype: 'i32', shape: [a.length] }, data: a });
  return [i32(g.indptr), i32(g.indices), i32(g.rel), { desc: { dtype: 'f32', shape: [g.vals.length] }, data: g.vals }];
}

function rgcnCases(rng: Rng) {
  const s = () => rng.int(1, 2 ** 30);
  const shapes = [
    { m: 37, k: 29, relations: 5, meanDegree: 6, emptyRows: [0, 9, 36], fin: 7, fout: 13 },
    { m: 64, k: 64, relations: 12, meanDegree: 10, fin: 16, fout: 8 },
    { m: 23, k: 19, relations: 3, meanDegree: 3, denseRow: 4, fin: 5, fout: 32 },
    // one row of 4 × 200 edges among rows of about 2: the huge row
    { m: 30, k: 200, relations: 4, meanDegree: 2, denseRow: 11, fin: 6, fout: 8 },
  ];
  return shapes.map((p) => {
    const seed = s();
    const g = randomHetero(seed, p);
    return {
      label: `hetero ${p.m}x${p.k} R${p.relations} nnz${g.indices.length}${p.emptyRows ? ' empty rows' : ''}${p.denseRow !== undefined ? ` dense row (${p.relations * p.k} edges)` : ''} fin${p.fin} fout${p.fout} (seed ${seed})`,
      attrs: {},
      inputs: [
        ...heteroInputs(g),
        randomInput(rng, 'f32', [p.k, p.fin]),
        randomInput(rng, 'f32', [p.relations, p.fin, p.fout]),
      ],
    };
  });
}

export const rgcnCsrOp = defineOp({
  name: OP,
  outputs: (_attrs, inputs) => {
    const g = rgcnGeometry(inputs);
    return [{ dtype: 'f32', shape: [g.m, g.fout] }];
  },
  reference: (_attrs, ins, descs) => [rgcnReference(ins, rgcnGeometry(descs)).y],
  cases: rgcnCases,
  tolerance: () => ({ abs: 1e-5, rel: 1e-5 }),
  check(_attrs, ins, got, _want, descs) {
    const g = rgcnGeometry(descs);
    const { y, mag } = rgcnReference(ins, g);
    const [indptr] = ins;
    return compareWithBound(got[0]!, y, mag, (e) => {
      const i = Math.floor(e / g.fout);
      return (indptr![i + 1]! - indptr![i]!) * g.fin;
    });
  },
});
