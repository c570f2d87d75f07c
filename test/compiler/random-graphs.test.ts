/**
 * Random graphs: the memory plan of every one is proven safe by the verifier (and a corrupted
 * plan is caught), and the fused program computes what the unfused one does.
 */
import { describe, expect, it } from 'vitest';
import type { Tensor } from '../../src/backends/backend.js';
import { CpuBackend } from '../../src/backends/cpu/cpu-backend.js';
import { compileModule } from '../../src/compiler/compile.js';
import { planMemory, liveIntervals } from '../../src/compiler/passes/plan-memory.js';
import { verifyPlan } from '../../src/compiler/passes/verify-plan.js';
import { VirtualMachine } from '../../src/compiler/vm.js';
import { FunctionBuilder } from '../../src/ir/builder.js';
import { type Func, type Var, moduleOf } from '../../src/ir/graph.js';
import { op } from '../../src/ir/op.js';
import { tensorType, type TensorType } from '../../src/ir/types.js';
import { toFloat64, toHost } from '../../src/tensor/dtype.js';
import { Rng } from '../../src/util/rng.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { gpuBackend, gpuSkipReason } from '../gpu-setup.js';

const C = 6;

/** A random dataflow graph over x [n, 6], y [n, 6] and bias [6] (upper bound n ≤ 512 unless unbounded). */
function randomFunc(rng: Rng, bounded: boolean): Func {
  const b = new FunctionBuilder('main', bounded ? { upper: { n: 512 } } : {});
  const pool: Var[] = [
    b.param('x', tensorType('f32', ['n', C])),
    b.param('y', tensorType('f32', ['n', C])),
    b.param('bias', tensorType('f32', [C])),
  ];
  const w = b.param('w', tensorType('f32', [C, C]));
  const rows = (v: Var) => (v.type as TensorType).rank === 2 && (v.type as TensorType).shape![1]!.value === C;
  const full = () => rng.pick(pool.filter(rows));
  const steps = rng.int(4, 14);
  const outs = b.dataflow(() => {
    for (let i = 0; i < steps; i++) {
      const a = full();
      const kind = rng.int(0, 8);
      let v: Var;
      switch (kind) {
        case 0:
          v = b.emit(op[rng.pick(['tanh', 'relu', 'sigmoid', 'neg', 'abs'] as const)](a));
          break;
        case 1:
          v = b.emit(op[rng.pick(['add', 'multiply', 'subtract', 'maximum'] as const)](a, rng.pick(pool)));
          break;
        case 2:
          v = b.emit(op.scale(a, rng.uniform(-2, 2)));
          break;
        case 3:
          v = b.emit(op.add(a, op[rng.pick(['mean', 'max', 'sum'] as const)](a, [1], true)));
          break;
        case 4:
          v = b.emit(op.reshape(op.reshape(a, ['n', 2, 3]), ['n', C]));
          break;
        case 5:
          v = b.emit(op.concat([op.slice(a, 1, 0, 2), op.slice(full(), 1, 2, C)], 1));
          break;
        case 6:
          v = b.emit(op.permuteDims(op.permuteDims(a, [1, 0]), [1, 0]));
          break;
        case 7:
          v = b.emit(op.matmul(a, w));
          break;
        default:
          v = b.emit(
            op.multiply(
              a,
              op.rsqrt(op.add(op.mean(op.multiply(a, a), [1], true), op.reshape(op.slice(w, 0, 0, 1), [1, C]))),
            ),
          );
          break;
      }
      pool.push(v);
    }
    // return the last value and, sometimes, one more from the middle
    const last = pool[pool.length - 1]!;
    return rng.next() < 0.5 ? last : { k: 'tuple' as const, fields: [last, pool[rng.int(3, pool.length - 1)]!] };
  });
  return b.finish(outs);
}

const seed = testSeed();

describe(`memory plans of random graphs (${seedNote(seed)})`, () => {
  it('are proven safe, and corrupted plans are caught', () => {
    const rng = new Rng(seed);
    let caught = 0;
    for (let trial = 0; trial < 60; trial++) {
      const bounded = trial % 3 !== 0;
      const { module } = compileModule(moduleOf([randomFunc(rng, bounded)]), { fuse: rng.next() < 0.5 });
      const f = module.funcs.get('main')!;
      const plan = planMemory(f);
      expect(verifyPlan(f, plan), `trial ${trial}`).toEqual([]);
      // reuse happens: fewer tokens than planned tensors whenever lifetimes allow it
      expect(plan.tokens.length).toBeLessThanOrEqual(plan.assign.size);
      // corrupt: give a tensor the storage of another one live at the same time
      const live = liveIntervals(f);
      const planned = [...plan.assign.keys()];
      const pair = planned
        .flatMap((a) => planned.map((b) => [a, b] as const))
        .find(([a, b]) => {
          if (a === b || plan.assign.get(a) === plan.assign.get(b)) return false;
          const [s1, e1] = live.get(a)!;
          const [s2, e2] = live.get(b)!;
          return s1 <= e2 && s2 <= e1;
        });
      if (pair) {
        const bad = { ...plan, assign: new Map(plan.assign).set(pair[1], plan.assign.get(pair[0])!) };
        expect(verifyPlan(f, bad).join('\n')).toMatch(/both live at binding \d+ and share storage/);
        caught++;
      }
      // shrink a token below what it must hold
      if (plan.tokens.length) {
        const small = { ...plan, tokens: plan.tokens.map((t) => ({ ...t, bytes: t.bytes.sub(4) })) };
        expect(verifyPlan(f, small).join('\n')).toMatch(/not provably enough/);
      }
    }
    expect(caught).toBeGreaterThan(10);
  });
});

