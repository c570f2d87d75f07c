/**
 * SpMM of every format lowered to a loop nest and scheduled by TIR transformations
 * (`src/sparse/spmm-lower.ts`, `spmm-schedule.ts`), run as the generated JavaScript on the CPU
 * against a float64 SpMM over the COO triples written here: random matrices with empty rows,
 * R-MAT (power law), a single dense row, one huge row, an all-empty matrix; scalar and vec4
 * schedules. The WebGPU side of the same programs is the op conformance and `spmm.test.ts`.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { generateLoopJs } from '../../src/compiler/codegen/js-loop-nest.js';
import { generateLoopWgsl } from '../../src/compiler/codegen/wgsl-loop-nest.js';
import { type Coo, type FormatSpec, type SpmmSchedule, formatName, toFormat } from '../../src/sparse/index.js';
import { cooFromTriples } from '../../src/sparse/coo.js';
import { deviceLayout } from '../../src/sparse/device-layout.js';
import { randomCoo, rmatCoo, withDenseRow } from '../../src/sparse/generate.js';
import type { SpmmAttrs } from '../../src/sparse/ops.js';
import { spmmEnv, spmmProgram } from '../../src/sparse/spmm-schedule.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { Rng } from '../../src/util/rng.js';
import { checkSpmm } from './spmm-oracle.js';

const seed = testSeed();
afterAll(() => console.log(`sparse spmm loop nests: ${seedNote(seed)}`));

const matrices: { label: string; coo: Coo; f: number }[] = [
  { label: 'random 60x41 empty rows', coo: randomCoo(seed, 60, 41, 0.1, [0, 7, 59]), f: 12 },
  { label: 'rmat 2^7 ef6 (power law)', coo: rmatCoo(seed + 1, { scale: 7, edgeFactor: 6 }), f: 16 },
  { label: 'single dense row 1x50', coo: withDenseRow(seed + 2, cooFromTriples(1, 50, [], [], []), 0), f: 8 },
  { label: 'one huge row 40x120', coo: withDenseRow(seed + 3, randomCoo(seed + 4, 40, 120, 0.01), 13), f: 13 },
  { label: 'all rows empty 9x5', coo: cooFromTriples(9, 5, [], [], []), f: 4 },
];

const formats: FormatSpec[] = [
  { kind: 'csr' },
  { kind: 'coo' },
  { kind: 'ell' },
  { kind: 'bsr', block: 4 },
  { kind: 'bsr', block: 3 },
  { kind: 'hyb', maxWidth: 4 },
];

const schedules: SpmmSchedule[] = [
  { threadsPerRow: 1, rowsPerWorkgroup: 64, vec4: false },
  { threadsPerRow: 4, rowsPerWorkgroup: 8, vec4: false },
  { threadsPerRow: 2, rowsPerWorkgroup: 16, vec4: true },
];

describe(`SpMM loop nests as generated JavaScript (${seedNote(seed)})`, () => {
  for (const { label, coo, f } of matrices)
    for (const spec of formats)
      for (const s of schedules) {
        if (s.vec4 && f % 4 !== 0) continue;
        it(`${label} ${formatName(spec)} f${f} t${s.threadsPerRow}r${s.rowsPerWorkgroup}${s.vec4 ? 'v4' : ''}`, () => {
          const dev = deviceLayout(toFormat(coo, spec));
          const attrs = { ...dev.attrs, schedule: s } as SpmmAttrs;
          const program = spmmProgram(dev.op, attrs);
          const js = generateLoopJs(program);
          const x = Float32Array.from(new Rng(seed ^ (f * 7919)).normals(coo.k * f));
          const y = new Float32Array(coo.m * f).fill(NaN);
          const descs = [...dev.arrays.map((a) => a.desc), { dtype: 'f32' as const, shape: [coo.k, f] }];
          const env = spmmEnv(dev.op, attrs, descs, coo.m);
          js.run(
            [...dev.arrays.map((a) => a.data as Int32Array | Float32Array), x, y],
            js.dims.map((d) => env[d]!),
          );
          expect(checkSpmm(coo, x, f, y)).toBe('ok');
          // the WGSL of the same program generates (it compiles on the device in the GPU tests)
          expect(generateLoopWgsl(program).wgsl).toContain('@compute');
        });
      }
});
