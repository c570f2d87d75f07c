/**
 * The shapes of a loop-nest program that its WGSL depends on, found before or while emitting:
 * which thread loops sum into outer variables (and so need workgroup memory and barriers), which
 * split guards can end their loop, which buffers are read as vec4 and how a lane indexes them.
 */
import { type PExpr, visitExpr } from '../../ir/tir/program.js';
import { type LoopProgram, type Stmt, boundLoops, declaredNames, stmtExprs } from '../../ir/tir/loop-nest.js';
import { isNonNegative } from '../../ir/tir/loop-nonneg.js';

export class LoopCodegenError extends Error {
  constructor(p: LoopProgram, msg: string) {
    super(`code for loop program '${p.name}': ${msg}`);
    this.name = 'LoopCodegenError';
  }
}

export type For = Extract<Stmt, { k: 'for' }>;

/** Constant-integer value of an expression, if it is one. */
export const constInt = (e: PExpr): number | undefined => (e.k === 'int' ? e.v : undefined);

/** Every `assign` in a statement list, nested ones included. */
function assignsIn(body: readonly Stmt[]): Extract<Stmt, { k: 'assign' }>[] {
  const out: Extract<Stmt, { k: 'assign' }>[] = [];
  const go = (b: readonly Stmt[]) => {
    for (const s of b) {
      if (s.k === 'assign') out.push(s);
      else if (s.k === 'for' || s.k === 'while') go(s.body);
      else if (s.k === 'if') {
        go(s.yes);
        if (s.no) go(s.no);
      }
    }
  };
  go(body);
  return out;
}

/**
 * The variables a thread loop sums across its threads: assigned inside as `v = v + e` but declared
 * outside. Any other write of an outer variable would race, so it is refused.
 */
export function crossThreadSums(p: LoopProgram, s: For): string[] {
  if (s.bind !== 'thread') return [];
  const inner = declaredNames(s.body);
  const out = new Set<string>();
  for (const a of assignsIn(s.body)) {
    if (inner.has(a.v)) continue;
    if (a.e.k !== 'bin' || a.e.op !== '+' || a.e.a.k !== 'var' || a.e.a.name !== a.v)
      throw new LoopCodegenError(p, `thread loop '${s.v}' writes '${a.v}', declared outside it, other than as a sum`);
    out.add(a.v);
  }
  return [...out];
}

/** Whether a statement list holds a cross-thread sum (its enclosing guards must stay uniform). */
export function holdsCrossThreadSum(p: LoopProgram, body: readonly Stmt[]): boolean {
  return boundLoops(body, 'thread').some((t) => crossThreadSums(p, t).length > 0);
}

/**
 * The guard `if (v·F + x < h)` that is the whole body of serial loop `v` ∈ [0, ⌈h/F⌉), as `split`
 * leaves it (F > 0; x never negative and h free of v): once false it stays false as v grows, and
 * it implies v < ⌈h/F⌉, so it can end the loop instead of being tested on each pass.
 */
export function rampGuard(s: For, nonNeg: ReadonlySet<string>): Extract<Stmt, { k: 'if' }> | undefined {
  const only = s.body.length === 1 ? s.body[0]! : undefined;
  if (only?.k !== 'if' || only.no || s.lo.k !== 'int' || s.lo.v !== 0) return undefined;
  const c = only.c;
  if (c.k !== 'bin' || c.op !== '<' || c.a.k !== 'bin' || c.a.op !== '+') return undefined;
  const [scaled, rest] = [c.a.a, c.a.b];
  const isV = (e: PExpr) => e.k === 'var' && e.name === s.v;
  if (scaled.k !== 'bin' || scaled.op !== '*' || !isV(scaled.a) || scaled.b.k !== 'int' || scaled.b.v <= 0)
    return undefined;
  const f = scaled.b.v;
  const splitBound: PExpr = {
    k: 'bin',
    op: 'floordiv',
    a: { k: 'bin', op: '+', a: c.b, b: { k: 'int', v: f - 1 } },
    b: { k: 'int', v: f },
  };
  if (JSON.stringify(s.hi) !== JSON.stringify(splitBound) || !isNonNegative(rest, nonNeg)) return undefined;
  let free = true;
  for (const e of [rest, c.b])
    visitExpr(e, (x) => {
      if (isV(x)) free = false;
    });
  return free ? only : undefined;
}

/** Vector lane variables and the buffers they index (which become arrays of vec4). */
export function vectorBuffers(p: LoopProgram): { lanes: Set<string>; bufs: Set<string> } {
  const lanes = new Set(boundLoops(p.body, 'vector').map((s) => s.v));
  const bufs = new Set<string>();
  const scan = (buf: string, idx: readonly PExpr[]) => {
    let uses = false;
    idx.forEach((x) =>
      visitExpr(x, (y) => {
        if (y.k === 'var' && lanes.has(y.name)) uses = true;
      }),
    );
    if (uses) bufs.add(buf);
  };
  const visitStmts = (body: readonly Stmt[]) =>
    stmtExprs(body, (e) =>
      visitExpr(e, (x) => {
        if (x.k === 'load') scan(x.buf, x.idx);
      }),
    );
  visitStmts(p.body);
  const stores = (body: readonly Stmt[]) => {
    for (const s of body) {
      if (s.k === 'store') scan(s.buf, s.idx);
      if (s.k === 'for' || s.k === 'while') stores(s.body);
      if (s.k === 'if') {
        stores(s.yes);
        if (s.no) stores(s.no);
      }
    }
  };
  stores(p.body);
  return { lanes, bufs };
}

/** The index without its trailing lane term, or throws when the lane appears any other way. */
export function stripLane(
  p: LoopProgram,
  buf: string,
  idx: readonly PExpr[],
  lanes: ReadonlySet<string>,
): { idx: PExpr[]; lane?: string } {
  const last = idx[idx.length - 1];
  let lane: string | undefined;
  let rest: PExpr | undefined;
  if (last?.k === 'var' && lanes.has(last.name)) [lane, rest] = [last.name, { k: 'int', v: 0 }];
  else if (last?.k === 'bin' && last.op === '+' && last.b.k === 'var' && lanes.has(last.b.name))
    [lane, rest] = [last.b.name, last.a];
  const out = lane ? [...idx.slice(0, -1), rest!] : [...idx];
  out.forEach((x) =>
    visitExpr(x, (y) => {
      if (y.k === 'var' && lanes.has(y.name))
        throw new LoopCodegenError(p, `lane '${y.name}' indexes '${buf}' other than as a trailing '+ lane'`);
    }),
  );
  return lane ? { idx: out, lane } : { idx: out };
}
