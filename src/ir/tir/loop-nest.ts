/**
 * Loop-nest programs: the statement level of the tensor-program IR, where the loops are explicit.
 * A sparse iteration lowers to this form (a sparse-variable axis is a loop over `indptr`, a
 * sparse-fixed one a loop of constant trip count that breaks at the padding, a dense-fixed block
 * axis an inner loop of the block size), and schedules are transformations of it
 * (`loop-schedule.ts`: split, reorder, bind to workgroups or threads, vectorize). The generic
 * codegen turns one program into WGSL (`wgsl-loop-nest.ts`) or JavaScript (`js-loop-nest.ts`).
 *
 * Expressions are `PExpr`s; a variable is a loop variable, a `let`/`var` local, or a symbolic
 * dimension (anything not declared by a statement, passed at launch as a uniform). Locals are typed
 * by their first value: integer (i32) or float (f32; vec4<f32> inside a vectorized loop).
 */
import { Sym, sym } from '../sym/sym.js';
import { type BufferParam, type PExpr, substVars, visitExpr } from './program.js';

/**
 * How a loop maps onto the GPU. `workgroup`: one workgroup per iteration (sibling workgroup loops
 * take consecutive ranges of the workgroup grid: horizontal fusion); `thread`: one invocation per
 * iteration, the extent a constant; `vector`: the lanes of a vec4 (extent 4); `serial`: a loop.
 */
export type LoopBinding = 'serial' | 'workgroup' | 'thread' | 'vector';

export type Stmt =
  | {
      readonly k: 'for';
      readonly v: string;
      readonly lo: PExpr;
      readonly hi: PExpr;
      readonly bind: LoopBinding;
      readonly body: readonly Stmt[];
    }
  | { readonly k: 'while'; readonly c: PExpr; readonly body: readonly Stmt[] }
  /** An immutable local. */
  | { readonly k: 'let'; readonly v: string; readonly e: PExpr }
  /** A mutable local (an accumulator, a search bound). */
  | { readonly k: 'var'; readonly v: string; readonly e: PExpr }
  | { readonly k: 'assign'; readonly v: string; readonly e: PExpr }
  | { readonly k: 'if'; readonly c: PExpr; readonly yes: readonly Stmt[]; readonly no?: readonly Stmt[] }
  | { readonly k: 'break' }
  | { readonly k: 'store'; readonly buf: string; readonly idx: readonly PExpr[]; readonly e: PExpr };

export interface LoopProgram {
  readonly name: string;
  /** Read-only bindings, in binding order. */
  readonly inputs: readonly BufferParam[];
  /** Written bindings, after the inputs. */
  readonly outputs: readonly BufferParam[];
  readonly body: readonly Stmt[];
}

// ---------- construction ----------

export const forLoop = (v: string, lo: PExpr, hi: PExpr, body: readonly Stmt[]): Stmt => ({
  k: 'for',
  v,
  lo,
  hi,
  bind: 'serial',
  body,
});
export const whileLoop = (c: PExpr, body: readonly Stmt[]): Stmt => ({ k: 'while', c, body });
export const letS = (v: string, e: PExpr): Stmt => ({ k: 'let', v, e });
export const varS = (v: string, e: PExpr): Stmt => ({ k: 'var', v, e });
export const assign = (v: string, e: PExpr): Stmt => ({ k: 'assign', v, e });
export const ifS = (c: PExpr, yes: readonly Stmt[], els?: readonly Stmt[]): Stmt =>
  els ? { k: 'if', c, yes, no: els } : { k: 'if', c, yes };
export const breakS: Stmt = { k: 'break' };
export const store = (buf: string, idx: readonly PExpr[], e: PExpr): Stmt => ({ k: 'store', buf, idx, e });

// ---------- traversal ----------

/** Every expression of a statement list (bounds, conditions, values, store indices), in order. */
export function stmtExprs(body: readonly Stmt[], f: (e: PExpr) => void): void {
  for (const s of body) {
    switch (s.k) {
      case 'for':
        f(s.lo);
        f(s.hi);
        stmtExprs(s.body, f);
        break;
      case 'while':
        f(s.c);
        stmtExprs(s.body, f);
        break;
      case 'let':
      case 'var':
      case 'assign':
        f(s.e);
        break;
      case 'if':
        f(s.c);
        stmtExprs(s.yes, f);
        if (s.no) stmtExprs(s.no, f);
        break;
      case 'store':
        s.idx.forEach(f);
        f(s.e);
        break;
      case 'break':
        break;
    }
  }
}

/** Names declared by statements (loop variables and locals). */
export function declaredNames(body: readonly Stmt[]): Set<string> {
  const out = new Set<string>();
  const go = (b: readonly Stmt[]) => {
    for (const s of b) {
      if (s.k === 'for') {
        out.add(s.v);
        go(s.body);
      } else if (s.k === 'while') go(s.body);
      else if (s.k === 'let' || s.k === 'var') out.add(s.v);
      else if (s.k === 'if') {
        go(s.yes);
        if (s.no) go(s.no);
      }
    }
  };
  go(body);
  return out;
}

/** The symbolic dimensions a program needs at launch (its uniforms), sorted. */
export function loopProgramDims(p: LoopProgram): string[] {
  const declared = declaredNames(p.body);
  const out = new Set<string>();
  [...p.inputs, ...p.outputs].forEach((b) => b.shape.forEach((d) => d.vars().forEach((v) => out.add(v))));
  stmtExprs(p.body, (e) =>
    visitExpr(e, (x) => {
      if (x.k === 'var' && !declared.has(x.name)) out.add(x.name);
    }),
  );
  return [...out].sort();
}

/** Replaces variables in every expression of `body` (a loop variable by its split form). */
export function substStmts(body: readonly Stmt[], map: ReadonlyMap<string, PExpr>): Stmt[] {
  const sub = (e: PExpr) => substVars(e, map);
  return body.map((s): Stmt => {
    switch (s.k) {
      case 'for':
        return { ...s, lo: sub(s.lo), hi: sub(s.hi), body: substStmts(s.body, map) };
      case 'while':
        return { ...s, c: sub(s.c), body: substStmts(s.body, map) };
      case 'let':
      case 'var':
      case 'assign':
        return { ...s, e: sub(s.e) };
      case 'if':
        return {
          ...s,
          c: sub(s.c),
          yes: substStmts(s.yes, map),
          ...(s.no ? { no: substStmts(s.no, map) } : {}),
        };
      case 'store':
        return { ...s, idx: s.idx.map(sub), e: sub(s.e) };
      case 'break':
        return s;
    }
  });
}

/** The loops bound to `bind`, outermost first, along every path. */
export function boundLoops(body: readonly Stmt[], bind: LoopBinding): Extract<Stmt, { k: 'for' }>[] {
  const out: Extract<Stmt, { k: 'for' }>[] = [];
  const go = (b: readonly Stmt[]) => {
    for (const s of b) {
      if (s.k === 'for') {
        if (s.bind === bind) out.push(s);
        go(s.body);
      } else if (s.k === 'while') go(s.body);
      else if (s.k === 'if') {
        go(s.yes);
        if (s.no) go(s.no);
      }
    }
  };
  go(body);
  return out;
}

/** A buffer's shape as symbolic dimensions. */
export const dims = (...names: (string | number | Sym)[]): Sym[] =>
  names.map((n) => (typeof n === 'number' ? Sym.const(n) : typeof n === 'string' ? sym(n) : n));
