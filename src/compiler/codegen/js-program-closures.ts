/**
 * A tensor program as a tree of closures, for realms where a Content Security Policy forbids
 * `new Function` (browser pages without 'unsafe-eval'). Same semantics as `js-program.ts`'s
 * generated source (f32 rounding, i32 indices, 16-bit conversions, the same typing of each
 * expression), only slower: each node is a call instead of inlined code.
 */
import type { HostArray } from '../../tensor/dtype.js';
import { type PExpr, type TensorProgram, axisVar, reduceRange, reduceVar, symToP } from '../../ir/tir/program.js';
import type { HostProgramFn } from './js-program.js';
import { UNARY_F32 } from '../../ops/expr-f32.js';
import { jsHelpers } from './js-program-helpers.js';

type Ty = 'i32' | 'f32' | 'bool';
/** Reads the slot array (loop variables, dimensions, `acc`) and the bound views. */
type Fn = (s: Float64Array, bufs: readonly HostArray[]) => number;
interface Node {
  readonly f: Fn;
  readonly t: Ty;
}
type Helpers = ReturnType<typeof jsHelpers>;

/** What compiling one program's expressions needs: where each variable and buffer lives. */
interface Scope {
  readonly p: TensorProgram;
  readonly h: Helpers;
  readonly slot: ReadonlyMap<string, number>;
  readonly bufIndex: ReadonlyMap<string, number>;
  readonly buffers: TensorProgram['output'][];
}

const fr = Math.fround;

const asF = (x: Node): Fn => {
  const f = x.f;
  return x.t === 'f32' ? f : x.t === 'i32' ? (s, b) => fr(f(s, b)) : f;
};

function compile(sc: Scope, e: PExpr): Node {
  switch (e.k) {
    case 'int': {
      const v = e.v | 0;
      return { f: () => v, t: 'i32' };
    }
    case 'float': {
      const v = fr(e.v);
      return { f: () => v, t: 'f32' };
    }
    case 'var': {
      const i = sc.slot.get(e.name);
      if (i === undefined) throw new Error(`program '${sc.p.name}' reads unknown variable '${e.name}'`);
      return { f: (s) => s[i]!, t: e.name === 'acc' ? 'f32' : 'i32' };
    }
    case 'load':
      return compileLoad(sc, e);
    case 'un': {
      const a = asF(compile(sc, e.a));
      const op = UNARY_F32[e.op];
      return { f: (s, b) => op(a(s, b)), t: 'f32' };
    }
    case 'select': {
      const a = compile(sc, e.a);
      const b = compile(sc, e.b);
      const c = compile(sc, e.c).f;
      const ints = a.t === 'i32' && b.t === 'i32';
      const fa = ints ? a.f : asF(a);
      const fb = ints ? b.f : asF(b);
      return { f: (s, bf) => (c(s, bf) !== 0 ? fa(s, bf) : fb(s, bf)), t: ints ? 'i32' : 'f32' };
    }
    case 'bin':
      return compileBinary(sc, e);
  }
}

/** A load: row-major flat index in i32 arithmetic, then the stored dtype widened to f32. */
function compileLoad(sc: Scope, e: Extract<PExpr, { k: 'load' }>): Node {
  const { p, h, buffers } = sc;
  const bi = sc.bufIndex.get(e.buf);
  if (bi === undefined) throw new Error(`program '${p.name}' loads unknown buffer '${e.buf}'`);
  const shape = buffers[bi]!.shape.map((d) => compile(sc, symToP(d)).f);
  const idx = e.idx.map((x) => compile(sc, x).f);
  const flat: Fn = (s, b) => {
    let f = idx[0] ? idx[0](s, b) : 0;
    for (let k = 1; k < idx.length; k++) f = (Math.imul(f, shape[k]!(s, b)) + idx[k]!(s, b)) | 0;
    return f;
  };
  if (e.index) {
    const dt = buffers[bi]!.dtype;
    if (dt !== 'i32' && dt !== 'u32') throw new Error(`program '${p.name}': index load of '${e.buf}' from ${dt}`);
    return { f: (s, b) => b[bi]![flat(s, b)]! | 0, t: 'i32' };
  }
  switch (buffers[bi]!.dtype) {
    case 'f32':
      return { f: (s, b) => b[bi]![flat(s, b)]!, t: 'f32' };
    case 'i32':
    case 'u32':
      return { f: (s, b) => fr(b[bi]![flat(s, b)]!), t: 'f32' };
    case 'f16':
      return { f: (s, b) => h.tess_f16[b[bi]![flat(s, b)]!]!, t: 'f32' };
    case 'bf16':
      return { f: (s, b) => h.tess_bf16(b[bi]![flat(s, b)]!), t: 'f32' };
    default:
      throw new Error(`program '${p.name}': dtype ${buffers[bi]!.dtype} cannot be read`);
  }
}

