/** The symbolic-shape contract: definition at first appearance, run-time checks of every reuse, clear errors. */
import { describe, expect, it } from 'vitest';
import type { Tensor } from '../../src/backends/backend.js';
import { CpuBackend } from '../../src/backends/cpu/cpu-backend.js';
import { compile, compileModule } from '../../src/compiler/compile.js';
import { VirtualMachine } from '../../src/compiler/vm.js';
import { FunctionBuilder } from '../../src/ir/builder.js';
import { moduleOf } from '../../src/ir/graph.js';
import { op } from '../../src/ir/op.js';
import { parseModule } from '../../src/ir/parser.js';
import { rankOnly, tensorType } from '../../src/ir/types.js';
import { sym } from '../../src/ir/sym/sym.js';
import { toFloat64, toHost } from '../../src/tensor/dtype.js';

const cpu = new CpuBackend();
const T = (shape: number[], fill = 1) => {
  const t = cpu.alloc({ dtype: 'f32', shape });
  cpu.write(t, toHost('f32', new Float64Array(shape.reduce((a, d) => a * d, 1)).fill(fill)));
  return t;
};

describe('symbolic contract at run time', () => {
  it('checks a reused variable and names who bound it', async () => {
    const b = new FunctionBuilder('main');
    const x = b.param('x', tensorType('f32', ['n', 4]));
    const y = b.param('y', tensorType('f32', ['n', 4]));
    const f = b.finish(b.dataflow(() => b.emit(op.add(x, y))));
    const vm = new VirtualMachine(compile(moduleOf([f])), cpu);
    const out = (await vm.run('main', [T([7, 4], 1), T([7, 4], 2)])) as Tensor;
    expect(Array.from(toFloat64('f32', await cpu.read(out))).every((v) => v === 3)).toBe(true);
    await expect(vm.run('main', [T([7, 4]), T([9, 4])])).rejects.toThrow(
      "function 'main': 'n' was bound to 7 by 'x' axis 0 but 'y' has 9 at axis 0",
    );
  });

  it('checks compound dimensions against the values that defined them', async () => {
    const b = new FunctionBuilder('main');
    const x = b.param('x', tensorType('f32', ['n']));
    b.param('y', tensorType('f32', ['n']));
    const z = b.param('z', tensorType('f32', [sym('n').mul(2)]));
    const f = b.finish(b.dataflow(() => b.emit(op.add(op.reshape(x, ['n', 1]), op.reshape(z, ['n', 2])))));
    const vm = new VirtualMachine(compile(moduleOf([f])), cpu);
    await expect(vm.run('main', [T([3]), T([3]), T([5])])).rejects.toThrow(
      "'z' has 5 at axis 0 but its type says 2*n = 6 (n = 3 from 'x' axis 0)",
    );
    const ok = (await vm.run('main', [T([3], 1), T([3]), T([6], 2)])) as Tensor;
    expect(ok.shape).toEqual([3, 2]);
  });

  it('defines variables at a match_cast of a rank-only parameter and checks the cast', async () => {
    const b = new FunctionBuilder('main');
    const x = b.param('x', rankOnly('f32', 2));
    const f = b.finish(
      b.dataflow(() => {
        const xs = b.matchCast(x, tensorType('f32', ['n', 4]), 'xs');
        return b.emit(op.exp(xs));
      }),
    );
    const vm = new VirtualMachine(compile(moduleOf([f])), cpu);
    expect(((await vm.run('main', [T([5, 4], 0)])) as Tensor).shape).toEqual([5, 4]);
    await expect(vm.run('main', [T([5, 3])])).rejects.toThrow("'xs' has 3 at axis 1 but its type says 4");
    await expect(vm.run('main', [T([5, 4, 1])])).rejects.toThrow("'x' has rank 3");
  });

  it('unifies unknowable shapes through match_cast (rank-only fallback of broadcast)', async () => {
    const b = new FunctionBuilder('main');
    const a = b.param('a', tensorType('f32', ['n']));
    const c = b.param('c', tensorType('f32', ['m']));
    expect(() =>
      compile(
        moduleOf([
          (() => {
            const bb = new FunctionBuilder('g');
            const p = bb.param('a', tensorType('f32', ['n']));
            const q = bb.param('c', tensorType('f32', ['m']));
            return bb.finish(bb.emit(op.add(p, q)));
          })(),
        ]),
      ),
    ).toThrow(/only a rank|insert a match_cast/);
    const f = b.finish(b.dataflow(() => b.emit(op.add(a, b.matchCast(c, tensorType('f32', ['n']), 'cn')))));
    const vm = new VirtualMachine(compile(moduleOf([f])), cpu);
    expect(((await vm.run('main', [T([3]), T([3])])) as Tensor).shape).toEqual([3]);
    await expect(vm.run('main', [T([3]), T([4])])).rejects.toThrow(
      "'n' was bound to 3 by 'a' axis 0 but 'cn' has 4 at axis 0",
    );
  });
});

describe('normalize catches malformed functions', () => {
  const parseAndCompile = (text: string) => compileModule(parseModule(text));
  it('rejects declared types that disagree with deduction', () => {
    expect(() =>
      parseAndCompile('fn @main(x: Tensor((n, 4), f32)) {\n  y: Tensor((n, 5), f32) = exp(x)\n  return y\n}'),
    ).toThrow(/binding 'y': declared Tensor\(\(n, 5\), f32\) but the value has type Tensor\(\(n, 4\), f32\)/);
  });
  it('rejects symbolic variables nothing defines', () => {
    expect(() =>
      parseAndCompile(
        'fn @main(x: Tensor((n, 4), f32)) {\n  y: Tensor((k, 4), f32) = call_kernel("softmax", x)\n  return y\n}',
      ),
    ).toThrow(/symbolic variable\(s\) k that no parameter or matchCast defines/);
  });
  it('flattens nested calls of parsed text into bindings', () => {
    const { module } = compileModule(
      parseModule('fn @main(x: Tensor((n, 4), f32)) {\n  y: Tensor((n, 4), f32) = exp(neg(x))\n  return y\n}'),
      { fuse: false },
    );
    expect([...module.funcs.get('main')!.blocks[0]!.bindings].map((b) => b.var.name)).toEqual(['lv', 'y']);
  });
});
