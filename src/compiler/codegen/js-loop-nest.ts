/**
 * JavaScript for loop-nest programs (`src/ir/tir/loop-nest.ts`): the CPU form of the same program
 * the WGSL codegen compiles. Every binding becomes a plain loop (workgroup and thread loops run
 * their iterations in turn, a vector loop its four lanes), which is the program's meaning: the
 * bindings only say where iterations run. Float arithmetic rounds to f32 with `Math.fround` as
 * WGSL does; integer arithmetic is i32.
 *
 * The source is generated from our own IR (names must match `[A-Za-z_][A-Za-z0-9_]*` and are
 * emitted with a `v_` prefix; buffers become `b0…`), so `new Function` never sees user text. It
 * runs in tests and tools; the CPU backend serves the sparse ops with their float64 references, so
 * no page under a strict Content Security Policy depends on it (there is no closure form yet).
 */
import type { PExpr } from '../../ir/tir/program.js';
import { type LoopProgram, type Stmt, loopProgramDims } from '../../ir/tir/loop-nest.js';
import { LoopCodegenError } from './wgsl-loop-nest.js';

export interface JsLoopProgram {
  readonly source: string;
  readonly dims: readonly string[];
  /** Runs the program on typed-array views of its bindings (inputs, then outputs) and `dims`' values. */
  readonly run: (bufs: readonly (Int32Array | Uint32Array | Float32Array)[], dims: readonly number[]) => void;
}

type Ty = 'i32' | 'f32' | 'bool';
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

class JsEmitter {
  private readonly bufs: Map<string, { i: number; dtype: string; shape: LoopProgram['inputs'][number]['shape'] }>;
  private readonly scopes: Map<string, Ty>[] = [new Map()];

  constructor(
    readonly p: LoopProgram,
    dims: readonly string[],
  ) {
    this.bufs = new Map([...p.inputs, ...p.outputs].map((b, i) => [b.name, { i, dtype: b.dtype, shape: b.shape }]));
    dims.forEach((d) => this.scopes[0]!.set(d, 'i32'));
  }

  private err(msg: string): never {
    throw new LoopCodegenError(this.p, msg);
  }

  private typeOf(v: string): Ty {
    for (let s = this.scopes.length - 1; s >= 0; s--) {
      const t = this.scopes[s]!.get(v);
      if (t) return t;
    }
    return this.err(`variable '${v}' is not in scope`);
  }

  private name(v: string): string {
    if (!IDENT.test(v)) this.err(`name '${v}'`);
    return `v_${v}`;
  }

  private flat(buf: string, idx: readonly PExpr[]): string {
    const b = this.bufs.get(buf) ?? this.err(`unknown buffer '${buf}'`);
    if (idx.length !== b.shape.length) this.err(`'${buf}' has rank ${b.shape.length}, indexed with ${idx.length}`);
    let flat = '';
    idx.forEach((x, k) => {
      const ix = this.expr(x);
      if (ix.t !== 'i32') this.err(`index ${k} of '${buf}' is not an integer`);
      if (k === 0) {
        flat = ix.c;
        return;
      }
      const ext = b.shape[k]!.toString().replace(/[A-Za-z_][A-Za-z0-9_]*/g, (id) => {
        if (id === 'floordiv' || id === 'floormod' || id === 'min' || id === 'max') this.err(`shape ${b.shape[k]}`);
        return `v_${id}`;
      });
      flat = `((Math.imul(${flat}, (${ext})) + ${ix.c}) | 0)`;
    });
    return `b${b.i}[${flat}]`;
  }

