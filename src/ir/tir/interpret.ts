/**
 * The float64 meaning of a tensor program: runs its loop nest literally over host arrays. It is
 * the oracle tests compare the generated WGSL and JavaScript with; nothing at run time calls it
 * (the CPU backend runs `src/compiler/codegen/js-program.ts`'s JavaScript).
 */
import { evalExpr, type UnaryOp } from '../../ops/expr.js';
import type { Sym } from '../sym/sym.js';
import { type PExpr, type TensorProgram, axisVar, reduceRange, reduceVar } from './program.js';

export interface HostBuffer {
  readonly shape: readonly number[];
  readonly data: Float64Array;
}

type Fn = (s: Float64Array) => number;

const unaryNode = (op: UnaryOp) => ({ k: 'un' as const, op, a: { k: 'in' as const, i: 0 } });

type Buffers = Map<string, { data: Float64Array; strides: number[]; shape: readonly number[] }>;
type BinaryOp = Extract<PExpr, { k: 'bin' }>['op'];

/** Compiles an expression to a closure over a slot array (loop variables and dimensions). */
function compile(e: PExpr, slots: Map<string, number>, bufs: Buffers): Fn {
  switch (e.k) {
    case 'int':
    case 'float': {
      const v = e.v;
      return () => v;
    }
    case 'var': {
      const i = slots.get(e.name);
      if (i === undefined) throw new Error(`tensor program reads unknown variable '${e.name}'`);
      return (s) => s[i]!;
    }
    case 'load':
      return compileLoad(e, slots, bufs);
    case 'un': {
      const a = compile(e.a, slots, bufs);
      const node = unaryNode(e.op);
      const arg = [0];
      return (s) => {
        arg[0] = a(s);
        return evalExpr(node, arg);
      };
    }
    case 'select': {
      const c = compile(e.c, slots, bufs);
      const a = compile(e.a, slots, bufs);
      const b = compile(e.b, slots, bufs);
      // lazy, so the untaken branch of a concat never reads out of bounds
      return (s) => (c(s) ? a(s) : b(s));
    }
    case 'bin':
      return binary(e.op, compile(e.a, slots, bufs), compile(e.b, slots, bufs));
  }
}

/** A buffer load: the rank checked once here, every flat index bounds-checked when it runs. */
function compileLoad(e: Extract<PExpr, { k: 'load' }>, slots: Map<string, number>, bufs: Buffers): Fn {
  const b = bufs.get(e.buf);
  if (!b) throw new Error(`tensor program loads unknown buffer '${e.buf}'`);
  if (e.idx.length !== b.shape.length)
    throw new Error(`load of '${e.buf}' with ${e.idx.length} indices, buffer has rank ${b.shape.length}`);
  const idx = e.idx.map((x) => compile(x, slots, bufs));
  const { data, strides } = b;
  return (s) => {
    let f = 0;
    for (let k = 0; k < idx.length; k++) f += idx[k]!(s) * strides[k]!;
    const v = data[f];
    if (v === undefined) throw new Error(`tensor program reads '${e.buf}' out of bounds at flat index ${f}`);
    return v;
  };
}

/** Comparisons give 1 or 0; floordiv and floormod round toward −∞. */
function binary(op: BinaryOp, a: Fn, b: Fn): Fn {
  switch (op) {
    case '+':
      return (s) => a(s) + b(s);
    case '-':
      return (s) => a(s) - b(s);
    case '*':
      return (s) => a(s) * b(s);
    case '/':
      return (s) => a(s) / b(s);
    case 'floordiv':
      return (s) => Math.floor(a(s) / b(s));
    case 'floormod':
      return (s) => {
        const x = a(s);
        const y = b(s);
        return x - y * Math.floor(x / y);
      };
    case 'min':
      return (s) => Math.min(a(s), b(s));
    case 'max':
      return (s) => Math.max(a(s), b(s));
    case 'pow':
      return (s) => a(s) ** b(s);
    case '<':
      return (s) => (a(s) < b(s) ? 1 : 0);
    case '<=':
      return (s) => (a(s) <= b(s) ? 1 : 0);
    case '==':
      return (s) => (a(s) === b(s) ? 1 : 0);
  }
}

const evalShape = (shape: readonly Sym[], env: Readonly<Record<string, number>>) => shape.map((d) => d.eval(env));

