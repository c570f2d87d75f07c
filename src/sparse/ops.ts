/**
 * The sparse ops, declared once for every backend (`src/ops/op-spec.ts`): `spmm_<format>`
 * (Y [m, f] = A · X [k, f], A in that format's device layout, `device-layout.ts`) and `sddmm_csr`.
 * Values and features are f32. The schedule is an attribute: it changes the generated kernel,
 * never the result. The check is the f32 summation bound per output element (`reference.ts`).
 */
import type { Attrs, TensorDesc } from '../backends/backend.js';
import { type CaseInput, type CheckFn, type OpCase, defineOp } from '../ops/op-spec.js';
import { randomInput } from '../ops/test-data.js';
import type { Rng } from '../util/rng.js';
import { type FormatSpec, toFormat } from './convert.js';
import { type HybLayout, type SpmmOpName, deviceLayout } from './device-layout.js';
import type { Coo } from './formats.js';
import { randomCoo, rmatCoo, withDenseRow } from './generate.js';
import {
  type NonzeroWalk,
  f32SumTolerance,
  sddmmCsr,
  spmmFromWalk,
  walkBsr,
  walkCoo,
  walkCsr,
  walkEll,
  walkHyb,
} from './reference.js';
import { type SddmmSchedule, type SpmmSchedule, whySddmmScheduleInvalid, whySpmmScheduleInvalid } from './schedule.js';

export interface SpmmAttrs {
  readonly schedule: SpmmSchedule;
  /** Rows (COO, BSR, hybrid: the layout does not tell). */
  readonly m?: number;
  readonly block?: number;
  readonly layout?: HybLayout;
  readonly [key: string]: unknown;
}

export interface SddmmAttrs {
  readonly schedule: SddmmSchedule;
  readonly [key: string]: unknown;
}

const fail = (op: string, msg: string): never => {
  throw new Error(`${op}: ${msg}`);
};

function expect1d(op: string, name: string, t: TensorDesc | undefined, dtype: 'i32' | 'f32', len?: number): number {
  if (!t) return fail(op, `missing input '${name}'`);
  if (t.dtype !== dtype || t.shape.length !== 1)
    fail(op, `'${name}' must be a 1-D ${dtype} tensor, got ${t.dtype} [${t.shape.join(', ')}]`);
  if (len !== undefined && t.shape[0] !== len) fail(op, `'${name}' has ${t.shape[0]} entries, expected ${len}`);
  return t.shape[0]!;
}

