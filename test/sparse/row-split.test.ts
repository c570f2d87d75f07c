/**
 * The hybrid with split rows (`src/sparse/row-split.ts`): long rows cut into segments, each a
 * workgroup of the fused dispatch writing a partial row, summed by a second dispatch. Checked
 * against the float64 oracle over the COO triples (`spmm-oracle.ts`) on random matrices with empty
 * rows, R-MAT (power law), a single giant row (m = 1), one huge row among short ones, and an
 * all-empty matrix, at f = 1, 4, 13, 32, 128, with segment lengths that cut rows into many
 * segments. On the CPU as the generated JavaScript of both passes; on WebGPU through `Backend.run`
 * (and twice, bit for bit: the partials are summed in a fixed order).
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { Backend } from '../../src/backends/backend.js';
import { generateLoopJs } from '../../src/compiler/codegen/js-loop-nest.js';
import {
  type Coo,
  type FormatSpec,
  type SpmmSchedule,
  formatName,
  scheduleName,
  spmm,
  toCoo,
  toFormat,
  upload,
} from '../../src/sparse/index.js';
import { cooFromTriples } from '../../src/sparse/coo.js';
import { deviceLayout } from '../../src/sparse/device-layout.js';
import type { Hyb } from '../../src/sparse/formats.js';
import { randomCoo, rmatCoo, withDenseRow } from '../../src/sparse/generate.js';
import type { SpmmAttrs } from '../../src/sparse/ops.js';
import { hybSplitReduceProgram, spmmEnv, spmmProgram } from '../../src/sparse/spmm-schedule.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { Rng } from '../../src/util/rng.js';
import { gpuBackend, gpusOrSkip } from '../gpu-setup.js';
import { checkSpmm } from './spmm-oracle.js';

const seed = testSeed();
const backend = await gpuBackend();
afterAll(() => console.log(`sparse row split: ${seedNote(seed)}`));

const giant = (s: number, k: number) => withDenseRow(s, cooFromTriples(1, k, [], [], []), 0);

const matrices: { label: string; coo: Coo; spec: FormatSpec }[] = [
  {
    label: 'random 200x150 d0.04 empty rows',
    coo: randomCoo(seed, 200, 150, 0.04, [0, 1, 77, 199]),
    spec: { kind: 'hyb', maxWidth: 2, split: 4 },
  },
  {
    label: 'rmat 2^8 ef8',
    coo: rmatCoo(seed + 1, { scale: 8, edgeFactor: 8 }),
    spec: { kind: 'hyb', maxWidth: 8, split: 16 },
  },
  { label: 'single giant row 1x3000', coo: giant(seed + 2, 3000), spec: { kind: 'hyb', maxWidth: 32, split: 64 } },
  {
    label: 'one huge row among short ones 90x300',
    coo: withDenseRow(seed + 4, randomCoo(seed + 3, 90, 300, 0.006), 44),
    spec: { kind: 'hyb', maxWidth: 4, split: 8 },
  },
  {
    label: 'all rows empty 17x9',
    coo: cooFromTriples(17, 9, [], [], []),
    spec: { kind: 'hyb', maxWidth: 4, split: 4 },
  },
];

const FEATURES = [1, 4, 13, 32, 128];

/** One schedule per f, the scalar ones where f is not a multiple of 4. */
function scheduleFor(f: number): SpmmSchedule {
  if (f === 1) return { threadsPerRow: 1, rowsPerWorkgroup: 64, vec4: false };
  if (f === 4) return { threadsPerRow: 1, rowsPerWorkgroup: 128, vec4: true };
  if (f === 13) return { threadsPerRow: 4, rowsPerWorkgroup: 16, vec4: false };
  if (f === 32) return { threadsPerRow: 8, rowsPerWorkgroup: 32, vec4: true };
  return { threadsPerRow: 32, rowsPerWorkgroup: 8, vec4: true };
}

