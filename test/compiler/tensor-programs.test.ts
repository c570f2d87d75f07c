import { describe, expect, it } from 'vitest';
import { sym, Sym } from '../../src/ir/sym/sym.js';
import { interpretProgram } from '../../src/ir/tir/interpret.js';
import type { TensorProgram } from '../../src/ir/tir/program.js';
import { printProgram } from '../../src/ir/printer.js';
import { parseModule } from '../../src/ir/parser.js';
import {
  batchedMatmulProgram,
  binaryBody,
  concatProgram,
  elementwiseProgram,
  permuteProgram,
  reduceProgram,
  scaleBody,
  sliceProgram,
  unaryBody,
} from '../../src/compiler/legalize/tensor-programs.js';
import { launchGrid, launchUniforms } from '../../src/compiler/codegen/wgsl-launch.js';
import { generateWgsl } from '../../src/compiler/codegen/wgsl-program.js';
import { type DType, roundTo, toFloat64, toHost } from '../../src/tensor/dtype.js';
import { Rng } from '../../src/util/rng.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { gpuBackend, gpuSkipReason } from '../gpu-setup.js';
import { CpuBackend } from '../../src/backends/cpu/cpu-backend.js';
import { generateJs, instantiateJs } from '../../src/compiler/codegen/js-program.js';
import { closureProgram } from '../../src/compiler/codegen/js-program-closures.js';

const n = sym('n');
const c = sym('c');
const S = (...d: (Sym | number)[]) => d.map((x) => (typeof x === 'number' ? Sym.const(x) : x));

interface Case {
  label: string;
  prog: TensorProgram;
  env: Record<string, number>;
  /** Plain reference: output values from input arrays. */
  ref: (xs: Float64Array[], shapes: number[][]) => number[];
}

function cases(): Case[] {
  const env = { n: 5, c: 7 };
  return [
    {
      label: 'broadcast add',
      env,
      prog: elementwiseProgram(
        'add',
        [
          { dtype: 'f32', shape: S(n, c) },
          { dtype: 'f32', shape: S(c) },
        ],
        { dtype: 'f32', shape: S(n, c) },
        binaryBody('add'),
      ),
      ref: ([a, b]) => Array.from(a!, (v, i) => v + b![i % 7]!),
    },
    {
      label: 'silu of f16 into f16 (packed pairs)',
      env,
      prog: {
        ...elementwiseProgram(
          'silu',
          [{ dtype: 'f16', shape: S(n, c) }],
          { dtype: 'f16', shape: S(n, c) },
          unaryBody('silu'),
        ),
        schedule: { workgroupSize: 64, elemsPerThread: 2, reduction: 'thread' },
      },
      ref: ([a]) => Array.from(a!, (v) => v / (1 + Math.exp(-v))),
    },
    {
      label: 'scale bf16 into f32',
      env,
      prog: elementwiseProgram(
        'scale',
        [{ dtype: 'bf16', shape: S(n, 1, c) }],
        { dtype: 'f32', shape: S(n, 1, c) },
        scaleBody(0.5),
      ),
      ref: ([a]) => Array.from(a!, (v) => v * 0.5),
    },
    {
      label: 'permute (n, c, 3) → (3, n, c)',
      env,
      prog: permuteProgram('pm', { dtype: 'f32', shape: S(n, c, 3) }, [2, 0, 1]),
      ref: ([a]) => {
        const o: number[] = [];
        for (let k = 0; k < 3; k++)
          for (let i = 0; i < 5; i++) for (let j = 0; j < 7; j++) o.push(a![(i * 7 + j) * 3 + k]!);
        return o;
      },
    },
    {
      label: 'concat on axis 1',
      env,
      prog: concatProgram(
        'cat',
        [
          { dtype: 'f32', shape: S(n, 2) },
          { dtype: 'f32', shape: S(n, c) },
        ],
        1,
        S(n, c.add(2)),
      ),
      ref: ([a, b]) => {
        const o: number[] = [];
        for (let i = 0; i < 5; i++) {
          o.push(a![2 * i]!, a![2 * i + 1]!);
          for (let j = 0; j < 7; j++) o.push(b![i * 7 + j]!);
        }
        return o;
      },
    },
    {
      label: 'slice axis 1 from 2 to c',
      env,
      prog: sliceProgram('sl', { dtype: 'f32', shape: S(n, c) }, 1, Sym.const(2), S(n, c.sub(2))),
      ref: ([a]) => {
        const o: number[] = [];
        for (let i = 0; i < 5; i++) for (let j = 2; j < 7; j++) o.push(a![i * 7 + j]!);
        return o;
      },
    },
    {
      label: 'mean over last axis',
      env,
      prog: reduceProgram('mean', 'mean', { dtype: 'f32', shape: S(n, c) }, [1], false, S(n)),
      ref: ([a]) => Array.from({ length: 5 }, (_, i) => a!.slice(i * 7, i * 7 + 7).reduce((x, y) => x + y, 0) / 7),
    },
    {
      label: 'max over axis 0, kept, workgroup strategy',
      env: { n: 300, c: 3 },
      prog: {
        ...reduceProgram('mx', 'max', { dtype: 'f32', shape: S(n, c) }, [0], true, S(1, c)),
        schedule: { workgroupSize: 64, elemsPerThread: 1, reduction: 'workgroup' },
      },
      ref: ([a]) => [0, 1, 2].map((j) => Math.max(...Array.from({ length: 300 }, (_, i) => a![i * 3 + j]!))),
    },
    {
      label: 'batched matmul with broadcast batch and transB',
      env: { n: 3, c: 4 },
      prog: batchedMatmulProgram('bmm', { dtype: 'f32', shape: S(2, n, c) }, { dtype: 'f32', shape: S(5, c) }, true, {
        dtype: 'f32',
        shape: S(2, n, 5),
      }),
      ref: ([a, b]) => {
        const o: number[] = [];
        for (let z = 0; z < 2; z++)
          for (let i = 0; i < 3; i++)
            for (let j = 0; j < 5; j++) {
              let s = 0;
              for (let k = 0; k < 4; k++) s += a![(z * 3 + i) * 4 + k]! * b![j * 4 + k]!;
              o.push(s);
            }
        return o;
      },
    },
  ];
}