/** Rows, the sparse inputs' count, and X's [k, f], validated per format. */
export function spmmGeometry(
  op: SpmmOpName,
  attrs: SpmmAttrs,
  inputs: readonly TensorDesc[],
): { m: number; k: number; f: number } {
  const sparseInputs = { spmm_coo: 3, spmm_csr: 3, spmm_ell: 2, spmm_bsr: 3, spmm_hyb: 2 }[op];
  if (inputs.length !== sparseInputs + 1) fail(op, `takes ${sparseInputs + 1} inputs, ${inputs.length} given`);
  const x = inputs[sparseInputs]!;
  if (x.dtype !== 'f32' || x.shape.length !== 2)
    fail(op, `x must be a 2-D f32 tensor [k, f], got ${x.dtype} [${x.shape.join(', ')}]`);
  const [k, f] = x.shape as [number, number];
  const why = whySpmmScheduleInvalid(attrs.schedule, f);
  if (why) fail(op, why);
  const needM = () => {
    if (!Number.isInteger(attrs.m) || attrs.m! < 0) fail(op, `attrs.m (rows) must be a non-negative integer`);
    return attrs.m!;
  };
  switch (op) {
    case 'spmm_coo': {
      const nnz = expect1d(op, 'rows', inputs[0], 'i32');
      expect1d(op, 'cols', inputs[1], 'i32', nnz);
      expect1d(op, 'vals', inputs[2], 'f32', nnz);
      return { m: needM(), k, f };
    }
    case 'spmm_csr': {
      const m = expect1d(op, 'indptr', inputs[0], 'i32') - 1;
      if (m < 0) fail(op, 'indptr needs at least one entry');
      const nnz = expect1d(op, 'indices', inputs[1], 'i32');
      expect1d(op, 'vals', inputs[2], 'f32', nnz);
      return { m, k, f };
    }
    case 'spmm_ell': {
      const [c, v] = inputs as [TensorDesc, TensorDesc];
      if (c.dtype !== 'i32' || c.shape.length !== 2) fail(op, `cols must be a 2-D i32 tensor [m, width]`);
      if (v.dtype !== 'f32' || v.shape.join() !== c.shape.join()) fail(op, `vals must be f32 of the shape of cols`);
      return { m: c.shape[0]!, k, f };
    }
    case 'spmm_bsr': {
      const m = needM();
      const b = attrs.block!;
      if (!Number.isInteger(b) || b < 2 || b > 32) fail(op, `attrs.block must be an integer in 2..32, got ${b}`);
      expect1d(op, 'indptr', inputs[0], 'i32', Math.ceil(m / b) + 1);
      const nb = expect1d(op, 'indices', inputs[1], 'i32');
      const bl = inputs[2]!;
      if (bl.dtype !== 'f32' || bl.shape.join() !== [nb, b, b].join())
        fail(op, `blocks must be f32 [${nb}, ${b}, ${b}], got ${bl.dtype} [${bl.shape.join(', ')}]`);
      return { m, k, f };
    }
    case 'spmm_hyb': {
      const m = needM();
      if (!attrs.layout || !Array.isArray(attrs.layout.parts)) fail(op, 'attrs.layout (the packed parts) is missing');
      expect1d(op, 'index', inputs[0], 'i32');
      expect1d(op, 'values', inputs[1], 'f32');
      return { m, k, f };
    }
  }
}

/** The nonzeros of an op's sparse inputs (decoded to float64), for the reference and the check. */
function walkOf(
  op: SpmmOpName,
  attrs: SpmmAttrs,
  ins: readonly Float64Array[],
  descs: readonly TensorDesc[],
): NonzeroWalk {
  switch (op) {
    case 'spmm_coo':
      return walkCoo(ins[0]!, ins[1]!, ins[2]!);
    case 'spmm_csr':
      return walkCsr(ins[0]!, ins[1]!, ins[2]!);
    case 'spmm_ell':
      return walkEll(ins[0]!, ins[1]!, descs[0]!.shape[0]!, descs[0]!.shape[1]!);
    case 'spmm_bsr':
      return walkBsr(ins[0]!, ins[1]!, ins[2]!, attrs.m!, descs[3]!.shape[0]!, attrs.block!);
    case 'spmm_hyb':
      return walkHyb(ins[0]!, ins[1]!, attrs.layout!);
  }
}

function spmmCheck(op: SpmmOpName): CheckFn<SpmmAttrs> {
  return (attrs, ins, got, _want, descs) => {
    const { m, f } = spmmGeometry(op, attrs, descs);
    const walk = walkOf(op, attrs, ins, descs);
    const { y, mag } = spmmFromWalk(walk, m, ins[ins.length - 1]!, f);
    const terms = new Float64Array(m);
    walk((i) => terms[i]++);
    return compareWithBound(got[0]!, y, mag, (e) => terms[Math.floor(e / f)]!);
  };
}

export function compareWithBound(
  got: Float64Array,
  want: Float64Array,
  mag: Float64Array,
  terms: (e: number) => number,
): string | null {
  if (got.length !== want.length) return `length ${got.length}, expected ${want.length}`;
  let bad = 0;
  let worst = -1;
  let worstRatio = 0;
  for (let e = 0; e < got.length; e++) {
    const err = Math.abs(got[e]! - want[e]!);
    const ratio = Number.isNaN(err) ? Infinity : err / f32SumTolerance(terms(e), mag[e]!, want[e]!);
    if (ratio > 1) {
      bad++;
      if (ratio > worstRatio || worst < 0) [worst, worstRatio] = [e, ratio];
    }
  }
  return bad === 0
    ? null
    : `${bad}/${got.length} outside the f32 summation bound; worst at [${worst}]: got ${got[worst]}, want ${want[worst]}`;
}

