/**
 * The f32 meaning of the expression language's ops (src/ops/expr.ts): every intermediate rounded
 * with Math.fround, as a kernel computing in f32 would, and the overflow-free forms of
 * `EXPR_WGSL_PRELUDE` (sigmoid through exp of a non-positive argument). One table serves every
 * CPU form of an expression (the backend's elementwise closures, the compiler's generated and
 * closure JavaScript), so they cannot drift apart. `evalExpr` stays separate on purpose: it is the
 * float64 oracle these f32 forms are tested against.
 */
import type { BinaryOp, UnaryOp } from './expr.js';

const f = Math.fround;
const SQRT_2_OVER_PI = f(Math.sqrt(2 / Math.PI));

/** exp of a non-positive argument only, so large |a| never overflows. */
function sigmoid(a: number): number {
  const e = f(Math.exp(-Math.abs(a)));
  return a >= 0 ? f(1 / f(1 + e)) : f(e / f(1 + e));
}

export const UNARY_F32: Readonly<Record<UnaryOp, (a: number) => number>> = {
  neg: (a) => -a,
  exp: (a) => f(Math.exp(a)),
  log: (a) => f(Math.log(a)),
  sqrt: (a) => f(Math.sqrt(a)),
  rsqrt: (a) => f(1 / f(Math.sqrt(a))),
  tanh: (a) => f(Math.tanh(a)),
  sigmoid,
  silu: (a) => f(a * sigmoid(a)),
  // tanh approximation, as evalExpr's
  gelu: (a) => {
    const inner = f(SQRT_2_OVER_PI * f(a + f(f(f(0.044715 * a) * a) * a)));
    return f(f(0.5 * a) * f(1 + f(Math.tanh(inner))));
  },
  relu: (a) => Math.max(a, 0),
  abs: Math.abs,
  recip: (a) => f(1 / a),
};

export const BINARY_F32: Readonly<Record<BinaryOp, (a: number, b: number) => number>> = {
  add: (a, b) => f(a + b),
  sub: (a, b) => f(a - b),
  mul: (a, b) => f(a * b),
  div: (a, b) => f(a / b),
  max: Math.max,
  min: Math.min,
  pow: (a, b) => f(a ** b),
};
