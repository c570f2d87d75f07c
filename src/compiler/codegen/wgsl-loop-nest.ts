/**
 * WGSL for loop-nest programs (`src/ir/tir/loop-nest.ts`).
 *
 * Layout: inputs (read-only storage) then outputs (read_write) at @binding(0…), the program's
 * dimensions (sorted) at the next binding as a uniform of u32. Every top-level statement is a
 * workgroup loop; sibling workgroup loops take consecutive ranges of the flattened workgroup id, so
 * the grid is the sum of their extents (`loopNestGroups`). Thread loops read their index from
 * `local_invocation_index`: along a path the product of the thread extents is the workgroup size,
 * the innermost varying fastest. A bound loop whose value may pass its bound is guarded with an
 * `if`, never an early return. A vector loop is no loop: its body runs on vec4<f32>, and the
 * buffers it indexes with the lane variable are declared as arrays of vec4 and indexed by
 * (flat index without the lane) / 4 — valid because the lane variable may only be the trailing
 * `+ lane` of the last index, and the schedule splits only 4-aligned rows. A scalar accumulator
 * declared outside a vector loop and updated inside it as `acc = acc + v` adds the sum of v's lanes;
 * one declared outside a thread loop and summed inside it adds the sum over the loop's threads (a
 * tree in workgroup memory between barriers, so the guards around it become store predicates, and
 * the stores after it are left to the loop's first thread).
 */
import type { DType } from '../../tensor/dtype.js';
import type { BufferParam, PExpr } from '../../ir/tir/program.js';
import { type LoopProgram, type Stmt, boundLoops, loopProgramDims } from '../../ir/tir/loop-nest.js';
import { isNonNegative, nonNegativeNames } from '../../ir/tir/loop-nonneg.js';
import {
  type For,
  LoopCodegenError,
  constInt,
  crossThreadSums,
  holdsCrossThreadSum,
  rampGuard,
  stripLane,
  vectorBuffers,
} from './wgsl-loop-nest-forms.js';

export { LoopCodegenError } from './wgsl-loop-nest-forms.js';
export { loopNestGroups, loopNestUniforms } from './wgsl-loop-nest-launch.js';

export interface WgslLoopProgram {
  readonly wgsl: string;
  /** Uniform order: the values of these dimensions. */
  readonly dims: readonly string[];
  readonly workgroupSize: number;
}

type Ty = 'i32' | 'f32' | 'vf32' | 'bool';
interface Code {
  readonly c: string;
  readonly t: Ty;
}

function storageElem(dt: DType, vec: boolean): string {
  if (vec) {
    if (dt !== 'f32') throw new Error(`vector access needs an f32 buffer, got ${dt}`);
    return 'vec4<f32>';
  }
  if (dt === 'f32' || dt === 'i32' || dt === 'u32') return dt;
  throw new Error(`loop programs read and write f32, i32 and u32 buffers, not ${dt}`);
}

class WgslEmitter {
  private readonly bufs: Map<string, BufferParam>;
  private readonly vec: { lanes: Set<string>; bufs: Set<string> };
  private readonly scopes: Map<string, Ty>[] = [new Map()];
  /** Lane variables of the enclosing vector loops. */
  private inVector = 0;
  private workgroupBase = '0';
  private threadStride = new Map<string, number>();
  workgroupSize = 0;
  /** Workgroup arrays of the cross-thread sums, declared after the sizes are known. */
  private readonly shared: { name: string; elem: string }[] = [];
  /** Guards turned into predicates (around a cross-thread sum), with the loop depth they began at. */
  private readonly predicates: { name: string; depth: number }[] = [];
  private loopDepth = 0;
  /**
   * After a cross-thread sum every thread of the summing loop holds the total: stores that follow
   * in the same block are written by the loop's first thread only (these are its conditions).
   */
  private soleWriter: string[] = [];
  /** Names that never hold a negative value: their floor division is WGSL's `/`. */
  private readonly nonNeg: Set<string>;

