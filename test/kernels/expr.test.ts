import { describe, expect, it } from 'vitest';
import { ExprSyntaxError, evalExpr, exprArity, parseExpr } from '../../src/ops/expr.js';

describe('expression language', () => {
  it('parses precedence, unary minus and calls', () => {
    const e = parseExpr('x0 + 2 * -x1 - max(x2, 0.5) / 4');
    expect(exprArity(e)).toBe(3);
    expect(evalExpr(e, [1, 3, 2])).toBeCloseTo(1 - 6 - 0.5, 12);
  });
  it('evaluates activations', () => {
    expect(evalExpr(parseExpr('silu(x0)'), [2])).toBeCloseTo(2 / (1 + Math.exp(-2)), 12);
    expect(evalExpr(parseExpr('sigmoid(x0)'), [0])).toBe(0.5);
    expect(evalExpr(parseExpr('1e-3 + .5'), [])).toBeCloseTo(0.501, 12);
  });
  it('rejects malformed expressions with the column', () => {
    expect(() => parseExpr('x0 +')).toThrow(ExprSyntaxError);
    expect(() => parseExpr('foo(x0)')).toThrow(/unknown name 'foo'.*column 1/);
    expect(() => parseExpr('(x0')).toThrow(/expected '\)'/);
    expect(() => parseExpr('x0 x1')).toThrow(/unexpected 'x'/);
  });
});
