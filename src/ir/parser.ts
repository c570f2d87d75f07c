/**
 * Reads the text form printed by `printer.ts` back into a module. Errors give line and column
 * and never hang: every loop consumes input or stops.
 */
import type { Attrs } from '../backends/backend.js';
import { DTYPES, type DType } from '../tensor/dtype.js';
import type { UnaryOp } from '../ops/expr.js';
import { type Binding, type Block, type Expr, type Func, type IRModule, type Var, callOf, mkVar } from './graph.js';
import { SymParser } from './sym/parse-sym.js';
import type { Sym } from './sym/sym.js';
import {
  type BufferParam,
  type PExpr,
  type ProgramKind,
  type ReduceOp,
  type Schedule,
  type TensorProgram,
} from './tir/program.js';
import type { Type } from './types.js';

export class ParseError extends Error {
  constructor(src: string, pos: number, what: string) {
    const before = src.slice(0, pos);
    const line = before.split('\n').length;
    const col = pos - before.lastIndexOf('\n');
    super(`line ${line}, column ${col}: ${what}`);
    this.name = 'ParseError';
  }
}

const UNARY = new Set<string>([
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
]);
const BIN_FN = new Set(['floordiv', 'floormod', 'min', 'max', 'pow']);

class Cursor {
  pos = 0;
  constructor(readonly src: string) {}

  fail(what: string): never {
    throw new ParseError(this.src, this.pos, what);
  }

  skip(): void {
    for (;;) {
      while (this.pos < this.src.length && /\s/.test(this.src[this.pos]!)) this.pos++;
      if (this.src[this.pos] === '#') {
        while (this.pos < this.src.length && this.src[this.pos] !== '\n') this.pos++;
        continue;
      }
      return;
    }
  }

  peek(s: string): boolean {
    this.skip();
    return this.src.startsWith(s, this.pos);
  }

  eat(s: string): boolean {
    if (!this.peek(s)) return false;
    this.pos += s.length;
    return true;
  }

  expect(s: string): void {
    if (!this.eat(s))
      this.fail(`expected '${s}', found '${this.src.slice(this.pos, this.pos + 12) || 'end of input'}'`);
  }

  atEnd(): boolean {
    this.skip();
    return this.pos >= this.src.length;
  }

  ident(): string {
    this.skip();
    const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(this.src.slice(this.pos, this.pos + 200));
    if (!m) this.fail(`expected a name, found '${this.src.slice(this.pos, this.pos + 12) || 'end of input'}'`);
    this.pos += m[0].length;
    return m[0];
  }

  peekIdent(): string | undefined {
    this.skip();
    return /^[A-Za-z_][A-Za-z0-9_]*/.exec(this.src.slice(this.pos, this.pos + 200))?.[0];
  }

  int(): number {
    this.skip();
    const m = /^-?\d+/.exec(this.src.slice(this.pos, this.pos + 40));
    if (!m) this.fail('expected an integer');
    this.pos += m[0].length;
    return Number(m[0]);
  }

  sym(): Sym {
    this.skip();
    const p = new SymParser(this.src, this.pos);
    const s = p.parseExpr();
    this.pos = p.pos;
    return s;
  }

  /** A JSON string or object, found by bracket matching and handed to JSON.parse. */
  json(): unknown {
    this.skip();
    const start = this.pos;
    let depth = 0;
    let inStr = false;
    for (; this.pos < this.src.length; this.pos++) {
      const c = this.src[this.pos]!;
      if (inStr) {
        if (c === '\\') this.pos++;
        else if (c === '"') {
          inStr = false;
          if (depth === 0) {
            this.pos++;
            break;
          }
        }
        continue;
      }
      if (c === '"') inStr = true;
      else if (c === '{' || c === '[') depth++;
      else if (c === '}' || c === ']') {
        depth--;
        if (depth === 0) {
          this.pos++;
          break;
        }
      }
      if (depth === 0 && !inStr) this.fail('expected a JSON string or object');
    }
    try {
      return JSON.parse(this.src.slice(start, this.pos));
    } catch (err) {
      this.pos = start;
      return this.fail(`bad JSON: ${(err as Error).message}`);
    }
  }
}

function dtypeOf(c: Cursor): DType {
  const d = c.ident();
  if (!(DTYPES as readonly string[]).includes(d)) c.fail(`unknown dtype '${d}'`);
  return d as DType;
}

