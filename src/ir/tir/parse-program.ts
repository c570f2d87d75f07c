/**
 * Reads a tensor program (`prim @name(...) -> out: Buffer(...) kind schedule(...) { for ... }`) as
 * `printer.ts` prints it: the signature, the schedule, the loop nest over the output, an optional
 * reduction, and the store.
 */
import { UNARY_OPS, type UnaryOp } from '../../ops/expr.js';
import { type Cursor, dims, dtypeOf } from '../parse-cursor.js';
import type { Sym } from '../sym/sym.js';
import type { BufferParam, PExpr, ProgramKind, ReduceOp, Schedule, TensorProgram } from './program.js';

const UNARY = new Set<string>(UNARY_OPS);
const BIN_FN = new Set(['floordiv', 'floormod', 'min', 'max', 'pow']);

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

/** A built-in function call; the name's arguments are already parsed. */
function builtinCall(c: Cursor, name: string, args: PExpr[]): PExpr {
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

/** A number, a parenthesised expression, a buffer load `name[i, j]`, a variable or a built-in call. */
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
  if (c.eat('[')) return { k: 'load', buf: name, idx: c.list(']', () => parsePExpr(c)) };
  if (!c.peek('(')) return { k: 'var', name };
  c.expect('(');
  return builtinCall(
    c,
    name,
    c.list(')', () => parsePExpr(c)),
  );
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

/** `schedule(k = v, ...)` when present, with the defaults filled in. */
function parseSchedule(c: Cursor): Schedule {
  const sched: Record<string, string | number> = {};
  if (c.eat('schedule')) {
    c.expect('(');
    c.list(')', () => {
      const k = c.ident();
      c.expect('=');
      sched[k] = c.peekIdent() ? c.ident() : c.int();
    });
  }
  return {
    workgroupSize: Number(sched.workgroupSize ?? 256),
    elemsPerThread: Number(sched.elemsPerThread ?? 1),
    reduction: sched.reduction === 'workgroup' ? 'workgroup' : 'thread',
  };
}

/** `for i0 < e0, i1 < e1 {`: one loop per output dimension, each extent the output's. */
function parseOutputLoops(c: Cursor, output: BufferParam): void {
  if (c.ident() !== 'for') c.fail(`expected 'for'`);
  for (let i = 0; !c.peek('{'); i++) {
    if (c.ident() !== `i${i}`) c.fail(`expected loop variable i${i}`);
    c.expect('<');
    if (!c.sym().equals(output.shape[i] ?? -1)) c.fail(`extent of i${i} differs from the output shape`);
    c.eat(',');
  }
  c.expect('{');
}

/** `acc = op for r0 < e0, ... { body }` (after `acc`). */
function parseReduction(c: Cursor): { reduce: NonNullable<TensorProgram['reduce']>; body: PExpr } {
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
  const body = parsePExpr(c);
  c.expect('}');
  return { reduce: { op, extents }, body };
}

/** `out[...] = expr`: the index list is implied by the loop nest, so it is skipped. */
function parseStore(c: Cursor, output: BufferParam): PExpr {
  if (c.ident() !== output.name) c.fail(`the store must write '${output.name}'`);
  c.expect('[');
  while (!c.eat(']')) {
    if (c.atEnd()) c.fail('index list is not closed');
    c.pos++;
  }
  c.expect('=');
  return parsePExpr(c);
}

/** A tensor program, after the `prim` keyword. */
export function parseProgram(c: Cursor): TensorProgram {
  c.expect('@');
  const name = c.ident();
  c.expect('(');
  const inputs = c.list(')', () => parseBuffer(c));
  c.expect('->');
  const output = parseBuffer(c);
  const kind = c.ident();
  if (kind !== 'elementwise' && kind !== 'injective' && kind !== 'reduction') c.fail(`unknown program kind '${kind}'`);
  const schedule = parseSchedule(c);
  c.expect('{');
  parseOutputLoops(c, output);
  const reduction = c.peekIdent() === 'acc' ? parseReduction(c) : undefined;
  const stored = parseStore(c, output);
  c.expect('}');
  c.expect('}');
  return {
    name,
    kind: kind as ProgramKind,
    inputs,
    output,
    body: reduction ? reduction.body : stored,
    schedule,
    ...(reduction ? { reduce: reduction.reduce } : {}),
    ...(reduction ? { epilogue: stored } : {}),
  };
}
