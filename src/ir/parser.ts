/**
 * Reads the text form printed by `printer.ts` back into a module: graph functions here, tensor
 * programs in `tir/parse-program.ts`. Errors give line and column and never hang: every loop
 * consumes input or stops.
 */
import type { Attrs } from '../backends/backend.js';
import { type Binding, type Block, type Expr, type Func, type IRModule, type Var, callOf, mkVar } from './graph.js';
import { Cursor, dims, dtypeOf } from './parse-cursor.js';
import { parseProgram } from './tir/parse-program.js';
import type { TensorProgram } from './tir/program.js';
import type { Type } from './types.js';

export { ParseError } from './parse-cursor.js';

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
    case 'Tuple':
      return { k: 'tuple', fields: c.list(')', () => parseType(c)) };
    case 'Func': {
      c.expect('(');
      const params = c.list(')', () => parseType(c));
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
  return c.list(')', () => parseExpr(c, scope));
}

/** The arguments after a callee: `, a, b)`, or `)` for none. */
function parseArgsAfterCallee(c: Cursor, scope: Map<string, Var>): Expr[] {
  if (c.eat(',')) return parseArgs(c, scope);
  c.expect(')');
  return [];
}

function parseAttrs(c: Cursor): Attrs {
  if (!c.peek('{"') && !c.peek('{}')) return {};
  const a = c.json();
  if (typeof a !== 'object' || a === null || Array.isArray(a)) c.fail('attributes must be a JSON object');
  return a as Attrs;
}

function parsePrimaryExpr(c: Cursor, scope: Map<string, Var>): Expr {
  if (c.eat('(')) return { k: 'tuple', fields: parseArgs(c, scope) };
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
    const args = parseArgsAfterCallee(c, scope);
    return callOf('tir', prog, args, parseAttrs(c));
  }
  if (name === 'call_kernel' || name === 'call_host') {
    const callee = c.json();
    if (typeof callee !== 'string') c.fail('callee must be a string');
    const args = parseArgsAfterCallee(c, scope);
    return callOf(name === 'call_kernel' ? 'kernel' : 'host', callee, args, parseAttrs(c));
  }
  const args = parseArgs(c, scope);
  return callOf('op', name, args, parseAttrs(c));
}

/** `(name: Type, ...)`, each parameter entered in the scope. */
function parseParams(c: Cursor, scope: Map<string, Var>): Var[] {
  c.expect('(');
  return c.list(')', () => {
    const p = c.ident();
    c.expect(':');
    const v = mkVar(p, parseType(c));
    if (scope.has(p)) c.fail(`parameter '${p}' repeated`);
    scope.set(p, v);
    return v;
  });
}

/** `upper(n = 4096, ...)` when present: the symbolic variables' upper bounds. */
function parseUpper(c: Cursor): Record<string, number> {
  const upper: Record<string, number> = {};
  if (c.eat('upper')) {
    c.expect('(');
    c.list(')', () => {
      const k = c.ident();
      c.expect('=');
      upper[k] = c.int();
    });
  }
  return upper;
}

/** `name: Type = expr` or `name: Type = match_cast(expr)`; the variable enters the scope after its value. */
function parseBinding(c: Cursor, scope: Map<string, Var>): Binding {
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
}

/** Bindings up to `return`: `dataflow { ... }` blocks, and runs of loose bindings between them as plain blocks. */
function parseBlocks(c: Cursor, scope: Map<string, Var>, name: string): Block[] {
  const blocks: Block[] = [];
  let loose: Binding[] = [];
  const flushLoose = () => {
    if (loose.length) blocks.push({ dataflow: false, bindings: loose });
    loose = [];
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
        bs.push(parseBinding(c, scope));
      }
      blocks.push({ dataflow: true, bindings: bs });
      continue;
    }
    loose.push(parseBinding(c, scope));
  }
  flushLoose();
  return blocks;
}

/** A graph function, after the `fn` keyword. */
function parseFunc(c: Cursor): Func {
  c.expect('@');
  const name = c.ident();
  const scope = new Map<string, Var>();
  const params = parseParams(c, scope);
  const upper = parseUpper(c);
  c.expect('{');
  const blocks = parseBlocks(c, scope, name);
  const ret = parseExpr(c, scope);
  c.expect('}');
  return { name, params, blocks, ret, upper };
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
