/**
 * Elementwise expressions: a tiny language shared by the `elementwise` kernel, the CPU oracle and
 * the compiler's fusion pass. One AST gives both the WGSL text and a float64 evaluator, so a fused
 * kernel and its reference can never disagree about what an expression means.
 *
 * Example: `parseExpr('silu(x0) * x1')` → a SwiGLU gate.
 */
/** The unary functions, in one list for the parser here, the graph's unary ops and the tensor-program reader. */
export const UNARY_OPS = [
  'neg',
  'exp',
  'log',
  'sqrt',
  'rsqrt',
  'tanh',
  'sigmoid',
  'silu',
  'gelu',
  'relu',
  'abs',
  'recip',
] as const;
export type UnaryOp = (typeof UNARY_OPS)[number];
export type BinaryOp = 'add' | 'sub' | 'mul' | 'div' | 'max' | 'min' | 'pow';

export type Expr =
  | { readonly k: 'in'; readonly i: number }
  | { readonly k: 'const'; readonly v: number }
  | { readonly k: 'un'; readonly op: UnaryOp; readonly a: Expr }
  | { readonly k: 'bin'; readonly op: BinaryOp; readonly a: Expr; readonly b: Expr };

const BINARY_FN: readonly BinaryOp[] = ['max', 'min', 'pow'];

export class ExprSyntaxError extends Error {
  constructor(src: string, pos: number, what: string) {
    super(`expression '${src}': ${what} at column ${pos + 1}`);
    this.name = 'ExprSyntaxError';
  }
}

/** Parses `x0 + 2.5 * silu(x1)`: inputs `x<i>`, numbers, + − * /, unary minus, calls of the ops above. */
export function parseExpr(src: string): Expr {
  let pos = 0;
  const skip = () => {
    while (pos < src.length && /\s/.test(src[pos]!)) pos++;
  };
  const peek = () => {
    skip();
    return src[pos];
  };
  const expect = (c: string) => {
    if (peek() !== c) throw new ExprSyntaxError(src, pos, `expected '${c}'`);
    pos++;
  };
  const primary = (): Expr => {
    const c = peek();
    if (c === undefined) throw new ExprSyntaxError(src, pos, 'unexpected end');
    if (c === '(') {
      pos++;
      const e = sum();
      expect(')');
      return e;
    }
    if (c === '-') {
      pos++;
      return { k: 'un', op: 'neg', a: primary() };
    }
    const num = /^(\d+\.?\d*(e[+-]?\d+)?|\.\d+(e[+-]?\d+)?)/i.exec(src.slice(pos));
    if (num) {
      pos += num[0].length;
      return { k: 'const', v: Number(num[0]) };
    }
    const id = /^[A-Za-z_]\w*/.exec(src.slice(pos));
    if (!id) throw new ExprSyntaxError(src, pos, `unexpected '${c}'`);
    pos += id[0].length;
    const name = id[0];
    const input = /^x(\d+)$/.exec(name);
    if (input) return { k: 'in', i: Number(input[1]) };
    if ((UNARY_OPS as readonly string[]).includes(name)) {
      expect('(');
      const a = sum();
      expect(')');
      return { k: 'un', op: name as UnaryOp, a };
    }
    if ((BINARY_FN as readonly string[]).includes(name)) {
      expect('(');
      const a = sum();
      expect(',');
      const b = sum();
      expect(')');
      return { k: 'bin', op: name as BinaryOp, a, b };
    }
    throw new ExprSyntaxError(
      src,
      pos - name.length,
      `unknown name '${name}' (inputs are x0, x1, …; functions: ${[...UNARY_OPS, ...BINARY_FN].join(', ')})`,
    );
  };
  const product = (): Expr => {
    let e = primary();
    for (let c = peek(); c === '*' || c === '/'; c = peek()) {
      pos++;
      e = { k: 'bin', op: c === '*' ? 'mul' : 'div', a: e, b: primary() };
    }
    return e;
  };
  const sum = (): Expr => {
    let e = product();
    for (let c = peek(); c === '+' || c === '-'; c = peek()) {
      pos++;
      e = { k: 'bin', op: c === '+' ? 'add' : 'sub', a: e, b: product() };
    }
    return e;
  };
  const e = sum();
  if (peek() !== undefined) throw new ExprSyntaxError(src, pos, `unexpected '${src[pos]}'`);
  return e;
}