/** `(a, b)` or `(a,)` of symbolic dims. */
function dims(c: Cursor): Sym[] {
  c.expect('(');
  const out: Sym[] = [];
  while (!c.eat(')')) {
    out.push(c.sym());
    if (!c.eat(',')) {
      c.expect(')');
      break;
    }
  }
  return out;
}

function parseType(c: Cursor): Type {
  const kind = c.ident();
  c.expect('(');
  switch (kind) {
    case 'Tensor': {
      if (c.eat('ndim')) {
        c.expect('=');
        const rank = c.int();
        c.expect(',');
        const dtype = dtypeOf(c);
        c.expect(')');
        return { k: 'tensor', dtype, rank };
      }
      const shape = dims(c);
      c.expect(',');
      const dtype = dtypeOf(c);
      c.expect(')');
      return { k: 'tensor', dtype, shape, rank: shape.length };
    }
    case 'Shape': {
      if (c.eat('ndim')) {
        c.expect('=');
        const rank = c.int();
        c.expect(')');
        return { k: 'shape', rank };
      }
      const d = dims(c);
      c.expect(')');
      return { k: 'shape', dims: d, rank: d.length };
    }
    case 'Tuple': {
      const fields: Type[] = [];
      while (!c.eat(')')) {
        fields.push(parseType(c));
        if (!c.eat(',')) {
          c.expect(')');
          break;
        }
      }
      return { k: 'tuple', fields };
    }
    case 'Func': {
      c.expect('(');
      const params: Type[] = [];
      while (!c.eat(')')) {
        params.push(parseType(c));
        if (!c.eat(',')) {
          c.expect(')');
          break;
        }
      }
      c.expect('->');
      const ret = parseType(c);
      c.expect(')');
      return { k: 'func', params, ret };
    }
    default:
      return c.fail(`unknown type '${kind}'`);
  }
}

// ---------- graph functions ----------

function parseExpr(c: Cursor, scope: Map<string, Var>): Expr {
  let e = parsePrimaryExpr(c, scope);
  while (c.peek('[')) {
    c.expect('[');
    const index = c.int();
    c.expect(']');
    e = { k: 'get', tuple: e, index };
  }
  return e;
}

function parseArgs(c: Cursor, scope: Map<string, Var>): Expr[] {
  const args: Expr[] = [];
  while (!c.eat(')')) {
    args.push(parseExpr(c, scope));
    if (!c.eat(',')) {
      c.expect(')');
      break;
    }
  }
  return args;
}

function parseAttrs(c: Cursor): Attrs {
  if (!c.peek('{"') && !c.peek('{}')) return {};
  const a = c.json();
  if (typeof a !== 'object' || a === null || Array.isArray(a)) c.fail('attributes must be a JSON object');
  return a as Attrs;
}

function parsePrimaryExpr(c: Cursor, scope: Map<string, Var>): Expr {
  if (c.eat('(')) {
    const fields: Expr[] = [];
    while (!c.eat(')')) {
      fields.push(parseExpr(c, scope));
      if (!c.eat(',')) {
        c.expect(')');
        break;
      }
    }
    return { k: 'tuple', fields };
  }
  const name = c.ident();
  if (name === 'shape' && c.peek('(')) return { k: 'shape', dims: dims(c) };
  if (!c.peek('(')) {
    const v = scope.get(name);
    if (!v) c.fail(`unknown variable '${name}'`);
    return v;
  }
  c.expect('(');
  if (name === 'call_tir') {
    c.expect('@');
    const prog = c.ident();
    const args = c.eat(',') ? parseArgs(c, scope) : (c.expect(')'), []);
    return callOf('tir', prog, args, parseAttrs(c));
  }
  if (name === 'call_kernel' || name === 'call_host') {
    const callee = c.json();
    if (typeof callee !== 'string') c.fail('callee must be a string');
    const args = c.eat(',') ? parseArgs(c, scope) : (c.expect(')'), []);
    return callOf(name === 'call_kernel' ? 'kernel' : 'host', callee, args, parseAttrs(c));
  }
  const args = parseArgs(c, scope);
  return callOf('op', name, args, parseAttrs(c));
}

