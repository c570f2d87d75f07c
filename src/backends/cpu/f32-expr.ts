/**
 * Elementwise expressions (src/ops/expr.ts's language) as closures evaluated in f32: every
 * intermediate is rounded with Math.fround, as a kernel computing in f32 would. Closures rather than
 * generated source, so the backend also runs where code generation is forbidden (strict CSP).
 */
import type { Expr } from '../../ops/expr.js';

export type F32Fn = (x: ArrayLike<number>) => number;

const f = Math.fround;
const SQRT_2_OVER_PI = f(Math.sqrt(2 / Math.PI));

/** exp of a non-positive argument only, so large |a| never overflows. */
function sigmoid(a: number): number {
  const e = f(Math.exp(-Math.abs(a)));
  return a >= 0 ? f(1 / f(1 + e)) : f(e / f(1 + e));
}

function unary(op: string, a: number): number {
  switch (op) {
    case 'neg':
      return -a;
    case 'exp':
      return f(Math.exp(a));
    case 'log':
      return f(Math.log(a));
    case 'sqrt':
      return f(Math.sqrt(a));
    case 'rsqrt':
      return f(1 / f(Math.sqrt(a)));
    case 'tanh':
      return f(Math.tanh(a));
    case 'sigmoid':
      return sigmoid(a);
    case 'silu':
      return f(a * sigmoid(a));
    case 'gelu': {
      const inner = f(SQRT_2_OVER_PI * f(a + f(f(f(0.044715 * a) * a) * a)));
      return f(f(0.5 * a) * f(1 + f(Math.tanh(inner))));
    }
    case 'relu':
      return Math.max(a, 0);
    case 'abs':
      return Math.abs(a);
    case 'recip':
      return f(1 / a);
    default:
      throw new Error(`elementwise: unknown unary op '${op}'`);
  }
}

function binary(op: string, a: number, b: number): number {
  switch (op) {
    case 'add':
      return f(a + b);
    case 'sub':
      return f(a - b);
    case 'mul':
      return f(a * b);
    case 'div':
      return f(a / b);
    case 'max':
      return Math.max(a, b);
    case 'min':
      return Math.min(a, b);
    case 'pow':
      return f(a ** b);
    default:
      throw new Error(`elementwise: unknown binary op '${op}'`);
  }
}

export function compileF32(e: Expr): F32Fn {
  switch (e.k) {
    case 'in': {
      const i = e.i;
      return (x) => x[i]!;
    }
    case 'const': {
      const v = f(e.v);
      return () => v;
    }
    case 'un': {
      const a = compileF32(e.a);
      const op = e.op;
      return (x) => unary(op, a(x));
    }
    case 'bin': {
      const a = compileF32(e.a);
      const b = compileF32(e.b);
      const op = e.op;
      return (x) => binary(op, a(x), b(x));
    }
  }
}