function stridesOf(shape: readonly number[]): number[] {
  const st = new Array<number>(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) st[i] = st[i + 1]! * shape[i + 1]!;
  return st;
}

/** The inputs by buffer name, each checked against the shape the program declares for it. */
function bindInputs(p: TensorProgram, inputs: readonly HostBuffer[], env: Readonly<Record<string, number>>): Buffers {
  if (inputs.length !== p.inputs.length)
    throw new Error(`program '${p.name}' takes ${p.inputs.length} inputs, got ${inputs.length}`);
  const bufs: Buffers = new Map();
  p.inputs.forEach((b, i) => {
    const want = evalShape(b.shape, env);
    const got = inputs[i]!;
    if (want.length !== got.shape.length || want.some((d, k) => d !== got.shape[k])) {
      throw new Error(
        `program '${p.name}': input '${b.name}' has shape [${got.shape.join(', ')}], expected [${want.join(', ')}]`,
      );
    }
    bufs.set(b.name, { data: got.data, strides: stridesOf(want), shape: want });
  });
  return bufs;
}

/**
 * Runs `p` on float64 inputs; `env` gives every symbolic dimension. Returns the output values
 * (the caller rounds them to the output dtype). Input shapes are checked against the program.
 */
export function interpretProgram(
  p: TensorProgram,
  inputs: readonly HostBuffer[],
  env: Readonly<Record<string, number>>,
): Float64Array {
  const bufs = bindInputs(p, inputs, env);
  const outShape = evalShape(p.output.shape, env);
  const range = reduceRange(p);
  const redShape = p.reduce ? evalShape(p.reduce.extents, env) : [];
  const slots = new Map<string, number>();
  const names = [
    ...Object.keys(env),
    ...outShape.map((_, i) => axisVar(i)),
    ...redShape.map((_, i) => reduceVar(i)),
    'acc',
  ];
  names.forEach((nm, i) => slots.set(nm, i));
  const s = new Float64Array(names.length);
  for (const [k, v] of Object.entries(env)) s[slots.get(k)!] = v;
  const body = compile(p.body, slots, bufs);
  const epi = p.epilogue ? compile(p.epilogue, slots, bufs) : undefined;
  const lo = range ? compile(range.lo, slots, bufs) : undefined;
  const hi = range ? compile(range.hi, slots, bufs) : undefined;
  const accSlot = slots.get('acc')!;
  const axisSlot = outShape.map((_, i) => slots.get(axisVar(i))!);
  const redSlot = redShape.map((_, i) => slots.get(reduceVar(i))!);
  const total = outShape.reduce((a, d) => a * d, 1);
  const redTotal = redShape.reduce((a, d) => a * d, 1);
  const out = new Float64Array(total);
  const op = p.reduce?.op;
  const init = op === 'sum' ? 0 : op === 'max' ? -Infinity : Infinity;
  for (let f = 0; f < total; f++) {
    let rem = f;
    for (let k = outShape.length - 1; k >= 0; k--) {
      s[axisSlot[k]!] = rem % outShape[k]!;
      rem = Math.floor(rem / outShape[k]!);
    }
    if (!op) {
      out[f] = body(s);
      continue;
    }
    let acc = init;
    if (lo && hi) {
      const a = lo(s);
      const b = hi(s);
      // the range must lie inside the declared extent, as every index must lie inside its buffer
      if (!Number.isInteger(a) || !Number.isInteger(b) || a < 0 || b > redShape[0]!)
        throw new Error(`program '${p.name}': reduction range [${a}, ${b}) outside [0, ${redShape[0]})`);
      for (let r = a; r < b; r++) {
        s[redSlot[0]!] = r;
        const v = body(s);
        acc = op === 'sum' ? acc + v : op === 'max' ? Math.max(acc, v) : Math.min(acc, v);
      }
      s[accSlot] = acc;
      out[f] = epi ? epi(s) : acc;
      continue;
    }
    for (let r = 0; r < redTotal; r++) {
      let rr = r;
      for (let k = redShape.length - 1; k >= 0; k--) {
        s[redSlot[k]!] = rr % redShape[k]!;
        rr = Math.floor(rr / redShape[k]!);
      }
      const v = body(s);
      acc = op === 'sum' ? acc + v : op === 'max' ? Math.max(acc, v) : Math.min(acc, v);
    }
    s[accSlot] = acc;
    out[f] = epi ? epi(s) : acc;
  }
  return out;
}
