/**
 * Schedule primitives on loop-nest programs (`loop-nest.ts`), each a rewrite that keeps the
 * program's meaning: `split` a loop into outer × inner, `reorder` two directly nested loops,
 * `bind` a loop to workgroups, threads or vector lanes, and `fuseHorizontal` several programs into
 * one dispatch (their workgroup loops take consecutive ranges of one grid). A schedule of an
 * operator is a sequence of these applied to its lowered nest.
 */
import { type PExpr, bin, int, pvar, visitExpr } from './program.js';
import { type LoopBinding, type LoopProgram, type Stmt, substStmts } from './loop-nest.js';

export class ScheduleError extends Error {
  constructor(p: LoopProgram | string, msg: string) {
    super(`schedule of '${typeof p === 'string' ? p : p.name}': ${msg}`);
    this.name = 'ScheduleError';
  }
}

type For = Extract<Stmt, { k: 'for' }>;

/** Rewrites the one loop named `v` with `f`; throws unless exactly one loop has that name. */
function rewriteLoop(p: LoopProgram, v: string, f: (s: For) => Stmt): LoopProgram {
  let hits = 0;
  const go = (body: readonly Stmt[]): Stmt[] =>
    body.map((s): Stmt => {
      switch (s.k) {
        case 'for':
          if (s.v === v) {
            hits++;
            return f(s);
          }
          return { ...s, body: go(s.body) };
        case 'while':
          return { ...s, body: go(s.body) };
        case 'if':
          return { ...s, yes: go(s.yes), ...(s.no ? { no: go(s.no) } : {}) };
        default:
          return s;
      }
    });
  const body = go(p.body);
  if (hits !== 1) throw new ScheduleError(p, `expected one loop '${v}', found ${hits}`);
  return { ...p, body };
}

const mentions = (e: PExpr, v: string): boolean => {
  let hit = false;
  visitExpr(e, (x) => {
    if (x.k === 'var' && x.name === v) hit = true;
  });
  return hit;
};

const isZero = (e: PExpr) => e.k === 'int' && e.v === 0;

export interface SplitOptions {
  /** Names of the new loops (default `<v>_o`, `<v>_i`). */
  readonly outer?: string;
  readonly inner?: string;
  /** The caller guarantees `factor` divides the extent: no bound check is emitted (needed to vectorize). */
  readonly exact?: boolean;
}

/**
 * `for v in [lo, hi)` → `for vo in [0, ⌈(hi−lo)/F⌉) for vi in [0, F)` with `v = lo + vo·F + vi`
 * substituted into the body (the inner variable last, so a vectorized `vi` is the trailing term of
 * an index) and, unless `exact`, the body guarded by `v < hi`.
 */
export function split(p: LoopProgram, v: string, factor: number, opts: SplitOptions = {}): LoopProgram {
  if (!Number.isInteger(factor) || factor < 1) throw new ScheduleError(p, `split factor ${factor}`);
  const vo = opts.outer ?? `${v}_o`;
  const vi = opts.inner ?? `${v}_i`;
  return rewriteLoop(p, v, (s) => {
    const extent = isZero(s.lo) ? s.hi : bin('-', s.hi, s.lo);
    const outerHi = opts.exact
      ? bin('floordiv', extent, int(factor))
      : bin('floordiv', bin('+', extent, int(factor - 1)), int(factor));
    const scaled = bin('+', bin('*', pvar(vo), int(factor)), pvar(vi));
    const value = isZero(s.lo) ? scaled : bin('+', bin('+', s.lo, bin('*', pvar(vo), int(factor))), pvar(vi));
    const body = substStmts(s.body, new Map([[v, value]]));
    const guarded: Stmt[] = opts.exact ? body : [{ k: 'if', c: bin('<', value, s.hi), yes: body }];
    return {
      k: 'for',
      v: vo,
      lo: int(0),
      hi: outerHi,
      bind: 'serial',
      body: [{ k: 'for', v: vi, lo: int(0), hi: int(factor), bind: 'serial', body: guarded }],
    };
  });
}

/** Swaps loop `outer` with the loop that is its whole body (whose bounds must not use `outer`). */
export function reorder(p: LoopProgram, outer: string, inner: string): LoopProgram {
  return rewriteLoop(p, outer, (s) => {
    const only = s.body.length === 1 ? s.body[0]! : undefined;
    if (only?.k !== 'for' || only.v !== inner)
      throw new ScheduleError(p, `'${inner}' is not the whole body of '${outer}'`);
    if (mentions(only.lo, outer) || mentions(only.hi, outer))
      throw new ScheduleError(p, `the bounds of '${inner}' depend on '${outer}'`);
    return { ...only, body: [{ ...s, body: only.body }] };
  });
}

/**
 * Binds loop `v`. A thread loop needs a constant extent from 0 (the workgroup size is the product
 * of the thread extents on a path); a vector loop an extent of exactly 4 from 0, with the caller
 * guaranteeing that its variable only appears as the trailing `+ v` of the last index of loads and
 * stores of 4-aligned rows (the codegen checks the form).
 */