  constructor(
    readonly p: LoopProgram,
    readonly dimNames: readonly string[],
  ) {
    this.bufs = new Map([...p.inputs, ...p.outputs].map((b) => [b.name, b]));
    this.vec = vectorBuffers(p);
    this.nonNeg = nonNegativeNames(p);
    dimNames.forEach((d) => this.scopes[0]!.set(d, 'i32'));
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
  private flat(b: BufferParam, idx: readonly PExpr[]): string {
    if (idx.length !== b.shape.length) this.err(`'${b.name}' has rank ${b.shape.length}, indexed with ${idx.length}`);
    let flat = '';
    idx.forEach((x, k) => {
      const ix = this.expr(x);
      if (ix.t !== 'i32') this.err(`index ${k} of '${b.name}' is not an integer`);
      flat = k === 0 ? ix.c : `(${flat} * ${this.dimCode(b.shape[k]!)} + ${ix.c})`;
    });
    return flat;
  }

  private dimCode(s: BufferParam['shape'][number]): string {
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
  private access(buf: string, idx: readonly PExpr[]): { ref: string; vec: boolean; b: BufferParam } {
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
  private localValue(e: PExpr): Code {
    const x = this.expr(e);
    if (this.inVector > 0 && x.t === 'f32') return { c: `vec4<f32>(${x.c})`, t: 'vf32' };
    return x;
  }

  stmts(body: readonly Stmt[], ind: string): string[] {
    this.scopes.push(new Map());
    const writers = this.soleWriter.length;
    const out = body.flatMap((s) => this.stmt(s, ind));
    this.soleWriter.length = writers;
    this.scopes.pop();
    return out;
  }

  private declare(v: string, t: Ty): void {
    this.scopes[this.scopes.length - 1]!.set(v, t);
  }

  private stmt(s: Stmt, ind: string): string[] {
    const inner = `${ind}  `;
    switch (s.k) {
      case 'let':
      case 'var': {
        const x = s.k === 'var' ? this.localValue(s.e) : this.expr(s.e);
        this.declare(s.v, x.t);
        return [`${ind}${s.k} v_${s.v} = ${x.c};`];
      }
      case 'assign': {
        const t = this.typeOf(s.v);
        // a scalar outside a vector loop takes `acc = acc + lanes` as the sum of the lanes, which
        // is what running the lanes one after another does
        if (t === 'f32' && s.e.k === 'bin' && s.e.op === '+' && s.e.a.k === 'var' && s.e.a.name === s.v) {
          const term = this.expr(s.e.b);
          if (term.t === 'vf32') return [`${ind}v_${s.v} = v_${s.v} + dot(${term.c}, vec4<f32>(1.0));`];
        }
        const x = this.expr(s.e);
        const c =
          t === 'vf32' && x.t === 'f32' ? `vec4<f32>(${x.c})` : t === 'f32' && x.t === 'i32' ? `f32(${x.c})` : x.c;
        if (t === 'i32' && x.t !== 'i32') this.err(`integer '${s.v}' assigned a ${x.t}`);
        return [`${ind}v_${s.v} = ${c};`];
      }
      case 'break': {
        const top = this.predicates[this.predicates.length - 1];
        if (top && top.depth === this.loopDepth) this.err('a break under a guard around a cross-thread sum');
        return [`${ind}break;`];
      }
      case 'if': {
        const c = this.expr(s.c);
        if (c.t !== 'bool') this.err('an if condition must be a comparison');
        if (!s.no && holdsCrossThreadSum(this.p, s.yes)) {
          // a barrier needs every thread: the guard becomes a predicate of the stores it encloses
          // (out-of-range iterations compute on loads WebGPU keeps in bounds, and write nothing)
          const name = `tess_p${this.predicates.length}_${this.loopDepth}`;
          this.predicates.push({ name, depth: this.loopDepth });
          const body = this.stmts(s.yes, inner);
          this.predicates.pop();
          return [`${ind}let ${name} = ${c.c};`, `${ind}{`, ...body, `${ind}}`];
        }
        const lines = [`${ind}if ${c.c} {`, ...this.stmts(s.yes, inner)];
        if (s.no) lines.push(`${ind}} else {`, ...this.stmts(s.no, inner));
        return [...lines, `${ind}}`];
      }
      case 'while': {
        const c = this.expr(s.c);
        if (c.t !== 'bool') this.err('a while condition must be a comparison');
        this.loopDepth++;
        const body = this.stmts(s.body, inner);
        this.loopDepth--;
        return [`${ind}loop {`, `${inner}if (!${c.c}) { break; }`, ...body, `${ind}}`];
      }
      case 'store': {
        const a = this.access(s.buf, s.idx);
        const x = this.expr(s.e);
        const v = a.vec
          ? x.t === 'vf32'
            ? x.c
            : `vec4<f32>(${x.c})`
          : x.t === 'vf32'
            ? this.err('vector into scalar')
            : x.t === 'i32' && a.b.dtype === 'f32'
              ? `f32(${x.c})`
              : x.c;
        const conds = [...this.predicates.map((q) => q.name), ...this.soleWriter];
        if (conds.length) return [`${ind}if (${conds.join(' && ')}) { ${a.ref} = ${v}; }`];
        return [`${ind}${a.ref} = ${v};`];
      }
      case 'for':
        return this.loop(s, ind);
    }
  }

  private loop(s: For, ind: string): string[] {
    const inner = `${ind}  `;
    const v = `v_${s.v}`;
    const lo = this.expr(s.lo);
    const hi = this.expr(s.hi);
    if (lo.t !== 'i32' || hi.t !== 'i32') this.err(`bounds of '${s.v}' must be integers`);
    switch (s.bind) {
      case 'serial': {
        this.scopes.push(new Map([[s.v, 'i32']]));
        const guard = rampGuard(s, this.nonNeg);
        // a split's guard that only grows with the loop ends it: the loop runs while it holds
        const cond = guard ? this.expr(guard.c).c : `${v} < ${hi.c}`;
        this.loopDepth++;
        const body = this.stmts(guard ? guard.yes : s.body, inner);
        this.loopDepth--;
        this.scopes.pop();
        return [`${ind}for (var ${v} = ${lo.c}; ${cond}; ${v}++) {`, ...body, `${ind}}`];
      }
      case 'vector': {
        this.inVector++;
        const body = this.stmts(s.body, ind);
        this.inVector--;
        return [`${ind}// lanes of '${s.v}' as vec4`, ...body];
      }
      case 'workgroup':
      case 'thread': {
        this.scopes.push(new Map([[s.v, 'i32']]));
        const src =
          s.bind === 'workgroup'
            ? `i32(tess_g) - ${this.workgroupBase}`
            : `i32((lid / ${this.threadStride.get(s.v)}u) % ${constInt(s.hi)}u)`;
        const sums = crossThreadSums(this.p, s);
        const body = this.stmts(s.body, inner);
        this.scopes.pop();
        const head = `${ind}let ${v} = ${src}${s.bind === 'workgroup' ? ` + ${lo.c}` : ''};`;
        if (s.bind === 'workgroup') return [head, `${ind}if (${v} >= ${lo.c} && ${v} < ${hi.c}) {`, ...body, `${ind}}`];
        // a thread loop's constant extent covers its index exactly: no guard
        if (sums.length === 0) return [head, `${ind}{`, ...body, `${ind}}`];
        return [head, ...this.crossThreadSum(s, sums, body, ind)];
      }
    }
  }

  /**
   * A thread loop summing into outer variables: each thread starts its part from zero, the parts
   * meet in workgroup memory (a tree over the loop's threads, `stride` apart in the workgroup),
   * and every thread of the group adds the total to the value before the loop.
   */
  private crossThreadSum(s: For, sums: readonly string[], body: readonly string[], ind: string): string[] {
    const n = constInt(s.hi)!;
    if ((n & (n - 1)) !== 0) this.err(`a cross-thread sum over '${s.v}' needs a power-of-two extent, got ${n}`);
    const stride = this.threadStride.get(s.v)!;
    const before: string[] = [];
    const after: string[] = [];
    for (const acc of sums) {
      const t = this.typeOf(acc);
      if (t !== 'f32' && t !== 'vf32') this.err(`cross-thread sum of the ${t} '${acc}'`);
      const elem = t === 'f32' ? 'f32' : 'vec4<f32>';
      const red = `tess_red${this.shared.length}`;
      this.shared.push({ name: red, elem });
      before.push(`${ind}let tess_base_${acc} = v_${acc};`, `${ind}v_${acc} = ${elem}(0.0);`);
      after.push(`${ind}${red}[lid] = v_${acc};`, `${ind}workgroupBarrier();`);
      for (let w = n / 2; w >= 1; w /= 2)
        after.push(
          `${ind}if (v_${s.v} < ${w}) { ${red}[lid] = ${red}[lid] + ${red}[lid + ${w * stride}u]; }`,
          `${ind}workgroupBarrier();`,
        );
      after.push(`${ind}v_${acc} = tess_base_${acc} + ${red}[lid - u32(v_${s.v}) * ${stride}u];`);
      // inside a loop the next pass rewrites the array: everyone must have read it first
      if (this.loopDepth > 0) after.push(`${ind}workgroupBarrier();`);
    }
    this.soleWriter.push(`((lid / ${stride}u) % ${n}u == 0u)`);
    return [...before, `${ind}{`, ...body, `${ind}}`, ...after];
  }

  sharedDecls(): string[] {
    return this.shared.map((r) => `var<workgroup> ${r.name}: array<${r.elem}, ${this.workgroupSize}>;`);
  }

  /** The main function: each top-level workgroup loop over its range of the grid. */
  main(): string {
    const lines: string[] = [];
    let base = '0';
    for (const s of this.p.body) {
      if (s.k !== 'for' || s.bind !== 'workgroup') this.err('top-level statements must be workgroup loops');
      const threads = boundLoops(s.body, 'thread');
      const size = threads.reduce((a, t) => a * (constInt(t.hi) ?? this.err(`thread loop '${t.v}' extent`)), 1);
      if (this.workgroupSize && size !== this.workgroupSize)
        this.err(`parts have workgroup sizes ${this.workgroupSize} and ${size}`);
      this.workgroupSize = size;
      let stride = 1;
      for (let j = threads.length - 1; j >= 0; j--) {
        this.threadStride.set(threads[j]!.v, stride);
        stride *= constInt(threads[j]!.hi)!;
      }
      this.workgroupBase = base;
      lines.push('  {', ...this.loop(s, '    '), '  }');
      const ext = this.expr(s.hi).c;
      const lo = this.expr(s.lo).c;
      base = base === '0' ? `(${ext} - ${lo})` : `(${base} + ${ext} - ${lo})`;
    }
    if (this.workgroupSize > 256) this.err(`workgroup of ${this.workgroupSize} threads exceeds 256`);
    const dimLets = this.dimNames.map((d, i) => `let v_${d} = i32(tess_dims.d[${i >> 2}][${i & 3}]);`);
    return `@compute @workgroup_size(${this.workgroupSize})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  ${dimLets.join('\n  ')}
  let tess_g = wid.x + wid.y * nwg.x;
${lines.join('\n')}
}`;
  }
}

const PRELUDE = `fn tess_fdiv(a: i32, b: i32) -> i32 {
  let q = a / b;
  return select(q, q - 1, (a % b != 0) && ((a < 0) != (b < 0)));
}
fn tess_fmod(a: i32, b: i32) -> i32 { return a - b * tess_fdiv(a, b); }`;

export function generateLoopWgsl(p: LoopProgram): WgslLoopProgram {
  const dims = loopProgramDims(p);
  const em = new WgslEmitter(p, dims);
  const decls = em.bindings();
  const main = em.main();
  const shared = em.sharedDecls();
  return {
    wgsl: `// loop program ${p.name}\n${[...decls, ...shared].join('\n')}\n${PRELUDE}\n${main}\n`,
    dims,
    workgroupSize: em.workgroupSize,
  };
}
