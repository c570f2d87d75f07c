/** Normalize's rewrites (A-normal form) and the errors it raises, on functions read from the text form. */
import { describe, expect, it } from 'vitest';
import { normalize } from '../../src/compiler/passes/normalize.js';
import { parseModule } from '../../src/ir/parser.js';
import { printModule } from '../../src/ir/printer.js';

const XY = 'x: Tensor((n, 4), f32), y: Tensor((n, 4), f32)';
const run = (src: string) => normalize(parseModule(src));

describe('normalize', () => {
  it('binds a nested call to a fresh variable typed by deduction, before its user', () => {
    const m = run(`fn @main(${XY}) { dataflow { lv: Tensor((n, 4), f32) = add(exp(x), y) } return lv }`);
    const f = m.funcs.get('main')!;
    const bindings = f.blocks.flatMap((b) => b.bindings);
    expect(bindings.length).toBe(2);
    const [hoisted, user] = bindings;
    expect(hoisted!.value.k === 'call' && hoisted!.value.callee).toBe('exp');
    expect(user!.value.k === 'call' && user!.value.args[0]).toEqual(hoisted!.var);
    // the result prints and reads back unchanged
    const text = printModule(m);
    expect(printModule(run(text))).toBe(text);
  });

  it('refuses a declared type that differs from the deduced one', () => {
    expect(() => run(`fn @main(${XY}) { lv: Tensor((n, 5), f32) = add(x, y) return lv }`)).toThrow(
      /declared Tensor\(\(n, 5\), f32\) but the value has type Tensor\(\(n, 4\), f32\)/,
    );
  });

  it('refuses a symbolic variable that no parameter or match_cast defines', () => {
    expect(() => run(`fn @main(${XY}) { lv: Tensor((m, 4), f32) = add(x, y) return lv }`)).toThrow(
      /symbolic variable\(s\) m that no parameter or matchCast defines/,
    );
  });

  it('refuses an impure host call inside a dataflow block', () => {
    expect(() =>
      run(`fn @main(${XY}) { dataflow { lv: Tensor((n, 4), f32) = call_host("print_tensor", x) } return lv }`),
    ).toThrow(/impure host call 'print_tensor' inside a dataflow block/);
  });

  it('refuses a call of a tensor program the module does not have', () => {
    expect(() => run(`fn @main(${XY}) { lv: Tensor((n, 4), f32) = call_tir(@missing, x) return lv }`)).toThrow(
      /calls unknown tensor program 'missing'/,
    );
  });
});
