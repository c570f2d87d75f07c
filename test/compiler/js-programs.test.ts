/**
 * Generated JavaScript (both forms: `new Function` source and the closure tree) against the float64
 * interpreter on random tensor programs: broadcast, permuted and wrapped indices, concat-like
 * selects, every unary helper, reductions with epilogues, f32/f16/bf16/i32 storage.
 *
 * Tolerance from the program, not a guess: every float op rounds once in f32 (a helper such as
 * sigmoid a few times), and the error an op makes is at most u = 2⁻²⁴ of the largest magnitude
 * beneath it. The magnitude bound M of each output is itself a tensor program (|loads|, |a|+|b|,
 * |a|·|b|, …, summed over a reduction: an inductive bound, err(e) ≤ 2·u·ops(e)·M(e)), evaluated by the interpreter; the bound is
 * 2·u·ops·M·1.15^depth (the helpers' slopes are below 1.15), plus one unit in the last place of
 * a 16-bit output.
 */
import { describe, expect, it, vi } from 'vitest';
import { CpuBackend } from '../../src/backends/cpu/cpu-backend.js';
import { closureProgram } from '../../src/compiler/codegen/js-program-closures.js';
import { generateJs, instantiateJs } from '../../src/compiler/codegen/js-program.js';
import { printProgram } from '../../src/ir/printer.js';
import { Sym, sym } from '../../src/ir/sym/sym.js';
import { interpretProgram } from '../../src/ir/tir/interpret.js';
import {
  type BufferParam,
  DEFAULT_SCHEDULE,
  type PExpr,
  type ReduceOp,
  type TensorProgram,
  bin,
  flt,
  int,
  load,
  pvar,
  select,
  symToP,
  un,
} from '../../src/ir/tir/program.js';
import type { UnaryOp } from '../../src/ops/expr.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { type DType, roundTo, toFloat64, toHost } from '../../src/tensor/dtype.js';
import { Rng } from '../../src/util/rng.js';

const seed = testSeed();
const U = 2 ** -24;

/** Unary ops with slope ≤ 1.15 (so errors do not grow through them) and the roundings each makes. */
const UNARY: readonly { op: UnaryOp; ops: number; bounded?: number }[] = [
  { op: 'neg', ops: 0 },
  { op: 'abs', ops: 0 },
  { op: 'relu', ops: 0 },
  { op: 'sigmoid', ops: 4, bounded: 1 },
  { op: 'tanh', ops: 1, bounded: 1 },
  { op: 'silu', ops: 5 },
  { op: 'gelu', ops: 10 },
];

interface Trial {
  readonly prog: TensorProgram;
  readonly env: Record<string, number>;
  /** What the tolerance is derived from: float ops per output, slope growth, the magnitude-bound program. */
  readonly tolOf: { readonly ops: number; readonly growth: number; readonly magProg: TensorProgram };
}

interface Gen {
  readonly expr: PExpr;
  /** Its magnitude bound as an expression (≥ |every intermediate|). */
  readonly mag: PExpr;
  readonly ops: number;
  readonly depth: number;
}

