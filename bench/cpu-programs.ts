/**
 * Compiled tensor programs on the CPU backend: one fused elementwise program over n·c elements
 * (y = silu(x) · g + b, b broadcast over rows; 1M elements by default), run by the VM as generated
 * JavaScript (`new Function`), as the closure tree (the strict-CSP form), and, for scale, as the
 * float64 interpreter the CPU backend ran before (read every input back, interpret, write).
 * Median wall time of `--reps` calls each. Before timing, the JavaScript output is checked against
 * the interpreter's (f32 rounding: a few units in the last place).
 *
 * Usage: npm run build && node dist/bench/cpu-programs.js [--n 1024] [--c 1024] [--reps 9] [--dtype f32|f16]
 */
import '../src/register-all.js';
import type { Tensor } from '../src/backends/backend.js';
import { CpuBackend } from '../src/backends/cpu/cpu-backend.js';
import { closureProgram } from '../src/compiler/codegen/js-program-closures.js';
import { instantiateJs } from '../src/compiler/codegen/js-program.js';
import { compileModule } from '../src/compiler/compile.js';
import { VirtualMachine } from '../src/compiler/vm.js';
import { FunctionBuilder } from '../src/ir/builder.js';
import { moduleOf } from '../src/ir/graph.js';
import { op } from '../src/ir/op.js';
import { interpretProgram } from '../src/ir/tir/interpret.js';
import { tensorType } from '../src/ir/types.js';
import { type DType, toFloat64, toHost } from '../src/tensor/dtype.js';
import { Rng } from '../src/util/rng.js';

const option = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : fallback;
};
const n = Number(option('n', '1024'));
const c = Number(option('c', '1024'));
const reps = Number(option('reps', '9'));
const dtype = option('dtype', 'f32') as DType;

function graph() {
  const b = new FunctionBuilder('main', { upper: { n: 1 << 20 } });
  const x = b.param('x', tensorType(dtype, ['n', c]));
  const g = b.param('g', tensorType(dtype, ['n', c]));
  const bias = b.param('b', tensorType(dtype, [c]));
  const y = b.dataflow(() => b.emit(op.add(op.multiply(op.silu(x), g), bias), 'y'));
  return b.finish(y);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function main(): Promise<void> {
  const backend = new CpuBackend();
  const exe = compileModule(moduleOf([graph()])).executable;
  const programs = [...exe.programs.values()];
  if (programs.length !== 1) throw new Error(`expected one fused program, got ${programs.length}`);
  const cp = programs[0]!;
  const rng = new Rng(7);
  const data = [[n, c], [n, c], [c]].map((s) =>
    toFloat64(dtype, toHost(dtype, rng.normals(s.reduce((a, d) => a * d, 1)))),
  );
  const args = data.map((d, i) => {
    const t = backend.alloc({ dtype, shape: i < 2 ? [n, c] : [c] });
    backend.write(t, toHost(dtype, d));
    return t;
  });
  const vm = new VirtualMachine(exe, backend);
  const time = async (what: string, f: () => Promise<void> | void) => {
    await f(); // first call: code generation and V8's optimisation
    const ms: number[] = [];
    for (let r = 0; r < reps; r++) {
      const t0 = performance.now();
      await f();
      ms.push(performance.now() - t0);
    }
    const m = median(ms);
    console.log(`${what.padEnd(44)} ${m.toFixed(2).padStart(9)} ms  (${((n * c) / m / 1e3).toFixed(1)} M elements/s)`);
    return m;
  };

  // correctness first: the VM's output against the interpreter
  const y = (await vm.run('main', args)) as Tensor;
  const got = toFloat64(dtype, await backend.read(y));
  const env = { n };
  // the program's inputs in its own order: the registers its call reads (here the parameters)
  const call = exe.funcs.get('main')!.instrs.find((ins) => ins.op === 'program');
  if (call?.op !== 'program' || call.args.some((r) => r >= args.length))
    throw new Error('the fused program should read the parameters directly');
  const order = call.args;
  const want = interpretProgram(
    cp.program,
    order.map((r) => ({ shape: args[r]!.shape, data: data[r]! })),
    env,
  );
  const tol = dtype === 'f16' ? 2e-3 : 1e-6;
  let worst = 0;
  for (let i = 0; i < want.length; i++)
    worst = Math.max(worst, Math.abs(got[i]! - want[i]!) / (1 + Math.abs(want[i]!)));
  if (!(worst <= tol)) throw new Error(`JavaScript program differs from the interpreter: ${worst} > ${tol}`);
  backend.free(y);
  console.log(
    `program ${cp.program.name}: ${n}×${c} ${dtype}, max relative difference to the interpreter ${worst.toExponential(2)}`,
  );

  const out = backend.alloc({ dtype, shape: [n, c] });
  const bindings = [...order.map((r) => args[r]!), out];
  const dims = cp.js.dims.map((d) => (env as Record<string, number>)[d]!);
  const viaFunction = instantiateJs(cp.js);
  const viaClosures = closureProgram(cp.program, cp.js.dims);
  const vmCall = await time('VM call (generated JavaScript)', async () => {
    backend.free((await vm.run('main', args)) as Tensor);
  });
  const fnMs = await time('program alone, new Function', () => backend.runHostProgram(viaFunction, bindings, dims));
  const closureMs = await time('program alone, closure tree (strict CSP)', () =>
    backend.runHostProgram(viaClosures, bindings, dims),
  );
  const interpMs = await time('float64 interpreter with read-back (before)', async () => {
    const inputs = await Promise.all(
      order.map(async (r) => ({ shape: args[r]!.shape, data: toFloat64(dtype, await backend.read(args[r]!)) })),
    );
    backend.write(out, toHost(dtype, interpretProgram(cp.program, inputs, env)));
  });
  console.log(
    JSON.stringify({
      n,
      c,
      dtype,
      vmCallMs: vmCall,
      newFunctionMs: fnMs,
      closureTreeMs: closureMs,
      interpreterMs: interpMs,
    }),
  );
}

await main();