describe(`split rows: the decomposition (${seedNote(seed)})`, () => {
  for (const { label, coo, spec } of matrices)
    it(`${label} ${formatName(spec)}: segments ≤ S, cover each row, round-trip to the same COO`, () => {
      const h = toFormat(coo, spec) as Hyb;
      expect(toCoo(h)).toEqual(coo);
      const S = (spec as { split: number }).split;
      const sp = h.split;
      if (!sp) {
        expect(h.remainder.indptr.length - 1 + h.buckets.reduce((n, b) => n + b.rowIds.length, 0)).toBe(coo.m);
        return;
      }
      for (let r = 0; r < sp.rowIds.length; r++) {
        const first = sp.rowSegs[r]!;
        const last = sp.rowSegs[r + 1]!;
        expect(sp.segPtr[first]).toBe(sp.indptr[r]);
        expect(sp.segPtr[last]).toBe(sp.indptr[r + 1]);
        expect(sp.indptr[r + 1]! - sp.indptr[r]!).toBeGreaterThan(S);
        for (let q = first; q < last; q++) {
          const len = sp.segPtr[q + 1]! - sp.segPtr[q]!;
          expect(len).toBeGreaterThan(0);
          expect(len).toBeLessThanOrEqual(S);
        }
      }
    });

  it('keeps rows of at most S entries out of the split part, and the hubs longest first', () => {
    const coo = rmatCoo(seed + 1, { scale: 8, edgeFactor: 8 });
    const h = toFormat(coo, { kind: 'hyb', maxWidth: 8, split: 16 }) as Hyb;
    for (let r = 0; r < h.remainder.rowIds.length; r++)
      expect(h.remainder.indptr[r + 1]! - h.remainder.indptr[r]!).toBeLessThanOrEqual(16);
    const lens = Array.from(h.split!.rowIds, (_, r) => h.split!.indptr[r + 1]! - h.split!.indptr[r]!);
    expect(lens).toEqual([...lens].sort((a, b) => b - a));
    expect(h.split!.rowIds.length).toBeGreaterThan(0);
  });
});

describe(`split rows as generated JavaScript, both passes (${seedNote(seed)})`, () => {
  for (const { label, coo, spec } of matrices)
    for (const f of FEATURES) {
      const s = scheduleFor(f);
      it(`${label} ${formatName(spec)} f${f} ${scheduleName(s)}`, () => {
        const dev = deviceLayout(toFormat(coo, spec));
        const attrs = { ...dev.attrs, schedule: s } as SpmmAttrs;
        const x = Float32Array.from(new Rng(seed ^ (f * 7919)).normals(coo.k * f));
        const y = new Float32Array(coo.m * f).fill(NaN);
        const descs = [...dev.arrays.map((a) => a.desc), { dtype: 'f32' as const, shape: [coo.k, f] }];
        const env = spmmEnv(dev.op, attrs, descs, coo.m);
        const [idx, vals] = dev.arrays.map((a) => a.data) as [Int32Array, Float32Array];
        const fused = generateLoopJs(spmmProgram(dev.op, attrs));
        const split = attrs.layout!.split;
        const part = new Float32Array(Math.max(1, (split?.segs ?? 0) * f)).fill(NaN);
        fused.run(
          split ? [idx, vals, x, y, part] : [idx, vals, x, y],
          fused.dims.map((d) => env[d]!),
        );
        if (split) {
          const reduce = generateLoopJs(hybSplitReduceProgram(s));
          reduce.run(
            [idx, part, y],
            reduce.dims.map((d) => env[d]!),
          );
        }
        expect(checkSpmm(coo, x, f, y)).toBe('ok');
      });
    }
});

async function runOnce(b: Backend, coo: Coo, spec: FormatSpec, s: SpmmSchedule, x: Float32Array, f: number) {
  const a = upload(b, toFormat(coo, spec));
  const xt = b.alloc({ dtype: 'f32', shape: [coo.k, f] });
  const yt = b.alloc({ dtype: 'f32', shape: [coo.m, f] });
  try {
    b.write(xt, x);
    b.write(yt, new Float32Array(coo.m * f).fill(NaN)); // an unwritten output fails
    spmm(b, a, s, xt, yt);
    return (await b.read(yt)) as Float32Array;
  } finally {
    a.free();
    b.free(xt);
    b.free(yt);
  }
}

describe(`split rows on WebGPU against the float64 oracle (${seedNote(seed)})`, () => {
  for (const { label, coo, spec } of matrices)
    for (const f of FEATURES)
      for (const { backend: b } of gpusOrSkip(backend ? [{ backend }] : [], `${label} f${f}`)) {
        const s = scheduleFor(f);
        it(`${label} ${formatName(spec)} f${f} ${scheduleName(s)}`, async () => {
          const x = Float32Array.from(new Rng(seed ^ (f * 7919)).normals(coo.k * f));
          const got = await runOnce(b, coo, spec, s, x, f);
          expect(checkSpmm(coo, x, f, got)).toBe('ok');
          const again = await runOnce(b, coo, spec, s, x, f);
          expect(Buffer.from(again.buffer).equals(Buffer.from(got.buffer))).toBe(true);
        });
      }
});