function parseFunc(c: Cursor): Func {
  c.expect('@');
  const name = c.ident();
  const scope = new Map<string, Var>();
  const params: Var[] = [];
  c.expect('(');
  while (!c.eat(')')) {
    const p = c.ident();
    c.expect(':');
    const v = mkVar(p, parseType(c));
    if (scope.has(p)) c.fail(`parameter '${p}' repeated`);
    scope.set(p, v);
    params.push(v);
    if (!c.eat(',')) {
      c.expect(')');
      break;
    }
  }
  const upper: Record<string, number> = {};
  if (c.eat('upper')) {
    c.expect('(');
    while (!c.eat(')')) {
      const k = c.ident();
      c.expect('=');
      upper[k] = c.int();
      if (!c.eat(',')) {
        c.expect(')');
        break;
      }
    }
  }
  c.expect('{');
  const blocks: Block[] = [];
  let loose: Binding[] = [];
  const flushLoose = () => {
    if (loose.length) blocks.push({ dataflow: false, bindings: loose });
    loose = [];
  };
  const binding = (): Binding => {
    const v = c.ident();
    c.expect(':');
    const type = parseType(c);
    c.expect('=');
    let matchCast = false;
    let value: Expr;
    if (c.peekIdent() === 'match_cast') {
      c.ident();
      c.expect('(');
      value = parseExpr(c, scope);
      c.expect(')');
      matchCast = true;
    } else value = parseExpr(c, scope);
    if (scope.has(v)) c.fail(`variable '${v}' defined twice`);
    const vv = mkVar(v, type);
    scope.set(v, vv);
    return matchCast ? { var: vv, value, matchCast } : { var: vv, value };
  };
  for (;;) {
    if (c.atEnd()) c.fail(`function '${name}' is not closed`);
    const word = c.peekIdent();
    if (word === 'return') {
      c.ident();
      break;
    }
    if (
      word === 'dataflow' &&
      c.src
        .slice(c.pos + 8)
        .trimStart()
        .startsWith('{')
    ) {
      c.ident();
      c.expect('{');
      flushLoose();
      const bs: Binding[] = [];
      while (!c.eat('}')) {
        if (c.atEnd()) c.fail('dataflow block is not closed');
        bs.push(binding());
      }
      blocks.push({ dataflow: true, bindings: bs });
      continue;
    }
    loose.push(binding());
  }
  flushLoose();
  const ret = parseExpr(c, scope);
  c.expect('}');
  return { name, params, blocks, ret, upper };
}

// ---------- tensor programs ----------

function parsePExpr(c: Cursor): PExpr {
  let e = parseSum(c);
  for (;;) {
    const op = c.eat('<=') ? '<=' : c.eat('==') ? '==' : c.eat('<') ? '<' : undefined;
    if (!op) return e;
    e = { k: 'bin', op, a: e, b: parseSum(c) };
  }
}

function parseSum(c: Cursor): PExpr {
  let e = parseProd(c);
  for (;;) {
    const op = c.eat('+') ? '+' : c.peek('->') ? undefined : c.eat('-') ? '-' : undefined;
    if (!op) return e;
    e = { k: 'bin', op, a: e, b: parseProd(c) };
  }
}

function parseProd(c: Cursor): PExpr {
  let e = parsePAtom(c);
  for (;;) {
    const op = c.eat('*') ? '*' : c.eat('/') ? '/' : undefined;
    if (!op) return e;
    e = { k: 'bin', op, a: e, b: parsePAtom(c) };
  }
}

function parsePAtom(c: Cursor): PExpr {
  c.skip();
  const num = /^-?(\d+\.?\d*([eE][+-]?\d+)?|Infinity)/.exec(c.src.slice(c.pos, c.pos + 40));
  if (num) {
    c.pos += num[0].length;
    const isFloat = /[.eEI]/.test(num[0]);
    return isFloat ? { k: 'float', v: Number(num[0]) } : { k: 'int', v: Number(num[0]) };
  }
  if (c.eat('(')) {
    const e = parsePExpr(c);
    c.expect(')');
    return e;
  }
  const name = c.ident();
  if (c.eat('[')) {
    const idx: PExpr[] = [];
    while (!c.eat(']')) {
      idx.push(parsePExpr(c));
      if (!c.eat(',')) {
        c.expect(']');
        break;
      }
    }
    return { k: 'load', buf: name, idx };
  }
  if (!c.peek('(')) return { k: 'var', name };
  c.expect('(');
  const args: PExpr[] = [];
  while (!c.eat(')')) {
    args.push(parsePExpr(c));
    if (!c.eat(',')) {
      c.expect(')');
      break;
    }
  }
  const arity = (n: number) => {
    if (args.length !== n) c.fail(`'${name}' takes ${n} argument(s), got ${args.length}`);
  };
  if (UNARY.has(name)) {
    arity(1);
    return { k: 'un', op: name as UnaryOp, a: args[0]! };
  }
  if (BIN_FN.has(name)) {
    arity(2);
    return { k: 'bin', op: name as 'min', a: args[0]!, b: args[1]! };
  }
  if (name === 'select') {
    arity(3);
    return { k: 'select', c: args[0]!, a: args[1]!, b: args[2]! };
  }
  return c.fail(`unknown function '${name}'`);
}

