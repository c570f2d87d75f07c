/**
 * Expressions, buffer access and scopes of the loop-nest WGSL generator (wgsl-loop-nest.ts, whose
 * statement emitter extends this class): typed WGSL for integer, float, vector-lane and boolean
 * expressions, row-major indexing over symbolic shapes, and the bindings of a program.
 */
import type { DType } from '../../tensor/dtype.js';
import type { BufferParam, PExpr } from '../../ir/tir/program.js';
import type { LoopProgram } from '../../ir/tir/loop-nest.js';
import { isNonNegative, nonNegativeNames } from '../../ir/tir/loop-nonneg.js';
import { LoopCodegenError, stripLane, vectorBuffers } from './wgsl-loop-nest-forms.js';

export type Ty = 'i32' | 'f32' | 'vf32' | 'bool';
export interface Code {
  readonly c: string;
  readonly t: Ty;
}

export function storageElem(dt: DType, vec: boolean): string {
  if (vec) {
    if (dt !== 'f32') throw new Error(`vector access needs an f32 buffer, got ${dt}`);
    return 'vec4<f32>';
  }
  if (dt === 'f32' || dt === 'i32' || dt === 'u32') return dt;
  throw new Error(`loop programs read and write f32, i32 and u32 buffers, not ${dt}`);
}

export class WgslExprEmitter {
  protected readonly bufs: Map<string, BufferParam>;
  protected readonly vec: { lanes: Set<string>; bufs: Set<string> };
  protected readonly scopes: Map<string, Ty>[] = [new Map()];
  /** Lane variables of the enclosing vector loops. */
  protected inVector = 0;
  /** Names that never hold a negative value: their floor division is WGSL's `/`. */
  protected readonly nonNeg: Set<string>;

  constructor(
    readonly p: LoopProgram,
    readonly dimNames: readonly string[],
  ) {
    this.bufs = new Map([...p.inputs, ...p.outputs].map((b) => [b.name, b]));
    this.vec = vectorBuffers(p);
    this.nonNeg = nonNegativeNames(p);
    dimNames.forEach((d) => this.scopes[0]!.set(d, 'i32'));
  }

  protected err(msg: string): never {
    throw new LoopCodegenError(this.p, msg);
  }

  protected typeOf(v: string): Ty {
    for (let s = this.scopes.length - 1; s >= 0; s--) {
      const t = this.scopes[s]!.get(v);
      if (t) return t;
    }
    return this.err(`variable '${v}' is not in scope`);
  }

  bindings(): string[] {
    const all = [...this.p.inputs, ...this.p.outputs];
    const decls = all.map(
      (b, i) =>
        `@group(0) @binding(${i}) var<storage, ${i < this.p.inputs.length ? 'read' : 'read_write'}> ${b.name}: array<${storageElem(b.dtype, this.vec.bufs.has(b.name))}>;`,
    );
    const words = Math.max(1, Math.ceil(this.dimNames.length / 4));
    decls.push(
      `struct TessDims { d: array<vec4<u32>, ${words}> }`,
      `@group(0) @binding(${all.length}) var<uniform> tess_dims: TessDims;`,
    );
    return decls;
  }

  /** Flat element index of `idx` in `b` (row-major over its symbolic shape). */
  protected flat(b: BufferParam, idx: readonly PExpr[]): string {
    if (idx.length !== b.shape.length) this.err(`'${b.name}' has rank ${b.shape.length}, indexed with ${idx.length}`);
    let flat = '';
    idx.forEach((x, k) => {
      const ix = this.expr(x);
      if (ix.t !== 'i32') this.err(`index ${k} of '${b.name}' is not an integer`);
      flat = k === 0 ? ix.c : `(${flat} * ${this.dimCode(b.shape[k]!)} + ${ix.c})`;
    });
    return flat;
  }

  protected dimCode(s: BufferParam['shape'][number]): string {
    const text = s
      .toString()
      .replace(/[A-Za-z_][A-Za-z0-9_]*/g, (id) =>
        id === 'floordiv'
          ? 'tess_fdiv'
          : id === 'floormod'
            ? 'tess_fmod'
            : id === 'min' || id === 'max'
              ? id
              : `v_${id}`,
      );
    return `(${text})`;
  }

