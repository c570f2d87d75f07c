/**
 * CSR SpMM lowered to a tensor program (`src/sparse/spmm-tir.ts`): the interpreter, the generated
 * JavaScript (source and closure forms) and the generated WGSL on WebGPU, each against a float64
 * SpMM over the COO triples, on random matrices with empty rows, R-MAT (power-law) matrices, one
 * huge row and an all-empty matrix. The registered `spmm_csr` kernel (the scheduled loop nest)
 * runs on the same inputs beside it.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { type Coo, csrFromCoo, upload, spmm } from '../../src/sparse/index.js';
import { cooFromTriples } from '../../src/sparse/coo.js';
import { randomCoo, rmatCoo, withDenseRow } from '../../src/sparse/generate.js';
import { csrSpmmEnv, csrSpmmProgram } from '../../src/sparse/spmm-tir.js';
import { interpretProgram } from '../../src/ir/tir/interpret.js';
import { DEFAULT_SCHEDULE, type TensorProgram } from '../../src/ir/tir/program.js';
import { generateJs, instantiateJs } from '../../src/compiler/codegen/js-program.js';
import { closureProgram } from '../../src/compiler/codegen/js-program-closures.js';
import { launchGrid, launchUniforms } from '../../src/compiler/codegen/wgsl-launch.js';
import { generateWgsl } from '../../src/compiler/codegen/wgsl-program.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { Rng } from '../../src/util/rng.js';
import { checkSpmm } from './spmm-oracle.js';
import { gpuBackend, gpuSkipReason } from '../gpu-setup.js';

const seed = testSeed();
afterAll(() => console.log(`sparse spmm through TIR: ${seedNote(seed)}`));

const matrices: { label: string; coo: Coo; f: number }[] = [
  {
    label: 'random 200x150 d0.04, rows 0 1 77 199 empty',
    coo: randomCoo(seed, 200, 150, 0.04, [0, 1, 77, 199]),
    f: 32,
  },
  { label: 'random 60x40 d0.1, odd f', coo: randomCoo(seed + 4, 60, 40, 0.1, [59]), f: 13 },
  { label: 'rmat 2^8 ef8 (power law)', coo: rmatCoo(seed + 1, { scale: 8, edgeFactor: 8 }), f: 64 },
  {
    label: 'one huge row among short ones 90x300',
    coo: withDenseRow(seed + 3, randomCoo(seed + 2, 90, 300, 0.006), 44),
    f: 16,
  },
  { label: 'all rows empty 17x9', coo: cooFromTriples(17, 9, [], [], []), f: 8 },
];

function operands(coo: Coo, f: number) {
  const csr = csrFromCoo(coo);
  const x = Float32Array.from(new Rng(seed ^ (f * 7919)).normals(coo.k * f));
  return { csr, x, env: csrSpmmEnv(csr, f) };
}

describe(`CSR SpMM as a tensor program on the CPU (${seedNote(seed)})`, () => {
  const prog = csrSpmmProgram();
  for (const { label, coo, f } of matrices) {
    it(`interpreter: ${label} f${f}`, () => {
      const { csr, x, env } = operands(coo, f);
      const got = interpretProgram(
        prog,
        [
          { shape: [csr.m + 1], data: Float64Array.from(csr.indptr) },
          { shape: [csr.indices.length], data: Float64Array.from(csr.indices) },
          { shape: [csr.vals.length], data: Float64Array.from(csr.vals) },
          { shape: [csr.k, f], data: Float64Array.from(x) },
        ],
        env,
      );
      expect(checkSpmm(coo, x, f, got)).toBe('ok');
    });
    it(`generated JavaScript, source and closure forms: ${label} f${f}`, () => {
      const { csr, x, env } = operands(coo, f);
      const js = generateJs(prog);
      const dims = js.dims.map((d) => env[d]!);
      for (const fn of [instantiateJs(js), closureProgram(prog, js.dims)]) {
        const y = new Float32Array(csr.m * f).fill(NaN);
        fn([csr.indptr, csr.indices, csr.vals, x, y], dims);
        expect(checkSpmm(coo, x, f, y)).toBe('ok');
      }
    });
  }

  it('the interpreter rejects a range outside the declared extent', () => {
    const bad = [0, 5];
    expect(() =>
      interpretProgram(
        prog,
        [
          { shape: [2], data: Float64Array.from(bad) },
          { shape: [3], data: new Float64Array(3) },
          { shape: [3], data: new Float64Array(3) },
          { shape: [1, 1], data: new Float64Array(1) },
        ],
        { m: 1, k: 1, nnz: 3, f: 1 },
      ),
    ).toThrow(/range \[0, 5\) outside \[0, 3\)/);
  });

  it('index loads need an integer buffer in both codegens', () => {
    const p: TensorProgram = {
      ...prog,
      inputs: prog.inputs.map((b) => (b.name === 'indptr' ? { ...b, dtype: 'f32' } : b)),
    };
    expect(() => generateWgsl(p)).toThrow(/index load of 'indptr' needs an i32 or u32 buffer/);
    expect(() => generateJs(p)).toThrow(/index load of 'indptr' needs an i32 or u32 buffer/);
  });

  it('a ranged reduction has exactly one extent', () => {
    const p: TensorProgram = { ...prog, reduce: { ...prog.reduce!, extents: [] } };
    expect(() => generateWgsl(p)).toThrow(/one extent/);
  });
});

const gpu = await gpuBackend();

describe.skipIf(!gpu)(
  `CSR SpMM through TIR on WebGPU, beside the spmm_csr kernel (${seedNote(seed)})${gpu ? '' : ` (skipped: ${gpuSkipReason()})`}`,
  () => {
    const schedules = [
      { label: 'a thread per output', s: DEFAULT_SCHEDULE },
      {
        label: 'a workgroup of 32 per output',
        s: { workgroupSize: 32, elemsPerThread: 1, reduction: 'workgroup' as const },
      },
    ];
    for (const { label, coo, f } of matrices)
      for (const { label: sl, s } of schedules)
        it(`${label} f${f}, ${sl}`, async () => {
          const b = gpu!;
          const { csr, x, env } = operands(coo, f);
          const prog = csrSpmmProgram(s);
          const w = generateWgsl(prog);
          const ins = [
            [csr.indptr, 'i32', [csr.m + 1]],
            [csr.indices, 'i32', [csr.indices.length]],
            [csr.vals, 'f32', [csr.vals.length]],
            [x, 'f32', [csr.k, f]],
          ] as const;
          const tensors = ins.map(([data, dtype, shape]) => {
            const t = b.alloc({ dtype, shape: [...shape] });
            b.write(t, data);
            return t;
          });
          const y = b.alloc({ dtype: 'f32', shape: [csr.m, f] });
          const yHand = b.alloc({ dtype: 'f32', shape: [csr.m, f] });
          const hand = upload(b, csr);
          try {
            b.write(y, new Float32Array(csr.m * f).fill(NaN)); // an unwritten output fails
            b.write(yHand, new Float32Array(csr.m * f).fill(NaN));
            b.runProgram!(
              { wgsl: w.wgsl, entryPoint: w.entryPoint, workgroups: launchGrid(prog, env) },
              [...tensors, y],
              launchUniforms(w.dims, env),
            );
            spmm(b, hand, { threadsPerRow: 8, rowsPerWorkgroup: 8, vec4: f % 4 === 0 }, tensors[3]!, yHand);
            const got = (await b.read(y)) as Float32Array;
            const gotHand = (await b.read(yHand)) as Float32Array;
            expect(checkSpmm(coo, x, f, got)).toBe('ok');
            expect(checkSpmm(coo, x, f, gotHand)).toBe('ok');
          } finally {
            hand.free();
            [...tensors, y, yHand].forEach((t) => b.free(t));
          }
        });
  },
);

describe('the CSR SpMM program printed', () => {
  it('shows the data-dependent range and the integer loads, so it never reads as a dense reduction', async () => {
    const { printProgram } = await import('../../src/ir/printer.js');
    const { csrSpmmProgram } = await import('../../src/sparse/spmm-tir.js');
    const text = printProgram(csrSpmmProgram());
    expect(text).toMatch(/r0 in \[indptr\.int\[i0\], indptr\.int\[\(i0 \+ 1\)\]\) within /);
    expect(text).toMatch(/indices\.int\[r0\]/);
  });
});
