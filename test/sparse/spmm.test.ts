/**
 * SpMM of every format on the device against a float64 SpMM written here with plain loops over
 * the COO triples (independent of the formats, the device layouts and the op references), on
 * random and R-MAT matrices and the shapes that break kernels: empty rows, an all-empty matrix, a
 * single dense row, one huge row. f = 32/64/128 (vec4 schedules) and an odd f (scalar).
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { Backend } from '../../src/backends/backend.js';
import {
  type Coo,
  type FormatSpec,
  type SpmmSchedule,
  formatName,
  scheduleName,
  toFormat,
  upload,
  spmm,
} from '../../src/sparse/index.js';
import { cooFromTriples } from '../../src/sparse/coo.js';
import { randomCoo, rmatCoo, withDenseRow } from '../../src/sparse/generate.js';
import { f32SumTolerance } from '../../src/sparse/reference.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { Rng } from '../../src/util/rng.js';
import { gpuBackend, gpusOrSkip } from '../gpu-setup.js';

const seed = testSeed();
const backend = await gpuBackend();
afterAll(() => console.log(`sparse spmm: ${seedNote(seed)}`));

/** The oracle: float64 Y = A·X over the triples, and Σ|a·x| for the tolerance. */
function oracle(a: Coo, x: Float32Array, f: number): { y: Float64Array; mag: Float64Array; terms: Int32Array } {
  const y = new Float64Array(a.m * f);
  const mag = new Float64Array(a.m * f);
  const terms = new Int32Array(a.m);
  for (let e = 0; e < a.vals.length; e++) {
    const i = a.rows[e]!;
    const j = a.cols[e]!;
    terms[i]!++;
    for (let c = 0; c < f; c++) {
      const t = a.vals[e]! * x[j * f + c]!;
      y[i * f + c] += t;
      mag[i * f + c] += Math.abs(t);
    }
  }
  return { y, mag, terms };
}

function hugeRow(s: number): Coo {
  // one row holding every column among rows of 0–3 nonzeros
  const base = randomCoo(s, 90, 300, 0.006);
  return withDenseRow(s + 1, base, 44);
}

const matrices: { label: string; coo: Coo; fs: number[] }[] = [
  {
    label: 'random 200x150 d0.04 with empty rows',
    coo: randomCoo(seed, 200, 150, 0.04, [0, 1, 77, 199]),
    fs: [32, 64, 128, 13],
  },
  { label: 'rmat 2^8 ef8', coo: rmatCoo(seed + 1, { scale: 8, edgeFactor: 8 }), fs: [32, 64, 128] },
  { label: 'single dense row 1x64', coo: withDenseRow(seed + 2, cooFromTriples(1, 64, [], [], []), 0), fs: [32] },
  { label: 'one huge row among short ones 90x300', coo: hugeRow(seed + 3), fs: [32, 13] },
  { label: 'all rows empty 17x9', coo: cooFromTriples(17, 9, [], [], []), fs: [32] },
];

const formats: FormatSpec[] = [
  { kind: 'coo' },
  { kind: 'csr' },
  { kind: 'ell' },
  { kind: 'bsr', block: 4 },
  { kind: 'bsr', block: 16 },
  { kind: 'hyb', maxWidth: 4 },
  { kind: 'hyb', maxWidth: 16 },
];

function scheduleFor(f: number, i: number): SpmmSchedule {
  const vec4 = f % 4 === 0;
  return i % 2 === 0
    ? { threadsPerRow: 8, rowsPerWorkgroup: 8, vec4 }
    : { threadsPerRow: 32, rowsPerWorkgroup: 2, vec4 };
}

/** `spmm` of `coo` in format `spec` under `sched` against the oracle, every output element. */
async function checkSpmm(b: Backend, coo: Coo, spec: FormatSpec, sched: SpmmSchedule, f: number): Promise<void> {
  const rng = new Rng(seed ^ (f * 7919));
  const x = Float32Array.from(rng.normals(coo.k * f));
  const a = upload(b, toFormat(coo, spec));
  const xt = b.alloc({ dtype: 'f32', shape: [coo.k, f] });
  const yt = b.alloc({ dtype: 'f32', shape: [coo.m, f] });
  try {
    b.write(xt, x);
    b.write(yt, new Float32Array(coo.m * f).fill(NaN)); // an unwritten output fails
    spmm(b, a, sched, xt, yt);
    const got = (await b.read(yt)) as Float32Array;
    const want = oracle(coo, x, f);
    let bad = 0;
    let first = '';
    for (let e = 0; e < got.length; e++) {
      const tol = f32SumTolerance(want.terms[Math.floor(e / f)]!, want.mag[e]!, want.y[e]!);
      if (!(Math.abs(got[e]! - want.y[e]!) <= tol)) {
        if (!bad) first = `[${Math.floor(e / f)}, ${e % f}] got ${got[e]} want ${want.y[e]}`;
        bad++;
      }
    }
    expect(bad ? `${bad} of ${got.length} wrong, first ${first}` : 'ok').toBe('ok');
  } finally {
    a.free();
    b.free(xt);
    b.free(yt);
  }
}

describe(`SpMM per format against the float64 oracle (${seedNote(seed)})`, () => {
  for (const { label, coo, fs } of matrices)
    describe(`${label} (nnz ${coo.vals.length})`, () => {
      formats.forEach((spec, fi) => {
        for (const f of fs)
          for (const { backend: b } of gpusOrSkip(backend ? [{ backend }] : [], `${formatName(spec)} f${f}`)) {
            const sched = scheduleFor(f, fi);
            it(`${formatName(spec)} f${f} ${scheduleName(sched)}`, () => checkSpmm(b, coo, spec, sched, f));
          }
      });
    });
});

/**
 * The hybrid's long rows at the schedule's extremes: one thread group (t64r1, and more feature
 * threads than f = 32 has vec4 lanes), 256 groups with one feature thread walking f = 13 in 13
 * passes, and f = 128 in four passes of eight threads over 32 groups.
 */
describe(`SpMM hybrid long rows at extreme schedules (${seedNote(seed)})`, () => {
  const cases: { label: string; coo: Coo; f: number; sched: SpmmSchedule }[] = [
    { label: 'huge row', coo: hugeRow(seed + 3), f: 32, sched: { threadsPerRow: 64, rowsPerWorkgroup: 1, vec4: true } },
    {
      label: 'huge row',
      coo: hugeRow(seed + 3),
      f: 13,
      sched: { threadsPerRow: 1, rowsPerWorkgroup: 256, vec4: false },
    },
    {
      label: 'rmat 2^8 ef8',
      coo: rmatCoo(seed + 1, { scale: 8, edgeFactor: 8 }),
      f: 128,
      sched: { threadsPerRow: 8, rowsPerWorkgroup: 32, vec4: true },
    },
  ];
  for (const { label, coo, f, sched } of cases)
    for (const { backend: b } of gpusOrSkip(backend ? [{ backend }] : [], `${label} hyb4 f${f}`))
      it(`${label} hyb4 f${f} ${scheduleName(sched)}`, () => checkSpmm(b, coo, { kind: 'hyb', maxWidth: 4 }, sched, f));
});
