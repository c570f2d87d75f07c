/**
 * JavaScript for tensor programs: the CPU backend's form of a program, beside its WGSL. The loop
 * nest becomes plain nested `for` loops over typed-array views of the bindings, so V8 compiles it
 * to a tight loop (a fused elementwise program over 1M elements runs in milliseconds).
 *
 * Semantics are WGSL's, not the float64 interpreter's: every float load, arithmetic result and
 * conversion is rounded with `Math.fround` where WGSL's f32 rounds; integer (index) arithmetic is
 * i32 (`|0`, `Math.imul`); f16/bf16 are read and written as bits through the conversions of
 * `src/tensor/dtype.ts`; unary ops call the f32 table of `src/ops/expr-f32.ts` (the overflow-free
 * forms of `EXPR_WGSL_PRELUDE`). The expression typing (i32 / f32 / bool) mirrors
 * `wgsl-program.ts` case by case, so both targets read one program the same way.
 *
 * Why `new Function` is acceptable here: the source is generated from our own IR, never from a
 * user string. The only text taken from a program is a variable name, which must match
 * `[A-Za-z_][A-Za-z0-9_]*` and is emitted with a `v_` prefix; buffers become `b0…bn`; numbers are
 * printed by `String(number)`; everything else is fixed operator text. Pages whose Content Security
 * Policy forbids code generation (no 'unsafe-eval') make `new Function` throw; `instantiateJs`
 * then builds `js-program-closures.ts`'s closure tree from the same program instead, slower but
 * with the same f32 semantics.
 */
import type { UnaryOp } from '../../ops/expr.js';
import type { HostProgram } from '../../backends/backend.js';
import type { DType } from '../../tensor/dtype.js';
import {
  type BufferParam,
  type PExpr,
  type TensorProgram,
  axisVar,
  programSymVars,
  reduceRange,
  reduceVar,
  symToP,
} from '../../ir/tir/program.js';
import { closureProgram } from './js-program-closures.js';
import { JS_HELPER_NAMES, jsHelpers } from './js-program-helpers.js';

/** A tensor program as a function: views of the inputs then the output, and the values of `dims`. */
export type HostProgramFn = HostProgram;

export interface JsProgram {
  readonly program: TensorProgram;
  /** The function's body text (for `tessera compile --js` and debugging). */
  readonly source: string;
  /** The order of the `dims` argument: the values of these dimensions. */
  readonly dims: readonly string[];
}

export class JsCodegenError extends Error {
  constructor(p: TensorProgram, msg: string) {
    super(`JavaScript for program '${p.name}': ${msg}`);
    this.name = 'JsCodegenError';
  }
}

type Ty = 'i32' | 'f32' | 'bool';
interface Code {
  readonly c: string;
  readonly t: Ty;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

const asF = (x: Code): string => (x.t === 'f32' ? x.c : x.t === 'i32' ? `tess_fr(${x.c})` : `(${x.c} ? 1 : 0)`);
const asB = (x: Code): string => (x.t === 'bool' ? x.c : `(${x.c} !== 0)`);
const num = (v: number): string => `(${String(v)})`;

/** A unary op is a call of its `tess_<op>` helper: the f32 table of src/ops/expr-f32.ts. */
const unaryCode = (op: UnaryOp, a: string): string => `tess_${op}(${a})`;

function loadCode(p: TensorProgram, b: string, dtype: DType, flat: string): string {
  switch (dtype) {
    case 'f32':
      return `${b}[${flat}]`;
    case 'i32':
    case 'u32':
      return `tess_fr(${b}[${flat}])`;
    case 'f16':
      return `tess_f16[${b}[${flat}]]`;
    case 'bf16':
      return `tess_bf16(${b}[${flat}])`;
    default:
      throw new JsCodegenError(p, `dtype ${dtype} cannot be read by tensor programs`);
  }
}

function storeCode(p: TensorProgram, dtype: DType, v: string): string {
  switch (dtype) {
    case 'f32':
    case 'i32':
    case 'u32':
      // the typed array converts as the interpreter's `toHost` does (f32 values are stored exactly)
      return v;
    case 'f16':
      return `tess_f16Bits(${v})`;
    case 'bf16':
      return `tess_bf16Bits(${v})`;
    default:
      throw new JsCodegenError(p, `dtype ${dtype} cannot be written by tensor programs`);
  }
}

/** Emits expressions; `consts` collects the buffer extents they need, declared once before the loops. */
class Emitter {
  readonly consts: string[] = [];
  private readonly extents = new Map<string, string>();
  private readonly bufs: Map<string, { idx: number; param: BufferParam }>;