function parseBuffer(c: Cursor): BufferParam {
  const name = c.ident();
  c.expect(':');
  if (c.ident() !== 'Buffer') c.fail('expected Buffer');
  c.expect('(');
  const shape = dims(c);
  c.expect(',');
  const dtype = dtypeOf(c);
  c.expect(')');
  return { name, dtype, shape };
}

function parseProgram(c: Cursor): TensorProgram {
  c.expect('@');
  const name = c.ident();
  c.expect('(');
  const inputs: BufferParam[] = [];
  while (!c.eat(')')) {
    inputs.push(parseBuffer(c));
    if (!c.eat(',')) {
      c.expect(')');
      break;
    }
  }
  c.expect('->');
  const output = parseBuffer(c);
  const kind = c.ident();
  if (kind !== 'elementwise' && kind !== 'injective' && kind !== 'reduction') c.fail(`unknown program kind '${kind}'`);
  const sched: Record<string, string | number> = {};
  if (c.eat('schedule')) {
    c.expect('(');
    while (!c.eat(')')) {
      const k = c.ident();
      c.expect('=');
      sched[k] = c.peekIdent() ? c.ident() : c.int();
      if (!c.eat(',')) {
        c.expect(')');
        break;
      }
    }
  }
  const schedule: Schedule = {
    workgroupSize: Number(sched.workgroupSize ?? 256),
    elemsPerThread: Number(sched.elemsPerThread ?? 1),
    reduction: sched.reduction === 'workgroup' ? 'workgroup' : 'thread',
  };
  c.expect('{');
  if (c.ident() !== 'for') c.fail(`expected 'for'`);
  for (let i = 0; !c.peek('{'); i++) {
    if (c.ident() !== `i${i}`) c.fail(`expected loop variable i${i}`);
    c.expect('<');
    if (!c.sym().equals(output.shape[i] ?? -1)) c.fail(`extent of i${i} differs from the output shape`);
    c.eat(',');
  }
  c.expect('{');
  let reduce: TensorProgram['reduce'];
  let body: PExpr;
  let epilogue: PExpr | undefined;
  if (c.peekIdent() === 'acc') {
    c.ident();
    c.expect('=');
    const op = c.ident() as ReduceOp;
    if (op !== 'sum' && op !== 'max' && op !== 'min') c.fail(`unknown reduction '${op}'`);
    if (c.ident() !== 'for') c.fail(`expected 'for'`);
    const extents: Sym[] = [];
    for (let i = 0; !c.peek('{'); i++) {
      if (c.ident() !== `r${i}`) c.fail(`expected r${i}`);
      c.expect('<');
      extents.push(c.sym());
      c.eat(',');
    }
    c.expect('{');
    body = parsePExpr(c);
    c.expect('}');
    reduce = { op, extents };
  }
  if (c.ident() !== output.name) c.fail(`the store must write '${output.name}'`);
  c.expect('[');
  while (!c.eat(']')) {
    if (c.atEnd()) c.fail('index list is not closed');
    c.pos++;
  }
  c.expect('=');
  const stored = parsePExpr(c);
  if (reduce) epilogue = stored;
  else body = stored;
  c.expect('}');
  c.expect('}');
  const p: TensorProgram = {
    name,
    kind: kind as ProgramKind,
    inputs,
    output,
    body: body!,
    schedule,
    ...(reduce ? { reduce } : {}),
    ...(epilogue ? { epilogue } : {}),
  };
  return p;
}

export function parseModule(src: string): IRModule {
  const c = new Cursor(src);
  const funcs = new Map<string, Func>();
  const programs = new Map<string, TensorProgram>();
  while (!c.atEnd()) {
    const word = c.ident();
    if (word === 'fn') {
      const f = parseFunc(c);
      if (funcs.has(f.name)) c.fail(`function '${f.name}' defined twice`);
      funcs.set(f.name, f);
    } else if (word === 'prim') {
      const p = parseProgram(c);
      if (programs.has(p.name)) c.fail(`program '${p.name}' defined twice`);
      programs.set(p.name, p);
    } else c.fail(`expected 'fn' or 'prim', found '${word}'`);
  }
  return { funcs, programs };
}
