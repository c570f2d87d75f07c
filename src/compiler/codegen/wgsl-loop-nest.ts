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
import { type LoopProgram, type Stmt, boundLoops, loopProgramDims } from '../../ir/tir/loop-nest.js';
import { type For, constInt, crossThreadSums, holdsCrossThreadSum, rampGuard } from './wgsl-loop-nest-forms.js';

import { WgslExprEmitter } from './wgsl-loop-nest-expr.js';

export { LoopCodegenError } from './wgsl-loop-nest-forms.js';
export { loopNestGroups, loopNestUniforms } from './wgsl-loop-nest-launch.js';

export interface WgslLoopProgram {
  readonly wgsl: string;
  /** Uniform order: the values of these dimensions. */
  readonly dims: readonly string[];
  readonly workgroupSize: number;
}

class WgslEmitter extends WgslExprEmitter {
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

  stmts(body: readonly Stmt[], ind: string): string[] {
    this.scopes.push(new Map());
    const writers = this.soleWriter.length;
    const out = body.flatMap((s) => this.stmt(s, ind));
    this.soleWriter.length = writers;
    this.scopes.pop();
    return out;
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