describe(`fusion keeps the meaning of random graphs (${seedNote(seed)})`, () => {
  it('fused and unfused executables agree on the CPU backend', async () => {
    const rng = new Rng(seed ^ 0xf00d);
    const backend = new CpuBackend();
    let saved = 0;
    for (let trial = 0; trial < 12; trial++) {
      const f = randomFunc(rng, true);
      const fused = new VirtualMachine(compileModule(moduleOf([f])).executable, backend);
      const plain = new VirtualMachine(compileModule(moduleOf([f]), { fuse: false }).executable, backend);
      const n = rng.int(1, 40);
      const args = [[n, C], [n, C], [C], [C, C]].map((s, i) => {
        const t = backend.alloc({ dtype: 'f32', shape: s });
        const v = rng.normals(s.reduce((a, d) => a * d, 1));
        // w's first row feeds an rsqrt: keep it positive
        backend.write(t, toHost('f32', i === 3 ? v.map((x) => Math.abs(x) + 0.5) : v));
        return t;
      });
      const flat = (v: unknown): Tensor[] => (Array.isArray(v) ? v.flatMap(flat) : [v as Tensor]);
      const a = flat(await fused.run('main', args));
      const b = flat(await plain.run('main', args));
      expect(a.length).toBe(b.length);
      for (let i = 0; i < a.length; i++) {
        const x = toFloat64('f32', await backend.read(a[i]!));
        const y = toFloat64('f32', await backend.read(b[i]!));
        x.forEach((v, j) =>
          expect(Math.abs(v - y[j]!), `trial ${trial} output ${i}[${j}]`).toBeLessThanOrEqual(
            1e-4 * (1 + Math.abs(y[j]!)),
          ),
        );
      }
      // fusion never adds work
      const [fd, pd] = [fused.stats.kernels + fused.stats.programs, plain.stats.kernels + plain.stats.programs];
      expect(fd).toBeLessThanOrEqual(pd);
      saved += pd - fd;
    }
    expect(saved).toBeGreaterThan(0);
  });
});

const gpu = await gpuBackend();

describe.skipIf(!gpu)(
  `random fused graphs on WebGPU match the CPU backend (${seedNote(seed)})${gpu ? '' : ` (skipped: ${gpuSkipReason()})`}`,
  () => {
    it('agrees on generated WGSL (inlined chains, concat selects, reductions, GEMM epilogues)', async () => {
      const rng = new Rng(seed ^ 0x6a7);
      const cpu = new CpuBackend();
      for (let trial = 0; trial < 8; trial++) {
        const compiled = compileModule(moduleOf([randomFunc(rng, true)]));
        const exe = compiled.executable;
        const n = rng.int(1, 300);
        const data = [[n, C], [n, C], [C], [C, C]].map((s, i) => ({
          s,
          v: toHost(
            'f32',
            i === 3 ? rng.normals(C * C).map((x) => Math.abs(x) + 0.5) : rng.normals(s.reduce((a, d) => a * d, 1)),
          ),
        }));
        const outs: Float64Array[][] = [];
        for (const b of [cpu, gpu!]) {
          const vm = new VirtualMachine(exe, b);
          const args = data.map(({ s, v }) => {
            const t = b.alloc({ dtype: 'f32', shape: s });
            b.write(t, v);
            return t;
          });
          const flat = (v: unknown): Tensor[] => (Array.isArray(v) ? v.flatMap(flat) : [v as Tensor]);
          const res = flat(await vm.run('main', args));
          outs.push(await Promise.all(res.map(async (t) => toFloat64('f32', await b.read(t)))));
          [...args, ...res].forEach((t) => b.free(t));
          vm.release();
        }
        const [c, g] = outs as [Float64Array[], Float64Array[]];
        c.forEach((x, i) =>
          x.forEach((v, j) => {
            if (!(Math.abs(v - g[i]![j]!) <= 1e-3 * (1 + Math.abs(v))))
              expect.fail(`trial ${trial} output ${i}[${j}]: cpu ${v} gpu ${g[i]![j]}`);
          }),
        );
      }
    });
  },
);