  constructor(readonly p: TensorProgram) {
    this.bufs = new Map([...p.inputs, p.output].map((b, idx) => [b.name, { idx, param: b }]));
  }

  /** A dimension value as an i32 constant of the function (`e<buf>_<axis>`), computed once per call. */
  extent(buf: number, axis: number, shape: BufferParam['shape']): string {
    const key = `e${buf}_${axis}`;
    if (!this.extents.has(key)) {
      const c = this.expr(symToP(shape[axis]!));
      this.consts.push(`const ${key} = ${c.c};`);
      this.extents.set(key, key);
    }
    return key;
  }

  expr(e: PExpr): Code {
    const p = this.p;
    switch (e.k) {
      case 'int':
        if (!Number.isSafeInteger(e.v)) throw new JsCodegenError(p, `integer constant ${e.v}`);
        return { c: num(e.v | 0), t: 'i32' };
      case 'float':
        return { c: num(Math.fround(e.v)), t: 'f32' };
      case 'var':
        if (e.name === 'acc') return { c: 'acc', t: 'f32' };
        if (!IDENT.test(e.name)) throw new JsCodegenError(p, `variable name '${e.name}'`);
        return { c: `v_${e.name}`, t: 'i32' };
      case 'load': {
        const b = this.bufs.get(e.buf);
        if (!b) throw new JsCodegenError(p, `unknown buffer '${e.buf}'`);
        if (e.idx.length !== b.param.shape.length)
          throw new JsCodegenError(
            p,
            `load of '${e.buf}' with ${e.idx.length} indices, buffer has rank ${b.param.shape.length}`,
          );
        let flat = '0';
        e.idx.forEach((x, k) => {
          const ix = this.expr(x);
          if (ix.t !== 'i32') throw new JsCodegenError(p, `index ${k} of '${e.buf}' is not an integer`);
          flat = k === 0 ? ix.c : `((Math.imul(${flat}, ${this.extent(b.idx, k, b.param.shape)}) + ${ix.c}) | 0)`;
        });
        if (e.index) {
          if (b.param.dtype !== 'i32' && b.param.dtype !== 'u32')
            throw new JsCodegenError(p, `index load of '${e.buf}' needs an i32 or u32 buffer, it is ${b.param.dtype}`);
          return { c: `(b${b.idx}[${flat}] | 0)`, t: 'i32' };
        }
        return { c: loadCode(p, `b${b.idx}`, b.param.dtype, flat), t: 'f32' };
      }
      case 'un':
        return { c: unaryCode(e.op, asF(this.expr(e.a))), t: 'f32' };
      case 'select': {
        const a = this.expr(e.a);
        const b = this.expr(e.b);
        const c = asB(this.expr(e.c));
        // lazy, as the interpreter: the untaken branch of a concat never reads out of bounds
        if (a.t === 'i32' && b.t === 'i32') return { c: `(${c} ? ${a.c} : ${b.c})`, t: 'i32' };
        return { c: `(${c} ? ${asF(a)} : ${asF(b)})`, t: 'f32' };
      }
      case 'bin': {
        const a = this.expr(e.a);
        const b = this.expr(e.b);
        const ints = a.t === 'i32' && b.t === 'i32';
        switch (e.op) {
          case '<':
          case '<=':
            return { c: ints ? `(${a.c} ${e.op} ${b.c})` : `(${asF(a)} ${e.op} ${asF(b)})`, t: 'bool' };
          case '==':
            return { c: ints ? `(${a.c} === ${b.c})` : `(${asF(a)} === ${asF(b)})`, t: 'bool' };
          case 'floordiv':
          case 'floormod':
            if (!ints) throw new JsCodegenError(p, `${e.op} needs integer operands`);
            return { c: `tess_${e.op === 'floordiv' ? 'fdiv' : 'fmod'}(${a.c}, ${b.c})`, t: 'i32' };
          case '/':
            return { c: `tess_fr(${asF(a)} / ${asF(b)})`, t: 'f32' };
          case 'pow':
            return { c: `tess_fr(${asF(a)} ** ${asF(b)})`, t: 'f32' };
          case 'min':
          case 'max':
            return { c: `Math.${e.op}(${ints ? a.c : asF(a)}, ${ints ? b.c : asF(b)})`, t: ints ? 'i32' : 'f32' };
          case '*':
            return ints
              ? { c: `Math.imul(${a.c}, ${b.c})`, t: 'i32' }
              : { c: `tess_fr(${asF(a)} * ${asF(b)})`, t: 'f32' };
          case '+':
          case '-':
            return ints
              ? { c: `((${a.c} ${e.op} ${b.c}) | 0)`, t: 'i32' }
              : { c: `tess_fr(${asF(a)} ${e.op} ${asF(b)})`, t: 'f32' };
        }
      }
    }
  }
}

/** Nested loops over `extents` named by `name(k)`, innermost around `inner`. */
function loops(em: Emitter, extents: PExpr[], name: (k: number) => string, inner: string[], indent: string): string[] {
  const lines: string[] = [];
  extents.forEach((x, k) => {
    const v = `v_${name(k)}`;
    const ext = em.expr(x).c;
    const bound = `n_${name(k)}`;
    lines.push(`${indent}${'  '.repeat(k)}for (let ${v} = 0, ${bound} = ${ext}; ${v} < ${bound}; ${v}++) {`);
  });
  const depth = '  '.repeat(extents.length);
  for (const l of inner) lines.push(`${indent}${depth}${l}`);
  for (let k = extents.length - 1; k >= 0; k--) lines.push(`${indent}${'  '.repeat(k)}}`);
  return lines;
}

/** The loop of a data-dependent reduction range: `r0` from `lo` up to `hi`, both evaluated once. */
function rangeLoop(em: Emitter, r: NonNullable<ReturnType<typeof reduceRange>>, step: string): string[] {
  const lo = em.expr(r.lo);
  const hi = em.expr(r.hi);
  if (lo.t !== 'i32' || hi.t !== 'i32') throw new JsCodegenError(em.p, 'reduction range bounds must be integers');
  const v = `v_${reduceVar(0)}`;
  return [
    `for (let ${v} = ${lo.c}, n_${reduceVar(0)} = ${hi.c}; ${v} < n_${reduceVar(0)}; ${v}++) {`,
    `  ${step}`,
    '}',
  ];
}

export function generateJs(p: TensorProgram): JsProgram {
  const em = new Emitter(p);
  const dims = programSymVars(p);
  dims.forEach((d) => {
    if (!IDENT.test(d)) throw new JsCodegenError(p, `dimension name '${d}'`);
  });
  const nb = p.inputs.length + 1;
  const out = `b${nb - 1}`;
  const head = [
    `const ${Array.from({ length: nb }, (_, i) => `b${i} = bufs[${i}]`).join(', ')};`,
    ...dims.map((d, i) => `const v_${d} = dims[${i}] | 0;`),
  ];
  const outExtents = p.output.shape.map(symToP);
  let inner: string[];
  if (p.reduce) {
    const op = p.reduce.op;
    // ±Infinity as the interpreter (WGSL starts from ±f32 max; they differ only on empty or all-infinite reductions)
    const init = op === 'sum' ? '0' : op === 'max' ? '-Infinity' : 'Infinity';
    const body = asF(em.expr(p.body));
    const step = op === 'sum' ? `acc = tess_fr(acc + ${body});` : `acc = Math.${op}(acc, ${body});`;
    const epi = asF(em.expr(p.epilogue ?? { k: 'var', name: 'acc' }));
    const range = reduceRange(p);
    inner = [
      `let acc = ${init};`,
      ...(range ? rangeLoop(em, range, step) : loops(em, p.reduce.extents.map(symToP), reduceVar, [step], '')),
      `${out}[f++] = ${storeCode(p, p.output.dtype, epi)};`,
    ];
  } else {
    inner = [`${out}[f++] = ${storeCode(p, p.output.dtype, asF(em.expr(p.body)))};`];
  }
  const nest = loops(em, outExtents, axisVar, inner, '');
  const source = [...head, ...em.consts, 'let f = 0;', ...nest].join('\n');
  return { program: p, source, dims };
}

/** Whether this realm lets us generate code (a strict Content Security Policy does not). */
let codegenAllowed: boolean | undefined;
function canGenerateCode(): boolean {
  if (codegenAllowed === undefined) {
    try {
      codegenAllowed = new Function('return 1')() === 1;
    } catch {
      codegenAllowed = false;
    }
  }
  return codegenAllowed;
}

const instances = new WeakMap<JsProgram, HostProgramFn>();

/**
 * The callable program, compiled once per `JsProgram` (the executable holds one per program) and
 * cached: with `new Function` where the realm allows it, else as a closure tree.
 */
export function instantiateJs(js: JsProgram): HostProgramFn {
  let fn = instances.get(js);
  if (fn) return fn;
  if (canGenerateCode()) {
    const make = new Function(
      ...JS_HELPER_NAMES,
      `"use strict";\nreturn function tensorProgram(bufs, dims) {\n${js.source}\n};`,
    );
    const h = jsHelpers();
    fn = make(...JS_HELPER_NAMES.map((k) => h[k])) as HostProgramFn;
  } else fn = closureProgram(js.program, js.dims);
  instances.set(js, fn);
  return fn;
}