/** Small matrices with the shapes that break kernels; sizes stay within what lavapipe runs quickly. */
export function caseMatrices(rng: Rng): { label: string; coo: Coo; seed: number }[] {
  const s = () => rng.int(1, 2 ** 30);
  const s1 = s();
  const s2 = s();
  const s3 = s();
  const s4 = s();
  const s5 = s();
  const s6 = s();
  return [
    { label: `random 37x29 empty rows (seed ${s1})`, coo: randomCoo(s1, 37, 29, 0.15, [0, 5, 36]), seed: s1 },
    { label: `rmat 2^7 ef4 (seed ${s2})`, coo: rmatCoo(s2, { scale: 7, edgeFactor: 4 }), seed: s2 },
    {
      label: `random 50x41 dense row 7 (seed ${s3}, ${s4})`,
      coo: withDenseRow(s4, randomCoo(s3, 50, 41, 0.05), 7),
      seed: s3,
    },
    // one row of 700 entries among rows of about 3: longer than any workgroup's stride over a row
    {
      label: `random 40x700 huge row 17 (seed ${s5}, ${s6})`,
      coo: withDenseRow(s6, randomCoo(s5, 40, 700, 0.004), 17),
      seed: s5,
    },
  ];
}

const CASE_SCHEDULES: readonly SpmmSchedule[] = [
  { threadsPerRow: 4, rowsPerWorkgroup: 8, vec4: false },
  { threadsPerRow: 8, rowsPerWorkgroup: 4, vec4: true },
  { threadsPerRow: 2, rowsPerWorkgroup: 32, vec4: false },
  { threadsPerRow: 32, rowsPerWorkgroup: 2, vec4: true },
];
const CASE_FEATURES = [13, 32, 8, 16];

function formatFor(op: SpmmOpName, rng: Rng): FormatSpec {
  switch (op) {
    case 'spmm_coo':
      return { kind: 'coo' };
    case 'spmm_csr':
      return { kind: 'csr' };
    case 'spmm_ell':
      return { kind: 'ell' };
    case 'spmm_bsr':
      return { kind: 'bsr', block: rng.pick([2, 3, 4, 8, 16, 32]) };
    case 'spmm_hyb':
      return { kind: 'hyb', maxWidth: rng.pick([2, 4, 8]) };
  }
}

function spmmCases(op: SpmmOpName, rng: Rng): OpCase<SpmmAttrs>[] {
  return caseMatrices(rng).map(({ label, coo }, i) => {
    const drawn = formatFor(op, rng);
    // the huge row's hybrid also splits its rows over 16 entries (the split part, `row-split.ts`)
    const spec: FormatSpec = drawn.kind === 'hyb' && i === 3 ? { ...drawn, split: 16 } : drawn;
    const dev = deviceLayout(toFormat(coo, spec));
    const schedule = CASE_SCHEDULES[i]!;
    const f = CASE_FEATURES[i]!;
    const x: CaseInput = randomInput(rng, 'f32', [coo.k, f]);
    return {
      label: `${label} ${spec.kind}${spec.kind === 'bsr' ? spec.block : ''}${spec.kind === 'hyb' && spec.split ? `s${spec.split}` : ''} f${f} t${schedule.threadsPerRow}r${schedule.rowsPerWorkgroup}${schedule.vec4 ? 'v4' : ''}`,
      attrs: { ...dev.attrs, schedule },
      inputs: [...dev.arrays, x],
    };
  });
}

