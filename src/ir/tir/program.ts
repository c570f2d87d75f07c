/**
 * Loop-level tensor programs: one output buffer computed by a loop nest over its axes (`i0, i1,
 * …`), optionally reducing over extra axes (`r0, …`), all extents symbolic. Scalar arithmetic is
 * f32 (loads convert, the store rounds to the output dtype); index arithmetic is integer.
 *
 * The loop nest is implied by the output shape and reduction extents, which keeps programs easy
 * to fuse (substitute a producer's body for a load) while the schedule decides how the nest maps
 * onto GPU threads. The printer shows the nest explicitly.
 */
import type { UnaryOp } from '../../ops/expr.js';
import type { DType } from '../../tensor/dtype.js';
import { Sym } from '../sym/sym.js';

export type IntBinOp = '+' | '-' | '*' | 'floordiv' | 'floormod' | 'min' | 'max';
export type FloatBinOp = '+' | '-' | '*' | '/' | 'min' | 'max' | 'pow';
export type CmpOp = '<' | '<=' | '==';

export type PExpr =
  | { readonly k: 'int'; readonly v: number }
  | { readonly k: 'float'; readonly v: number }
  /** A loop variable (`i0`, `r0`), a symbolic dimension, or `acc` in an epilogue. */
  | { readonly k: 'var'; readonly name: string }
  /**
   * A buffer element. Loads are f32 values unless `index` is set: then the buffer must hold i32/u32
   * and the value is an integer, usable as an index or a loop bound (CSR's indptr and indices).
   */
  | { readonly k: 'load'; readonly buf: string; readonly idx: readonly PExpr[]; readonly index?: true }
  | { readonly k: 'bin'; readonly op: IntBinOp | FloatBinOp | CmpOp; readonly a: PExpr; readonly b: PExpr }
  | { readonly k: 'un'; readonly op: UnaryOp; readonly a: PExpr }
  | { readonly k: 'select'; readonly c: PExpr; readonly a: PExpr; readonly b: PExpr };

export interface BufferParam {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly Sym[];
}

export type ProgramKind = 'elementwise' | 'injective' | 'reduction';
export type ReduceOp = 'sum' | 'max' | 'min';

export interface Schedule {
  /** Threads per workgroup (a power of two). */
  readonly workgroupSize: number;
  /** Consecutive output elements each thread writes (2 for 16-bit outputs packed into u32). */
  readonly elemsPerThread: number;
  /** `thread`: one thread folds a whole reduction; `workgroup`: a workgroup per output, tree-reduced in shared memory. */
  readonly reduction: 'thread' | 'workgroup';
}

/**
 * A reduction axis whose bounds are data: `r0` runs over [lo, hi), integer expressions of the output
 * axes and dimensions that may load (`indptr[i0]`, `indptr[i0 + 1]`) — the lowering of a
 * sparse-variable axis. The reduction then has exactly one extent, the axis's largest size (the
 * stored count), which bounds [lo, hi) but is never iterated.
 */
export interface ReduceRange {
  readonly lo: PExpr;
  readonly hi: PExpr;
}

export interface TensorProgram {
  readonly name: string;
  readonly kind: ProgramKind;
  readonly inputs: readonly BufferParam[];
  readonly output: BufferParam;
  readonly reduce?: { readonly op: ReduceOp; readonly extents: readonly Sym[]; readonly range?: ReduceRange };
  /** Value per output element (per reduction point when reducing). */
  readonly body: PExpr;
  /** For reductions: the stored value, reading `acc` (default: `acc`). */
  readonly epilogue?: PExpr;
  readonly schedule: Schedule;
  /**
   * Keep one thread per output whatever the reduction's length: set by generators whose outputs
   * are many and whose reductions are short (a convolution: H·W·O outputs of C·KH·KW terms), where
   * a workgroup per output would leave most of its threads idle.
   */
  readonly reduceInThread?: true;
}

export const DEFAULT_SCHEDULE: Schedule = { workgroupSize: 256, elemsPerThread: 1, reduction: 'thread' };

// ---------- construction helpers ----------