function inputsFor(p: TensorProgram, env: Record<string, number>, rng: Rng) {
  return p.inputs.map((b) => {
    const shape = b.shape.map((d) => d.eval(env));
    const len = shape.reduce((a, d) => a * d, 1);
    const data = Float64Array.from(rng.normals(len), (v) => roundTo(b.dtype, v));
    return { shape, data, dtype: b.dtype };
  });
}

const seed = testSeed();

describe(`tensor programs on the CPU interpreter (${seedNote(seed)})`, () => {
  for (const k of cases()) {
    it(k.label, () => {
      const rng = new Rng(seed);
      const ins = inputsFor(k.prog, k.env, rng);
      const got = interpretProgram(k.prog, ins, k.env);
      const want = k.ref(
        ins.map((x) => x.data),
        ins.map((x) => x.shape),
      );
      expect(got.length).toBe(want.length);
      want.forEach((w, i) => expect(got[i]).toBeCloseTo(w, 9));
      // the printed loop nest parses back to the same program
      const text = printProgram(k.prog);
      expect(printProgram(parseModule(text).programs.get(k.prog.name)!)).toBe(text);
    });
  }

  it('rejects inputs whose shapes disagree with the program', () => {
    const k = cases()[0]!;
    expect(() =>
      interpretProgram(
        k.prog,
        [
          { shape: [5, 6], data: new Float64Array(30) },
          { shape: [7], data: new Float64Array(7) },
        ],
        k.env,
      ),
    ).toThrow(/input 'x0' has shape \[5, 6\], expected \[5, 7\]/);
  });
});

describe(`generated JavaScript on the CPU backend matches the interpreter (${seedNote(seed)})`, () => {
  const tol = (dt: DType) => (dt === 'f16' ? 2e-3 : dt === 'bf16' ? 1e-2 : 2e-6);
  const cpu = new CpuBackend();
  for (const form of ['new Function', 'closure tree'] as const) {
    for (const k of cases()) {
      it(`${k.label} (${form})`, async () => {
        const rng = new Rng(seed ^ 0x4321);
        const ins = inputsFor(k.prog, k.env, rng);
        const want = interpretProgram(k.prog, ins, k.env);
        const tensors = ins.map((x) => {
          const t = cpu.alloc({ dtype: x.dtype, shape: x.shape });
          cpu.write(t, toHost(x.dtype, x.data));
          return t;
        });
        const out = cpu.alloc({ dtype: k.prog.output.dtype, shape: k.prog.output.shape.map((d) => d.eval(k.env)) });
        cpu.write(out, toHost(k.prog.output.dtype, new Float64Array(want.length).fill(NaN)));
        const js = generateJs(k.prog);
        const fn = form === 'new Function' ? instantiateJs(js) : closureProgram(js.program, js.dims);
        cpu.runHostProgram(
          fn,
          [...tensors, out],
          js.dims.map((d) => k.env[d]!),
        );
        const got = toFloat64(out.dtype, await cpu.read(out));
        const t = tol(k.prog.output.dtype);
        for (let i = 0; i < want.length; i++) {
          const ok = Math.abs(got[i]! - want[i]!) <= t * (1 + Math.abs(want[i]!));
          if (!ok) expect.fail(`${k.label}: element ${i} got ${got[i]} want ${want[i]}`);
        }
        [...tensors, out].forEach((x) => cpu.free(x));
      });
    }
  }
});

const gpu = await gpuBackend();

describe.skipIf(!gpu)(
  `generated WGSL on WebGPU matches the interpreter (${seedNote(seed)})${gpu ? '' : ` (skipped: ${gpuSkipReason()})`}`,
  () => {
    const tol = (dt: DType) => (dt === 'f16' ? 2e-3 : dt === 'bf16' ? 1e-2 : 2e-5);
    for (const k of cases()) {
      it(k.label, async () => {
        const b = gpu!;
        const rng = new Rng(seed ^ 0x1234);
        const ins = inputsFor(k.prog, k.env, rng);
        const want = interpretProgram(k.prog, ins, k.env);
        const tensors = ins.map((x) => {
          const t = b.alloc({ dtype: x.dtype, shape: x.shape });
          b.write(t, toHost(x.dtype, x.data));
          return t;
        });
        const outShape = k.prog.output.shape.map((d) => d.eval(k.env));
        const out = b.alloc({ dtype: k.prog.output.dtype, shape: outShape });
        b.write(out, toHost(k.prog.output.dtype, new Float64Array(want.length).fill(NaN)));
        const w = generateWgsl(k.prog);
        b.runProgram(
          { wgsl: w.wgsl, entryPoint: w.entryPoint, workgroups: launchGrid(k.prog, k.env) },
          [...tensors, out],
          launchUniforms(w.dims, k.env),
        );
        const got = toFloat64(out.dtype, await b.read(out));
        const t = tol(k.prog.output.dtype) * 10;
        for (let i = 0; i < want.length; i++) {
          const ok = Math.abs(got[i]! - want[i]!) <= t * (1 + Math.abs(want[i]!));
          if (!ok) expect.fail(`${k.label}: element ${i} got ${got[i]} want ${want[i]}`);
        }
        [...tensors, out].forEach((x) => b.free(x));
      });
    }
  },
);