function randomProgram(rng: Rng, trial: number): Trial {
  const env = { n: rng.int(1, 9), c: rng.int(1, 12) };
  const dimPool: Sym[] = [sym('n'), sym('c'), Sym.const(rng.int(1, 5)), sym('c').add(1)];
  const outShape = Array.from({ length: rng.int(0, 3) }, () => rng.pick(dimPool));
  const reduceOp: ReduceOp | undefined = rng.next() < 0.4 ? rng.pick(['sum', 'max', 'min'] as const) : undefined;
  const redShape = reduceOp ? Array.from({ length: rng.int(1, 2) }, () => rng.pick(dimPool)) : [];
  const loopVars = [...outShape.map((d, i) => ({ v: `i${i}`, d })), ...redShape.map((d, i) => ({ v: `r${i}`, d }))];
  const inputs: BufferParam[] = [];
  // an input reads a subset of the loop variables (the rest broadcast), each index possibly rotated
  const newLoad = (): Gen => {
    const axes = loopVars.map((lv) => (rng.next() < 0.7 ? lv : undefined));
    const name = `x${inputs.length}`;
    const shape = axes.map((lv) => (lv ? lv.d : Sym.const(1)));
    const dtype = rng.pick<DType>(['f32', 'f32', 'f16', 'bf16', 'i32']);
    inputs.push({ name, dtype, shape });
    const idx = axes.map((lv) => {
      if (!lv) return int(0);
      const r = rng.next();
      if (r < 0.6) return pvar(lv.v);
      if (r < 0.8) return bin('-', bin('-', symToP(lv.d), int(1)), pvar(lv.v)); // reversed
      return bin('floormod', bin('+', pvar(lv.v), int(rng.int(1, 7))), symToP(lv.d)); // rotated
    });
    const e = load(name, idx);
    return { expr: e, mag: un('abs', e), ops: 0, depth: 0 };
  };
  const gen = (depth: number): Gen => {
    const r = rng.next();
    if (depth === 0 || r < 0.2) {
      if (inputs.length < 4 && (rng.next() < 0.8 || inputs.length === 0)) return newLoad();
      const v = Math.fround(rng.uniform(-2, 2));
      return { expr: flt(v), mag: flt(Math.abs(v)), ops: 0, depth: 0 };
    }
    if (r < 0.45) {
      const a = gen(depth - 1);
      const u = rng.pick(UNARY);
      return {
        expr: un(u.op, a.expr),
        mag: u.bounded ? bin('+', a.mag, flt(u.bounded)) : a.mag,
        ops: a.ops + u.ops,
        depth: a.depth + 1,
      };
    }
    if (r < 0.55 && loopVars.length > 0) {
      // a concat-like split on an integer condition (never on a float compare, whose branch may flip)
      const lv = rng.pick(loopVars);
      const a = gen(depth - 1);
      const b = gen(depth - 1);
      return {
        expr: select(bin('<', pvar(lv.v), int(rng.int(0, 4))), a.expr, b.expr),
        mag: bin('max', a.mag, b.mag),
        ops: Math.max(a.ops, b.ops),
        depth: Math.max(a.depth, b.depth),
      };
    }
    const a = gen(depth - 1);
    const b = gen(depth - 1);
    const op = rng.pick(['+', '-', '*', 'max', 'min', '/'] as const);
    const ops = a.ops + b.ops + 1;
    const d = Math.max(a.depth, b.depth) + 1;
    switch (op) {
      case '+':
      case '-':
        return { expr: bin(op, a.expr, b.expr), mag: bin('+', a.mag, b.mag), ops, depth: d };
      case '*':
        return { expr: bin('*', a.expr, b.expr), mag: bin('*', a.mag, b.mag), ops, depth: d };
      case 'max':
      case 'min':
        return { expr: bin(op, a.expr, b.expr), mag: bin('max', a.mag, b.mag), ops, depth: d };
      case '/':
        // a denominator ≥ 1 keeps the quotient as well conditioned as its numerator
        return {
          expr: bin('/', a.expr, bin('+', flt(1), un('abs', b.expr))),
          // |a|·(1 + |b|) bounds the error a perturbed denominator carries into the quotient
          mag: bin('*', a.mag, bin('+', flt(1), b.mag)),
          ops: ops + 2,
          depth: d,
        };
    }
  };
  const body = gen(rng.int(1, 4));
  const epiKind = reduceOp ? rng.pick(['none', 'scale', 'silu'] as const) : 'none';
  const acc = pvar('acc');
  const epilogue = epiKind === 'scale' ? bin('*', acc, flt(0.25)) : epiKind === 'silu' ? un('silu', acc) : undefined;
  const prog: TensorProgram = {
    name: `rand${trial}`,
    kind: reduceOp ? 'reduction' : 'injective',
    inputs,
    output: { name: 'y', dtype: rng.pick<DType>(['f32', 'f32', 'f16', 'bf16']), shape: outShape },
    reduce: reduceOp ? { op: reduceOp, extents: redShape } : undefined,
    body: body.expr,
    epilogue,
    schedule: DEFAULT_SCHEDULE,
  };
  const redPoints = redShape.reduce((a, d) => a * d.eval(env), 1);
  const epiOps = epiKind === 'none' ? 0 : epiKind === 'scale' ? 1 : 5;
  const ops = body.ops + (reduceOp === 'sum' ? redPoints : 0) + epiOps;
  const growth = 1.15 ** (body.depth + (epiKind === 'silu' ? 1 : 0));
  // the magnitude program: same loops, |·| bounds, summed (or maxed) over the reduction
  const magProg: TensorProgram = {
    ...prog,
    name: `${prog.name}_mag`,
    output: { ...prog.output, dtype: 'f32' },
    body: body.mag,
    reduce: reduceOp ? { op: reduceOp === 'sum' ? 'sum' : 'max', extents: redShape } : undefined,
    epilogue: undefined,
  };
  return { prog, env, tolOf: { ops, growth, magProg } };
}