/** Number of inputs an expression reads (highest `x<i>` + 1). */
export function exprArity(e: Expr): number {
  switch (e.k) {
    case 'in':
      return e.i + 1;
    case 'const':
      return 0;
    case 'un':
      return exprArity(e.a);
    case 'bin':
      return Math.max(exprArity(e.a), exprArity(e.b));
  }
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/** The float64 meaning of an expression. */
export function evalExpr(e: Expr, x: readonly number[]): number {
  switch (e.k) {
    case 'in':
      return x[e.i]!;
    case 'const':
      return e.v;
    case 'un': {
      const a = evalExpr(e.a, x);
      switch (e.op) {
        case 'neg':
          return -a;
        case 'exp':
          return Math.exp(a);
        case 'log':
          return Math.log(a);
        case 'sqrt':
          return Math.sqrt(a);
        case 'rsqrt':
          return 1 / Math.sqrt(a);
        case 'tanh':
          return Math.tanh(a);
        case 'sigmoid':
          return 1 / (1 + Math.exp(-a));
        case 'silu':
          return a / (1 + Math.exp(-a));
        // tanh approximation, as GPT-2/Gemma's "gelu_pytorch_tanh"
        case 'gelu':
          return 0.5 * a * (1 + Math.tanh(SQRT_2_OVER_PI * (a + 0.044715 * a * a * a)));
        case 'relu':
          return Math.max(a, 0);
        case 'abs':
          return Math.abs(a);
        case 'recip':
          return 1 / a;
      }
    }
    // falls through never: every unary case returns
    case 'bin': {
      const a = evalExpr(e.a, x);
      const b = evalExpr(e.b, x);
      switch (e.op) {
        case 'add':
          return a + b;
        case 'sub':
          return a - b;
        case 'mul':
          return a * b;
        case 'div':
          return a / b;
        case 'max':
          return Math.max(a, b);
        case 'min':
          return Math.min(a, b);
        case 'pow':
          return Math.pow(a, b);
      }
    }
  }
}

function wgslFloat(v: number): string {
  if (!Number.isFinite(v)) throw new Error(`expression constant ${v} is not finite`);
  const s = String(Math.fround(v));
  return s.includes('.') || s.includes('e') ? `f32(${s})` : `f32(${s}.0)`;
}

/**
 * WGSL for an expression over f32 values named by `inputName(i)`. Numerically delicate ops use
 * forms that do not overflow in f32 (sigmoid via exp of a non-positive number).
 */
export function exprToWgsl(e: Expr, inputName: (i: number) => string): string {
  const go = (e: Expr): string => {
    switch (e.k) {
      case 'in':
        return inputName(e.i);
      case 'const':
        return wgslFloat(e.v);
      case 'un': {
        const a = go(e.a);
        switch (e.op) {
          case 'neg':
            return `(-${a})`;
          case 'exp':
            return `exp(${a})`;
          case 'log':
            return `log(${a})`;
          case 'sqrt':
            return `sqrt(${a})`;
          case 'rsqrt':
            return `inverseSqrt(${a})`;
          case 'tanh':
            return `tess_tanh(${a})`;
          case 'sigmoid':
            return `tess_sigmoid(${a})`;
          case 'silu':
            return `tess_silu(${a})`;
          case 'gelu':
            return `tess_gelu(${a})`;
          case 'relu':
            return `max(${a}, 0.0)`;
          case 'abs':
            return `abs(${a})`;
          case 'recip':
            return `(1.0 / ${a})`;
        }
      }
      // falls through never
      case 'bin': {
        const a = go(e.a);
        const b = go(e.b);
        switch (e.op) {
          case 'add':
            return `(${a} + ${b})`;
          case 'sub':
            return `(${a} - ${b})`;
          case 'mul':
            return `(${a} * ${b})`;
          case 'div':
            return `(${a} / ${b})`;
          case 'max':
            return `max(${a}, ${b})`;
          case 'min':
            return `min(${a}, ${b})`;
          case 'pow':
            return `pow(${a}, ${b})`;
        }
      }
    }
  };
  return go(e);
}

/** Helper functions the WGSL of `exprToWgsl` may call; include once per shader. */
export const EXPR_WGSL_PRELUDE = /* wgsl */ `
fn tess_sigmoid(x: f32) -> f32 {
  // exp of a non-positive argument never overflows
  let e = exp(-abs(x));
  return select(e / (1.0 + e), 1.0 / (1.0 + e), x >= 0.0);
}
fn tess_silu(x: f32) -> f32 { return x * tess_sigmoid(x); }
fn tess_tanh(x: f32) -> f32 {
  // WGSL's tanh may return NaN for large |x| on some drivers; 2·sigmoid(2x) − 1 does not
  return 2.0 * tess_sigmoid(2.0 * x) - 1.0;
}
fn tess_gelu(x: f32) -> f32 {
  return 0.5 * x * (1.0 + tess_tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
}
`;
