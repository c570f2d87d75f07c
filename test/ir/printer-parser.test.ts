import { describe, expect, it } from 'vitest';
import { FunctionBuilder } from '../../src/ir/builder.js';
import { callHost, callKernel, callTensorProgram, op, shape } from '../../src/ir/op.js';
import { tensorType } from '../../src/ir/types.js';
import { moduleOf } from '../../src/ir/graph.js';
import { printModule } from '../../src/ir/printer.js';
import { parseModule } from '../../src/ir/parser.js';
import { sym } from '../../src/ir/sym/sym.js';
import { DEFAULT_SCHEDULE, type TensorProgram, bin, flt, load, pvar, un } from '../../src/ir/tir/program.js';

const n = sym('n');

function sampleModule() {
  const prog: TensorProgram = {
    name: 'add_silu',
    kind: 'elementwise',
    inputs: [
      { name: 'a', dtype: 'f32', shape: [n, n.mul(2).add(1)] },
      { name: 'b', dtype: 'f16', shape: [n.mul(2).add(1)] },
    ],
    output: { name: 'out', dtype: 'f32', shape: [n, n.mul(2).add(1)] },
    body: un('silu', bin('+', load('a', [pvar('i0'), pvar('i1')]), bin('*', load('b', [pvar('i1')]), flt(-0.5)))),
    schedule: DEFAULT_SCHEDULE,
  };
  const red: TensorProgram = {
    name: 'row_mean',
    kind: 'reduction',
    inputs: [{ name: 'x', dtype: 'f32', shape: [n, sym('c')] }],
    output: { name: 'y', dtype: 'f32', shape: [n] },
    reduce: { op: 'sum', extents: [sym('c')] },
    body: load('x', [pvar('i0'), pvar('r0')]),
    epilogue: bin('/', pvar('acc'), pvar('c')),
    schedule: { workgroupSize: 64, elemsPerThread: 1, reduction: 'workgroup' },
  };
  const b = new FunctionBuilder('main', { upper: { n: 4096 } });
  const x = b.param('x', tensorType('f32', ['n', 16]));
  const w = b.param('w', tensorType('f32', [16, 8]));
  const y = b.dataflow(() => {
    const h = b.emit(op.relu(op.matmul(x, w, { transB: false })), 'h');
    const k = b.emitCall(callKernel('matmul', [x, w], { transB: false }), tensorType('f32', ['n', 8]), 'k');
    const pos = b.emitCall(callHost('arange', [shape('n')]), tensorType('i32', ['n']), 'pos');
    b.emit(op.rope(op.reshape(k, ['n', 2, 4]), pos, 10000), 'r');
    return b.emit(op.add(h, k), 'sum');
  });
  const m = b.matchCast(y, tensorType('f32', ['n', 'm']), 'cast');
  const t = b.emitCall(callTensorProgram('add_silu', [m, x]), tensorType('f32', ['n', 'm']), 'z');
  const f = b.finish({ k: 'tuple', fields: [t, { k: 'shape', dims: [n, sym('m')] }] });
  return moduleOf([f], [prog, red]);
}

describe('printer and parser', () => {
  it('round-trips a module with every kind of call and both program kinds', () => {
    const text = printModule(sampleModule());
    const again = printModule(parseModule(text));
    expect(again).toBe(text);
    expect(text).toContain('fn @main(x: Tensor((n, 16), f32), w: Tensor((16, 8), f32)) upper(n=4096) {');
    expect(text).toContain('lv0: Tensor((n, 8), f32) = matmul(x, w) {"transB":false}');
    expect(text).toContain('cast: Tensor((n, m), f32) = match_cast(sum)');
    expect(text).toContain('pos: Tensor((n,), i32) = call_host("arange", shape(n))');
    expect(text).toContain('acc = sum for r0 < c { x[i0, r0] }');
    expect(text).toContain('out[i0, i1] = silu((a[i0, i1] + (b[i1] * -0.5)))');
  });

  it('reports malformed text with a position and never hangs', () => {
    const text = printModule(sampleModule());
    expect(() => parseModule('fn @f(x: Tensor((n,), f99)) { return x }')).toThrow(/unknown dtype 'f99'/);
    expect(() => parseModule('fn @f(x: Tensor((n,), f32)) { return y }')).toThrow(
      /line 1, column \d+: unknown variable 'y'/,
    );
    expect(() => parseModule('fn @f(x: Tensor((n,), f32)) { y: Tensor((n,), f32) = exp(x)')).toThrow(
      /not closed|expected/,
    );
    expect(() => parseModule('banana')).toThrow(/expected 'fn' or 'prim'/);
    // every prefix of a valid module fails cleanly (or parses) rather than hanging or crashing oddly
    for (let cut = 0; cut < text.length; cut += 7) {
      try {
        parseModule(text.slice(0, cut));
      } catch (err) {
        expect((err as Error).name).toMatch(/ParseError|SymError|SyntaxError/);
      }
    }
  });
});

describe('round trip of compiler output', () => {
  it('parses back every pass of the demo models', async () => {
    const { compileModule } = await import('../../src/compiler/compile.js');
    const { DEMO_MODELS } = await import('../../src/compiler/demo-models.js');
    for (const name of Object.keys(DEMO_MODELS)) {
      for (const fuse of [true, false]) {
        const texts: string[] = [];
        compileModule(DEMO_MODELS[name]!(), {
          fuse,
          trace: (pass, text) => {
            if (pass !== 'plan-memory') texts.push(text);
          },
        });
        for (const t of texts) expect(printModule(parseModule(t))).toBe(t);
      }
    }
  });
});