  /** Element access code of a buffer (vector buffers by vec4 index). */
  protected access(buf: string, idx: readonly PExpr[]): { ref: string; vec: boolean; b: BufferParam } {
    const b = this.bufs.get(buf) ?? this.err(`unknown buffer '${buf}'`);
    if (this.vec.bufs.has(buf)) {
      const { idx: rest, lane } = stripLane(this.p, buf, idx, this.vec.lanes);
      if (!lane) this.err(`'${buf}' is read as vec4 and must always be indexed with a lane`);
      return { ref: `${buf}[u32(${this.flat(b, rest)}) / 4u]`, vec: true, b };
    }
    return { ref: `${buf}[u32(${this.flat(b, idx)})]`, vec: false, b };
  }

  expr(e: PExpr): Code {
    const asF = (x: Code): string => (x.t === 'i32' ? `f32(${x.c})` : x.t === 'bool' ? this.err('bool as float') : x.c);
    const asB = (x: Code): string => (x.t === 'bool' ? x.c : this.err('condition is not a comparison'));
    switch (e.k) {
      case 'int':
        return { c: `${e.v}`, t: 'i32' };
      case 'float': {
        const s = String(Math.fround(e.v));
        return { c: /[.e]/.test(s) ? `f32(${s})` : `${s}.0`, t: 'f32' };
      }
      case 'var':
        return { c: `v_${e.name}`, t: this.typeOf(e.name) };
      case 'load': {
        const a = this.access(e.buf, e.idx);
        if (e.index) {
          if (a.b.dtype === 'i32') return { c: a.ref, t: 'i32' };
          if (a.b.dtype === 'u32') return { c: `i32(${a.ref})`, t: 'i32' };
          return this.err(`index load of '${e.buf}' needs an i32 or u32 buffer`);
        }
        if (a.vec) return { c: a.ref, t: 'vf32' };
        return { c: a.b.dtype === 'f32' ? a.ref : `f32(${a.ref})`, t: 'f32' };
      }
      case 'select': {
        const [c, a, b] = [asB(this.expr(e.c)), this.expr(e.a), this.expr(e.b)];
        if (a.t === 'i32' && b.t === 'i32') return { c: `select(${b.c}, ${a.c}, ${c})`, t: 'i32' };
        if (a.t === 'vf32' || b.t === 'vf32') return this.err('select of vectors');
        return { c: `select(${asF(b)}, ${asF(a)}, ${c})`, t: 'f32' };
      }
      case 'un':
        return this.err(`unary op '${e.op}' in a loop program`);
      case 'bin': {
        const a = this.expr(e.a);
        const b = this.expr(e.b);
        const ints = a.t === 'i32' && b.t === 'i32';
        const vec = a.t === 'vf32' || b.t === 'vf32';
        // a scalar beside a vector is splatted, so every binary form (min/max included) type-checks
        const fa = vec && a.t !== 'vf32' ? `vec4<f32>(${asF(a)})` : asF(a);
        const fb = vec && b.t !== 'vf32' ? `vec4<f32>(${asF(b)})` : asF(b);
        const ft: Ty = vec ? 'vf32' : 'f32';
        switch (e.op) {
          case '<':
          case '<=':
          case '==':
            if (vec) this.err('comparison of vectors');
            return { c: ints ? `(${a.c} ${e.op} ${b.c})` : `(${fa} ${e.op} ${fb})`, t: 'bool' };
          case 'floordiv':
          case 'floormod':
            if (!ints) this.err(`${e.op} needs integers`);
            if (isNonNegative(e.a, this.nonNeg) && isNonNegative(e.b, this.nonNeg))
              return { c: `(${a.c} ${e.op === 'floordiv' ? '/' : '%'} ${b.c})`, t: 'i32' };
            return { c: `tess_${e.op === 'floordiv' ? 'fdiv' : 'fmod'}(${a.c}, ${b.c})`, t: 'i32' };
          case 'pow':
            return { c: `pow(${fa}, ${fb})`, t: ft };
          case 'min':
          case 'max':
            return ints ? { c: `${e.op}(${a.c}, ${b.c})`, t: 'i32' } : { c: `${e.op}(${fa}, ${fb})`, t: ft };
          case '/':
            return { c: `(${fa} / ${fb})`, t: ft };
          default:
            return ints ? { c: `(${a.c} ${e.op} ${b.c})`, t: 'i32' } : { c: `(${fa} ${e.op} ${fb})`, t: ft };
        }
      }
    }
  }

  /** A value of a float local in a vector loop is a vec4 (a scalar initial value is splatted). */
  protected localValue(e: PExpr): Code {
    const x = this.expr(e);
    if (this.inVector > 0 && x.t === 'f32') return { c: `vec4<f32>(${x.c})`, t: 'vf32' };
    return x;
  }

  protected declare(v: string, t: Ty): void {
    this.scopes[this.scopes.length - 1]!.set(v, t);
  }
}