export const int = (v: number): PExpr => ({ k: 'int', v });
export const flt = (v: number): PExpr => ({ k: 'float', v });
export const pvar = (name: string): PExpr => ({ k: 'var', name });
export const load = (buf: string, idx: readonly PExpr[]): PExpr => ({ k: 'load', buf, idx });
/** An integer load from an i32/u32 buffer (an index or a loop bound). */
export const indexLoad = (buf: string, idx: readonly PExpr[]): PExpr => ({ k: 'load', buf, idx, index: true });
export const bin = (op: IntBinOp | FloatBinOp | CmpOp, a: PExpr, b: PExpr): PExpr => ({ k: 'bin', op, a, b });
export const un = (op: UnaryOp, a: PExpr): PExpr => ({ k: 'un', op, a });
export const select = (c: PExpr, a: PExpr, b: PExpr): PExpr => ({ k: 'select', c, a, b });

export const axisVar = (i: number): string => `i${i}`;
export const reduceVar = (i: number): string => `r${i}`;
export const axes = (rank: number): PExpr[] => Array.from({ length: rank }, (_, i) => pvar(axisVar(i)));

/** Integer expression for a symbolic dimension (floordiv/floormod/min/max kept as calls). */
export function symToP(s: Sym): PExpr {
  let acc: PExpr | undefined;
  const push = (e: PExpr, neg: boolean) => {
    acc = acc === undefined ? (neg ? bin('-', int(0), e) : e) : bin(neg ? '-' : '+', acc, e);
  };
  for (const t of s.terms) {
    let p: PExpr | undefined = Math.abs(t.coef) === 1 ? undefined : int(Math.abs(t.coef));
    for (const a of t.atoms) {
      const ae = a.k === 'var' ? pvar(a.name!) : bin(a.k, symToP(a.a!), symToP(a.b!));
      p = p === undefined ? ae : bin('*', p, ae);
    }
    push(p!, t.coef < 0);
  }
  if (s.c !== 0 || acc === undefined) push(int(Math.abs(s.c)), s.c < 0);
  return acc!;
}

// ---------- analysis ----------

export function mapExpr(e: PExpr, f: (e: PExpr) => PExpr | undefined): PExpr {
  const r = f(e);
  if (r !== undefined) return r;
  switch (e.k) {
    case 'load':
      return { ...e, idx: e.idx.map((x) => mapExpr(x, f)) };
    case 'bin':
      return { ...e, a: mapExpr(e.a, f), b: mapExpr(e.b, f) };
    case 'un':
      return { ...e, a: mapExpr(e.a, f) };
    case 'select':
      return { ...e, c: mapExpr(e.c, f), a: mapExpr(e.a, f), b: mapExpr(e.b, f) };
    default:
      return e;
  }
}

export function visitExpr(e: PExpr, f: (e: PExpr) => void): void {
  f(e);
  switch (e.k) {
    case 'load':
      e.idx.forEach((x) => visitExpr(x, f));
      break;
    case 'bin':
      visitExpr(e.a, f);
      visitExpr(e.b, f);
      break;
    case 'un':
      visitExpr(e.a, f);
      break;
    case 'select':
      visitExpr(e.c, f);
      visitExpr(e.a, f);
      visitExpr(e.b, f);
      break;
    default:
      break;
  }
}

/** Replaces variables by expressions (loop-variable renaming during fusion). */
export function substVars(e: PExpr, map: ReadonlyMap<string, PExpr>): PExpr {
  return mapExpr(e, (x) => (x.k === 'var' ? (map.get(x.name) ?? x) : undefined));
}

const LOOP_VAR = /^[ir]\d+$/;

/** Symbolic dimension variables a program needs at run time (its uniforms), sorted. */
export function programSymVars(p: TensorProgram): string[] {
  const out = new Set<string>();
  const addSym = (s: Sym) => s.vars().forEach((v) => out.add(v));
  [...p.inputs, p.output].forEach((b) => b.shape.forEach(addSym));
  p.reduce?.extents.forEach(addSym);
  for (const e of [p.body, p.epilogue, p.reduce?.range?.lo, p.reduce?.range?.hi]) {
    if (e)
      visitExpr(e, (x) => {
        if (x.k === 'var' && x.name !== 'acc' && !LOOP_VAR.test(x.name)) out.add(x.name);
      });
  }
  return [...out].sort();
}

/** Output elements, symbolically. */
export function outputElements(p: TensorProgram): Sym {
  return p.output.shape.reduce((a, d) => a.mul(d), Sym.const(1));
}

/** The reduction's data-dependent range, checked: one extent, and no range on a non-reduction. */
export function reduceRange(p: TensorProgram): ReduceRange | undefined {
  const r = p.reduce?.range;
  if (r && p.reduce!.extents.length !== 1)
    throw new Error(`program '${p.name}': a ranged reduction has one extent, got ${p.reduce!.extents.length}`);
  return r;
}