export function bind(p: LoopProgram, v: string, to: LoopBinding): LoopProgram {
  return rewriteLoop(p, v, (s) => {
    if (to === 'thread' || to === 'vector') {
      if (!isZero(s.lo) || s.hi.k !== 'int')
        throw new ScheduleError(p, `a ${to} loop needs a constant extent from 0 ('${v}')`);
      if (to === 'vector' && s.hi.v !== 4)
        throw new ScheduleError(p, `a vector loop has 4 lanes, '${v}' has ${s.hi.v}`);
    }
    return { ...s, bind: to };
  });
}

/** `split(v, 4, exact)` and bind the lanes: features as vec4. */
export function vectorize(p: LoopProgram, v: string, outer = `${v}_v`, lane = `${v}_l`): LoopProgram {
  return bind(split(p, v, 4, { exact: true, outer, inner: lane }), lane, 'vector');
}

/**
 * Horizontal fusion: one program whose body is every part's body in turn. Each part's top-level
 * statements must be workgroup loops, so the parts occupy consecutive ranges of one workgroup
 * grid; bindings are shared by name (the same buffer read by several parts is bound once).
 */
export function fuseHorizontal(name: string, parts: readonly LoopProgram[]): LoopProgram {
  const inputs = new Map<string, LoopProgram['inputs'][number]>();
  const outputs = new Map<string, LoopProgram['outputs'][number]>();
  for (const part of parts) {
    for (const s of part.body)
      if (s.k !== 'for' || s.bind !== 'workgroup')
        throw new ScheduleError(part, 'horizontal fusion needs workgroup loops at the top level');
    part.inputs.forEach((b) => inputs.set(b.name, b));
    part.outputs.forEach((b) => outputs.set(b.name, b));
  }
  return { name, inputs: [...inputs.values()], outputs: [...outputs.values()], body: parts.flatMap((q) => q.body) };
}

/**
 * `for a in [0, A) for b in [0, B)` (b the whole body of a) → `for name in [0, A·B)` with
 * a = name ÷ B, b = name mod B: one flat index space to split over workgroups and threads.
 */
export function fuse(p: LoopProgram, outer: string, inner: string, name = `${outer}_${inner}`): LoopProgram {
  return rewriteLoop(p, outer, (s) => {
    const only = s.body.length === 1 ? s.body[0]! : undefined;
    if (only?.k !== 'for' || only.v !== inner)
      throw new ScheduleError(p, `'${inner}' is not the whole body of '${outer}'`);
    if (!isZero(s.lo) || !isZero(only.lo)) throw new ScheduleError(p, `fused loops start at 0`);
    if (mentions(only.hi, outer)) throw new ScheduleError(p, `the extent of '${inner}' depends on '${outer}'`);
    const f = pvar(name);
    const body = substStmts(
      only.body,
      new Map([
        [outer, bin('floordiv', f, only.hi)],
        [inner, bin('floormod', f, only.hi)],
      ]),
    );
    return { k: 'for', v: name, lo: int(0), hi: bin('*', s.hi, only.hi), bind: 'serial', body };
  });
}

/**
 * Factors a reduction over loop `reduce` by the loop `lane` directly inside it (possibly under one
 * bound guard that does not use `lane`), whose body is the one step `acc = acc + e`: each lane sums
 * its own part, then the parts are added to `acc` —
 * `for lane { var part = 0; for reduce { [if guard] part = part + e }; acc = acc + part }`. With
 * `lane` vectorized this is a vec4 dot product finished by a sum of the lanes.
 */
export function rfactor(p: LoopProgram, reduce: string, lane: string, part = `${lane}_part`): LoopProgram {
  return rewriteLoop(p, reduce, (s) => {
    let only = s.body.length === 1 ? s.body[0]! : undefined;
    const guard = only?.k === 'if' && !only.no && only.yes.length === 1 ? only : undefined;
    if (guard) only = guard.yes[0];
    if (only?.k !== 'for' || only.v !== lane)
      throw new ScheduleError(p, `'${lane}' is not the whole body of '${reduce}'`);
    if (mentions(only.lo, reduce) || mentions(only.hi, reduce) || (guard && mentions(guard.c, lane)))
      throw new ScheduleError(p, `the bounds of '${lane}' depend on '${reduce}', or its guard on '${lane}'`);
    const step = only.body.length === 1 ? only.body[0]! : undefined;
    if (
      step?.k !== 'assign' ||
      step.e.k !== 'bin' ||
      step.e.op !== '+' ||
      step.e.a.k !== 'var' ||
      step.e.a.name !== step.v
    )
      throw new ScheduleError(p, `the body of '${lane}' must be one 'acc = acc + e'`);
    const acc = step.v;
    const partStep: Stmt = { k: 'assign', v: part, e: bin('+', pvar(part), step.e.b) };
    return {
      ...only,
      body: [
        { k: 'var', v: part, e: { k: 'float', v: 0 } },
        { ...s, body: [guard ? { ...guard, yes: [partStep] } : partStep] },
        { k: 'assign', v: acc, e: bin('+', pvar(acc), pvar(part)) },
      ],
    };
  });
}