function spmmOp(op: SpmmOpName) {
  return defineOp<SpmmAttrs>({
    name: op,
    outputs(attrs, inputs) {
      const { m, f } = spmmGeometry(op, attrs, inputs);
      return [{ dtype: 'f32', shape: [m, f] }];
    },
    reference(attrs, ins, descs) {
      const { m, f } = spmmGeometry(op, attrs, descs);
      return [spmmFromWalk(walkOf(op, attrs, ins, descs), m, ins[ins.length - 1]!, f).y];
    },
    cases: (rng) => spmmCases(op, rng),
    tolerance: () => ({ abs: 1e-5, rel: 1e-5 }),
    check: spmmCheck(op),
  });
}

export function sddmmGeometry(
  attrs: SddmmAttrs,
  inputs: readonly TensorDesc[],
): { m: number; n: number; d: number; nnz: number } {
  const op = 'sddmm_csr';
  if (inputs.length !== 4) fail(op, `takes 4 inputs (indptr, indices, a, b), ${inputs.length} given`);
  const m = expect1d(op, 'indptr', inputs[0], 'i32') - 1;
  if (m < 0) fail(op, 'indptr needs at least one entry');
  const nnz = expect1d(op, 'indices', inputs[1], 'i32');
  const [a, b] = [inputs[2]!, inputs[3]!];
  if (a.dtype !== 'f32' || a.shape.length !== 2 || a.shape[0] !== m)
    fail(op, `a must be f32 [${m}, d], got ${a.dtype} [${a.shape.join(', ')}]`);
  const d = a.shape[1]!;
  if (b.dtype !== 'f32' || b.shape.length !== 2 || b.shape[1] !== d)
    fail(op, `b must be f32 [n, ${d}], got ${b.dtype} [${b.shape.join(', ')}]`);
  const why = whySddmmScheduleInvalid(attrs.schedule, d);
  if (why) fail(op, why);
  return { m, n: b.shape[0]!, d, nnz };
}

const SDDMM_CASE_SCHEDULES: readonly SddmmSchedule[] = [
  { lanes: 4, nnzPerWorkgroup: 16, vec4: false },
  { lanes: 8, nnzPerWorkgroup: 8, vec4: true },
  { lanes: 1, nnzPerWorkgroup: 64, vec4: true },
  { lanes: 4, nnzPerWorkgroup: 32, vec4: false },
];
const SDDMM_CASE_D = [13, 32, 8, 24];

export const sddmmCsrOp = defineOp<SddmmAttrs>({
  name: 'sddmm_csr',
  outputs(attrs, inputs) {
    return [{ dtype: 'f32', shape: [sddmmGeometry(attrs, inputs).nnz] }];
  },
  reference(attrs, [indptr, indices, a, b], descs) {
    return [sddmmCsr(indptr!, indices!, a!, b!, sddmmGeometry(attrs, descs).d).out];
  },
  cases(rng) {
    return caseMatrices(rng).map(({ label, coo }, i) => {
      const dev = deviceLayout(toFormat(coo, { kind: 'csr' }));
      const d = SDDMM_CASE_D[i]!;
      const schedule = SDDMM_CASE_SCHEDULES[i]!;
      return {
        label: `${label} d${d} l${schedule.lanes}n${schedule.nnzPerWorkgroup}${schedule.vec4 ? 'v4' : ''}`,
        attrs: { schedule },
        inputs: [
          dev.arrays[0]!,
          dev.arrays[1]!,
          randomInput(rng, 'f32', [coo.m, d]),
          randomInput(rng, 'f32', [coo.k, d]),
        ],
      };
    });
  },
  tolerance: () => ({ abs: 1e-5, rel: 1e-5 }),
  check(attrs, [indptr, indices, a, b], got, _want, descs) {
    const { d } = sddmmGeometry(attrs, descs);
    const { out, mag } = sddmmCsr(indptr!, indices!, a!, b!, d);
    return compareWithBound(got[0]!, out, mag, () => d);
  },
});

export const SPMM_OP_SPECS = (['spmm_coo', 'spmm_csr', 'spmm_ell', 'spmm_bsr', 'spmm_hyb'] as const).map(spmmOp);
export const SPARSE_OPS = [...SPMM_OP_SPECS, sddmmCsrOp];
export type { Attrs };
