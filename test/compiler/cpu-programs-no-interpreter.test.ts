/**
 * The float64 interpreter is the oracle, never what runs: a compiled graph on the CPU backend runs
 * its tensor programs as generated JavaScript. The interpreter module is replaced by a spy that
 * still computes (so a regression shows as a call count, not a crash).
 */
import { describe, expect, it, vi } from 'vitest';

vi.mock('../../src/ir/tir/interpret.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/ir/tir/interpret.js')>();
  return { ...real, interpretProgram: vi.fn(real.interpretProgram) };
});

const { interpretProgram } = await import('../../src/ir/tir/interpret.js');
const { CpuBackend } = await import('../../src/backends/cpu/cpu-backend.js');
const { compileModule } = await import('../../src/compiler/compile.js');
const { mlpFunc } = await import('../../src/compiler/demo-models.js');
const { VirtualMachine } = await import('../../src/compiler/vm.js');
const { moduleOf } = await import('../../src/ir/graph.js');
const { toFloat64, toHost } = await import('../../src/tensor/dtype.js');

describe('the CPU backend runs compiled tensor programs without the interpreter', () => {
  it('an unfused MLP (every elementwise step a tensor program) calls interpretProgram zero times', async () => {
    const dims = { dIn: 4, hidden: 8, dOut: 3 };
    const b = new CpuBackend();
    const vm = new VirtualMachine(compileModule(moduleOf([mlpFunc(dims)]), { fuse: false }).executable, b);
    const n = 5;
    const shapes = [[n, dims.dIn], [dims.dIn, dims.hidden], [dims.hidden], [dims.hidden, dims.dOut], [dims.dOut]];
    const args = shapes.map((s) => {
      const t = b.alloc({ dtype: 'f32', shape: s });
      b.write(t, toHost('f32', new Float64Array(s.reduce((a, d) => a * d, 1)).fill(0.5)));
      return t;
    });
    const y = (await vm.run('main', args)) as import('../../src/backends/backend.js').Tensor;
    expect(vm.stats.programs).toBeGreaterThan(0);
    expect(vi.mocked(interpretProgram)).not.toHaveBeenCalled();
    // x·w1 = 4·0.25 = 1, + b1 → 1.5, relu → 1.5; ·w2 = 8·1.5·0.5 = 6, + b2 → 6.5
    expect(Array.from(toFloat64('f32', await b.read(y)))).toEqual(new Array(n * dims.dOut).fill(6.5));
    // the spy is live: a direct call of the oracle is seen
    expect(() => interpretProgram(vm.exe.programs.values().next().value!.program, [], {})).toThrow(/inputs/);
    expect(vi.mocked(interpretProgram)).toHaveBeenCalledTimes(1);
    [...args, y].forEach((t) => b.free(t));
    vm.release();
  });
});
