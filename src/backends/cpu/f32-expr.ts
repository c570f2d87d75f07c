/**
 * Elementwise expressions (src/ops/expr.ts's language) as closures evaluated in f32, with the op
 * semantics of src/ops/expr-f32.ts. Closures rather than generated source, so the backend also
 * runs where code generation is forbidden (strict CSP).
 */
import type { Expr } from '../../ops/expr.js';
import { BINARY_F32, UNARY_F32 } from '../../ops/expr-f32.js';

export type F32Fn = (x: ArrayLike<number>) => number;

const f = Math.fround;

function unary(op: string, a: number): number {
  const fn = (UNARY_F32 as Record<string, ((a: number) => number) | undefined>)[op];
  if (!fn) throw new Error(`elementwise: unknown unary op '${op}'`);
  return fn(a);
}

function binary(op: string, a: number, b: number): number {
  const fn = (BINARY_F32 as Record<string, ((a: number, b: number) => number) | undefined>)[op];
  if (!fn) throw new Error(`elementwise: unknown binary op '${op}'`);
  return fn(a, b);
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