  expr(e: PExpr): { c: string; t: Ty } {
    const asF = (x: { c: string; t: Ty }) => (x.t === 'bool' ? this.err('bool as float') : x.c);
    switch (e.k) {
      case 'int':
        return { c: `(${e.v | 0})`, t: 'i32' };
      case 'float':
        return { c: `(${Math.fround(e.v)})`, t: 'f32' };
      case 'var':
        return { c: this.name(e.name), t: this.typeOf(e.name) };
      case 'load': {
        const ref = this.flat(e.buf, e.idx);
        if (e.index) return { c: `(${ref} | 0)`, t: 'i32' };
        return { c: this.bufs.get(e.buf)!.dtype === 'f32' ? ref : `Math.fround(${ref})`, t: 'f32' };
      }
      case 'select': {
        const [c, a, b] = [this.expr(e.c), this.expr(e.a), this.expr(e.b)];
        if (c.t !== 'bool') this.err('select condition');
        const t: Ty = a.t === 'i32' && b.t === 'i32' ? 'i32' : 'f32';
        return { c: `(${c.c} ? ${a.c} : ${b.c})`, t };
      }
      case 'un':
        return this.err(`unary op '${e.op}' in a loop program`);
      case 'bin': {
        const a = this.expr(e.a);
        const b = this.expr(e.b);
        const ints = a.t === 'i32' && b.t === 'i32';
        switch (e.op) {
          case '<':
          case '<=':
            return { c: `(${a.c} ${e.op} ${b.c})`, t: 'bool' };
          case '==':
            return { c: `(${a.c} === ${b.c})`, t: 'bool' };
          case 'floordiv':
            if (!ints) this.err('floordiv needs integers');
            return { c: `(Math.floor(${a.c} / ${b.c}) | 0)`, t: 'i32' };
          case 'floormod':
            if (!ints) this.err('floormod needs integers');
            return { c: `((${a.c} - Math.imul(${b.c}, Math.floor(${a.c} / ${b.c}))) | 0)`, t: 'i32' };
          case 'min':
          case 'max':
            return { c: `Math.${e.op}(${a.c}, ${b.c})`, t: ints ? 'i32' : 'f32' };
          case 'pow':
            return { c: `Math.fround(${asF(a)} ** ${asF(b)})`, t: 'f32' };
          case '*':
            return ints
              ? { c: `Math.imul(${a.c}, ${b.c})`, t: 'i32' }
              : { c: `Math.fround(${a.c} * ${b.c})`, t: 'f32' };
          default:
            return ints
              ? { c: `((${a.c} ${e.op} ${b.c}) | 0)`, t: 'i32' }
              : { c: `Math.fround(${asF(a)} ${e.op} ${asF(b)})`, t: 'f32' };
        }
      }
    }
  }

  stmts(body: readonly Stmt[], ind: string, vars: readonly [string, Ty][] = []): string[] {
    this.scopes.push(new Map(vars));
    const out = body.flatMap((s) => this.stmt(s, ind));
    this.scopes.pop();
    return out;
  }

  private stmt(s: Stmt, ind: string): string[] {
    const inner = `${ind}  `;
    switch (s.k) {
      case 'let':
      case 'var': {
        const x = this.expr(s.e);
        this.scopes[this.scopes.length - 1]!.set(s.v, x.t);
        return [`${ind}${s.k === 'let' ? 'const' : 'let'} ${this.name(s.v)} = ${x.c};`];
      }
      case 'assign': {
        const t = this.typeOf(s.v);
        const x = this.expr(s.e);
        if (t === 'i32' && x.t !== 'i32') this.err(`integer '${s.v}' assigned a ${x.t}`);
        return [`${ind}${this.name(s.v)} = ${x.c};`];
      }
      case 'break':
        return [`${ind}break;`];
      case 'if': {
        const lines = [`${ind}if (${this.expr(s.c).c}) {`, ...this.stmts(s.yes, inner)];
        if (s.no) lines.push(`${ind}} else {`, ...this.stmts(s.no, inner));
        return [...lines, `${ind}}`];
      }
      case 'while':
        return [`${ind}while (${this.expr(s.c).c}) {`, ...this.stmts(s.body, inner), `${ind}}`];
      case 'store': {
        const x = this.expr(s.e);
        return [`${ind}${this.flat(s.buf, s.idx)} = ${x.c};`];
      }
      case 'for': {
        const v = this.name(s.v);
        const lo = this.expr(s.lo);
        const hi = this.expr(s.hi);
        return [
          `${ind}for (let ${v} = ${lo.c}, ${v}_hi = ${hi.c}; ${v} < ${v}_hi; ${v}++) { // ${s.bind}`,
          ...this.stmts(s.body, inner, [[s.v, 'i32']]),
          `${ind}}`,
        ];
      }
    }
  }
}

export function generateLoopJs(p: LoopProgram): JsLoopProgram {
  const dims = loopProgramDims(p);
  const em = new JsEmitter(p, dims);
  const n = p.inputs.length + p.outputs.length;
  const head = [
    `const ${Array.from({ length: n }, (_, i) => `b${i} = bufs[${i}]`).join(', ')};`,
    ...dims.map((d, i) => `const v_${d} = dims[${i}] | 0;`),
  ];
  const source = [...head, ...em.stmts(p.body, '')].join('\n');
  const run = new Function('bufs', 'dims', `"use strict";\n${source}`) as JsLoopProgram['run'];
  return { source, dims, run };
}