describe(`generated JavaScript vs the float64 interpreter on random programs (${seedNote(seed)})`, () => {
  const cpu = new CpuBackend();
  const rng = new Rng(seed ^ 0x75a1);
  const trials = Array.from({ length: 60 }, (_, i) => randomProgram(rng, i));

  for (const form of ['new Function', 'closure tree'] as const) {
    it(`60 programs, ${form}`, async () => {
      let worst = 0;
      for (const [i, t] of trials.entries()) {
        const dataRng = new Rng(seed + i);
        const ins = t.prog.inputs.map((b) => {
          const shape = b.shape.map((d) => d.eval(t.env));
          const len = shape.reduce((a, d) => a * d, 1);
          const scale = b.dtype === 'i32' ? 3 : 1;
          return { shape, data: Float64Array.from(dataRng.normals(len, scale), (v) => roundTo(b.dtype, v)) };
        });
        const want = interpretProgram(t.prog, ins, t.env);
        const mag = interpretProgram(t.tolOf.magProg, ins, t.env);
        const tensors = t.prog.inputs.map((b, k) => {
          const x = cpu.alloc({ dtype: b.dtype, shape: ins[k]!.shape });
          cpu.write(x, toHost(b.dtype, ins[k]!.data));
          return x;
        });
        const outDt = t.prog.output.dtype;
        const out = cpu.alloc({ dtype: outDt, shape: t.prog.output.shape.map((d) => d.eval(t.env)) });
        cpu.write(out, toHost(outDt, new Float64Array(want.length).fill(NaN)));
        const js = generateJs(t.prog);
        const fn = form === 'new Function' ? instantiateJs(js) : closureProgram(js.program, js.dims);
        cpu.runHostProgram(
          fn,
          [...tensors, out],
          js.dims.map((d) => t.env[d]!),
        );
        const got = toFloat64(outDt, await cpu.read(out));
        const ulp16 = outDt === 'f16' ? 2 ** -10 : outDt === 'bf16' ? 2 ** -7 : 0;
        for (let j = 0; j < want.length; j++) {
          const w = want[j]!;
          const tol =
            2 * U * Math.max(1, t.tolOf.ops) * mag[j]! * t.tolOf.growth + ulp16 * Math.abs(w) + (ulp16 ? 2 ** -24 : 0);
          const err = Math.abs(got[j]! - w);
          if (!(err <= tol) && !(Number.isNaN(w) && Number.isNaN(got[j]!)))
            expect.fail(
              `program ${i}, element ${j}: got ${got[j]} want ${w} (error ${err}, bound ${tol}, ops ${t.tolOf.ops}, env ${JSON.stringify(t.env)})\n${printProgram(t.prog)}`,
            );
          if (tol > 0) worst = Math.max(worst, err / tol);
        }
        [...tensors, out].forEach((x) => cpu.free(x));
      }
      console.log(`${form}: worst error / bound over ${trials.length} programs = ${worst.toFixed(3)}`);
    });
  }
});

describe('where a Content Security Policy forbids code generation', () => {
  it('instantiateJs builds the closure tree instead, with the same results', async () => {
    vi.resetModules();
    // a fresh module, so its one-time probe of `new Function` runs under the stub below
    const fresh = await import('../../src/compiler/codegen/js-program.js');
    const rng = new Rng(seed ^ 0xc5);
    const t = randomProgram(rng, 0);
    const js = fresh.generateJs(t.prog);
    vi.stubGlobal('Function', () => {
      throw new EvalError("Refused to evaluate a string as JavaScript because 'unsafe-eval' is not allowed");
    });
    let fn: ReturnType<typeof fresh.instantiateJs>;
    try {
      fn = fresh.instantiateJs(js);
    } finally {
      vi.unstubAllGlobals();
    }
    expect(fn.name).not.toBe('tensorProgram');
    const cpu = new CpuBackend();
    const run = (f: typeof fn) => {
      const ins = t.prog.inputs.map((b, k) => {
        const x = cpu.alloc({ dtype: b.dtype, shape: b.shape.map((d) => d.eval(t.env)) });
        const len = x.shape.reduce((a, d) => a * d, 1);
        cpu.write(x, toHost(b.dtype, new Rng(seed + k).normals(len)));
        return x;
      });
      const out = cpu.alloc({ dtype: t.prog.output.dtype, shape: t.prog.output.shape.map((d) => d.eval(t.env)) });
      cpu.runHostProgram(
        f,
        [...ins, out],
        js.dims.map((d) => t.env[d]!),
      );
      return cpu.read(out);
    };
    expect(Array.from(await run(fn))).toEqual(Array.from(await run(instantiateJs(generateJs(t.prog)))));
  });
});