/** A binary operation: i32 when both sides are, else f32 with rounding after each step. */
function compileBinary(sc: Scope, e: Extract<PExpr, { k: 'bin' }>): Node {
  const { p, h } = sc;
  const a = compile(sc, e.a);
  const b = compile(sc, e.b);
  const ints = a.t === 'i32' && b.t === 'i32';
  const fa = ints ? a.f : asF(a);
  const fb = ints ? b.f : asF(b);
  const F = (g: (x: number, y: number) => number, t: Ty): Node => ({ f: (s, bf) => g(fa(s, bf), fb(s, bf)), t });
  switch (e.op) {
    // booleans are 1 or 0 here; `asF` of a bool is then the value itself
    case '<':
      return F((x, y) => (x < y ? 1 : 0), 'bool');
    case '<=':
      return F((x, y) => (x <= y ? 1 : 0), 'bool');
    case '==':
      return F((x, y) => (x === y ? 1 : 0), 'bool');
    case 'floordiv':
    case 'floormod':
      if (!ints) throw new Error(`program '${p.name}': ${e.op} needs integer operands`);
      return F(e.op === 'floordiv' ? h.tess_fdiv : h.tess_fmod, 'i32');
    case '/':
      return F((x, y) => fr(x / y), 'f32');
    case 'pow':
      return F((x, y) => fr(x ** y), 'f32');
    case 'min':
      return F(Math.min, ints ? 'i32' : 'f32');
    case 'max':
      return F(Math.max, ints ? 'i32' : 'f32');
    case '*':
      return ints ? F(Math.imul, 'i32') : F((x, y) => fr(x * y), 'f32');
    case '+':
      return ints ? F((x, y) => (x + y) | 0, 'i32') : F((x, y) => fr(x + y), 'f32');
    case '-':
      return ints ? F((x, y) => (x - y) | 0, 'i32') : F((x, y) => fr(x - y), 'f32');
  }
}

/** Writes the digits of flat index `f` in the mixed radix `ext` into slots `first…`, last axis fastest. */
function setAxes(s: Float64Array, first: number, ext: readonly number[], f: number): void {
  let rem = f;
  for (let k = ext.length - 1; k >= 0; k--) {
    s[first + k] = rem % ext[k]!;
    rem = Math.floor(rem / ext[k]!);
  }
}

export function closureProgram(p: TensorProgram, dims: readonly string[]): HostProgramFn {
  const h = jsHelpers();
  const outRank = p.output.shape.length;
  const redRank = p.reduce?.extents.length ?? 0;
  const names = [
    ...dims,
    ...p.output.shape.map((_, i) => axisVar(i)),
    ...Array.from({ length: redRank }, (_, i) => reduceVar(i)),
    'acc',
  ];
  const buffers = [...p.inputs, p.output];
  const sc: Scope = {
    p,
    h,
    slot: new Map(names.map((n, i) => [n, i])),
    bufIndex: new Map(buffers.map((b, i) => [b.name, i])),
    buffers,
  };
  const outExt = p.output.shape.map((d) => compile(sc, symToP(d)).f);
  const redExt = (p.reduce?.extents ?? []).map((d) => compile(sc, symToP(d)).f);
  const body = asF(compile(sc, p.body));
  const epi = asF(compile(sc, p.epilogue ?? { k: 'var', name: 'acc' }));
  const range = reduceRange(p);
  const lo = range ? compile(sc, range.lo) : undefined;
  const hi = range ? compile(sc, range.hi) : undefined;
  if (lo && hi && (lo.t !== 'i32' || hi.t !== 'i32'))
    throw new Error(`program '${p.name}': reduction range bounds must be integers`);
  const op = p.reduce?.op;
  const init = op === 'sum' ? 0 : op === 'max' ? -Infinity : Infinity;
  const store =
    p.output.dtype === 'f16' ? h.tess_f16Bits : p.output.dtype === 'bf16' ? h.tess_bf16Bits : (x: number) => x;
  const accSlot = sc.slot.get('acc')!;
  const outFirst = dims.length;
  const redFirst = dims.length + outRank;

  return (bufs, dimValues) => {
    const s = new Float64Array(names.length);
    dimValues.forEach((v, i) => {
      s[i] = v | 0;
    });
    const out = bufs[buffers.length - 1]!;
    const oe = outExt.map((f) => f(s, bufs));
    const re = redExt.map((f) => f(s, bufs));
    const total = oe.reduce((a, d) => a * d, 1);
    const rTotal = re.reduce((a, d) => a * d, 1);
    for (let f = 0; f < total; f++) {
      setAxes(s, outFirst, oe, f);
      if (!op) {
        out[f] = store(body(s, bufs));
        continue;
      }
      let acc = init;
      if (lo && hi) {
        for (let r = lo.f(s, bufs), n = hi.f(s, bufs); r < n; r++) {
          s[redFirst] = r;
          const v = body(s, bufs);
          acc = op === 'sum' ? fr(acc + v) : op === 'max' ? Math.max(acc, v) : Math.min(acc, v);
        }
        s[accSlot] = acc;
        out[f] = store(epi(s, bufs));
        continue;
      }
      for (let r = 0; r < rTotal; r++) {
        setAxes(s, redFirst, re, r);
        const v = body(s, bufs);
        acc = op === 'sum' ? fr(acc + v) : op === 'max' ? Math.max(acc, v) : Math.min(acc, v);
      }
      s[accSlot] = acc;
      out[f] = store(epi(s, bufs));
    }
  };
}
