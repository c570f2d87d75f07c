/**
 * Folds a projection's neighbours into it, after FuseOps: a `matmul` against an [N, K] weight
 * becomes a `linear` (src/ops/linear.ts) that also
 *
 * 1. applies RoPE to its output, when its only use is a `rope` through a reshape view; and
 * 2. RMS-normalises its input rows, when that input is an `rmsnorm` result whose every use is the
 *    first operand of such a projection (Q/K/V, gate/up and the LM head all read one norm: each
 *    recomputes the row's Σx², which at decode sizes costs less than a dispatch and a round trip)
 *    or of a kernel that takes the same norm prologue (`lora_delta`, a projection's LoRA term);
 * 3. multiplies a second weight of its shape alongside (Relax's CombineParallelMatmul), when an
 *    input of its epilogue is that projection of the same rows, used nowhere else: gate and up
 *    become one pass with SiLU·mul in the epilogue (up's own epilogue, a LoRA term say, moves
 *    inside it). The weights stay two buffers read side by side (same bytes as one concatenated
 *    weight, and nothing to rebuild at load time).
 *
 * Decode then runs norm + projection + RoPE (or + paired projection) as one kernel. Rewrites stay inside a dataflow block,
 * so no impure call is reordered.
 */
import type { Attrs } from '../../backends/backend.js';
import { type Binding, type Call, type Expr, type Func, type IRModule, callOf, exprVars } from '../../ir/graph.js';
import { type TensorType, typeToString } from '../../ir/types.js';
import type { LinearAttrs } from '../../ops/linear.js';
import type { RopeAttrs } from '../../ops/rope.js';
import { isView } from './plan-memory.js';

const MATMUL_KEYS = new Set(['transB', 'outDtype', 'epilogue']);

/** A call this pass can turn into (or extend as) a `linear`: its attrs, operands and extras. */
export interface Projection {
  readonly attrs: LinearAttrs;
  readonly a: Expr;
  readonly w: Expr;
  readonly w2?: Expr;
  readonly norm?: Expr;
  readonly pos?: Expr;
  readonly extras: readonly Expr[];
}

export function projectionOf(c: Call): Projection | undefined {
  if (c.k !== 'call' || c.kind !== 'kernel') return undefined;
  if (c.callee === 'matmul') {
    if (c.attrs.transB !== true || Object.keys(c.attrs).some((k) => !MATMUL_KEYS.has(k))) return undefined;
    const w = c.args[1]!;
    if (w.k !== 'var' || w.type.k !== 'tensor' || w.type.shape?.length !== 2) return undefined;
    const { transB: _, ...attrs } = c.attrs;
    return { attrs: attrs as LinearAttrs, a: c.args[0]!, w, extras: c.args.slice(2) };
  }
  if (c.callee !== 'linear') return undefined;
  const attrs = c.attrs as LinearAttrs;
  let i = 2;
  const w2 = attrs.paired ? c.args[i++] : undefined;
  const norm = attrs.normEps !== undefined ? c.args[i++] : undefined;
  const pos = attrs.rope ? c.args[i++] : undefined;
  return {
    attrs,
    a: c.args[0]!,
    w: c.args[1]!,
    ...(w2 ? { w2 } : {}),
    ...(norm ? { norm } : {}),
    ...(pos ? { pos } : {}),
    extras: c.args.slice(i),
  };
}

function linearCall(p: Projection): Call {
  const args = [p.a, p.w, ...(p.w2 ? [p.w2] : []), ...(p.norm ? [p.norm] : []), ...(p.pos ? [p.pos] : []), ...p.extras];
  return callOf('kernel', 'linear', args, p.attrs as Attrs);
}

function useCounts(f: Func): Map<string, number> {
  const uses = new Map<string, number>();
  const count = (e: Expr) => exprVars(e).forEach((v) => uses.set(v.name, (uses.get(v.name) ?? 0) + 1));
  for (const blk of f.blocks) for (const b of blk.bindings) count(b.value);
  count(f.ret);
  return uses;
}

type Slots = (Binding | undefined)[];

/** Rule 1: `rope(view(projection))`, each used once, becomes the projection with RoPE. */
function ropeIntoProjection(bs: Slots, i: number, uses: Map<string, number>, at: Map<string, number>): boolean {
  const b = bs[i]!;
  const c = b.value;
  if (c.k !== 'call' || c.kind !== 'kernel' || c.callee !== 'rope' || b.var.type.k !== 'tensor') return false;
  const [v, pos] = c.args;
  const vi = v?.k === 'var' && uses.get(v.name) === 1 ? at.get(v.name) : undefined;
  const vb = vi === undefined ? undefined : bs[vi];
  if (vb?.value.k !== 'call' || !isView(vb.value)) return false;
  const m = vb.value.args[0]!;
  const mi = m.k === 'var' && uses.get(m.name) === 1 ? at.get(m.name) : undefined;
  const mb = mi === undefined ? undefined : bs[mi];
  const proj = mb?.value.k === 'call' ? projectionOf(mb.value) : undefined;
  const shape = (b.var.type as TensorType).shape;
  const headDim = shape?.[shape.length - 1]?.value;
  if (!proj || proj.attrs.rope || typeof headDim !== 'number' || !pos) return false;
  if (c.attrs.rotaryDim !== undefined && c.attrs.rotaryDim !== headDim) return false;
  if ((mb!.var.type as TensorType).dtype !== (b.var.type as TensorType).dtype) return false;
  const rope = { ...(c.attrs as RopeAttrs), headDim };
  bs[i] = { var: b.var, value: linearCall({ ...proj, attrs: { ...proj.attrs, rope }, pos }) };
  bs[vi!] = undefined;
  bs[mi!] = undefined;
  return true;
}

/**
 * Kernels besides projections that take an RMSNorm prologue the same way: rows first, and with
 * `normEps` set the norm weight as their second input (src/lora/lora-delta.ts: a projection's LoRA
 * term reads the projection's rows).
 */
const NORM_PROLOGUE_KERNELS = new Set(['lora_delta']);

const normPrologueOf = (c: Call) =>
  c.kind === 'kernel' && NORM_PROLOGUE_KERNELS.has(c.callee) && c.attrs.normEps === undefined ? c : undefined;

/** Rule 2: an `rmsnorm` read only as the input rows of projections (or norm-prologue kernels) moves into each of them. */
function normIntoProjections(bs: Slots, i: number, uses: Map<string, number>): boolean {
  const b = bs[i]!;
  const c = b.value;
  if (c.k !== 'call' || c.kind !== 'kernel' || c.callee !== 'rmsnorm' || typeof c.attrs.eps !== 'number') return false;
  const name = b.var.name;
  const readers: [number, Projection | Call][] = [];
  bs.forEach((r, j) => {
    if (r?.value.k !== 'call') return;
    const reads = exprVars(r.value).filter((x) => x.name === name).length;
    const p = projectionOf(r.value);
    const first = (p ? p.a : r.value.args[0]) ?? undefined;
    if (reads !== 1 || first?.k !== 'var' || first.name !== name) return;
    if (p && !p.norm) readers.push([j, p]);
    else if (!p && normPrologueOf(r.value)) readers.push([j, r.value]);
  });
  if (readers.length === 0 || readers.length !== uses.get(name)) return false;
  const [x, normWeight] = c.args as [Expr, Expr];
  if (readers.every(([, r]) => 'k' in r)) return false;
  for (const [j, r] of readers) {
    if ('k' in r) {
      const value = callOf('kernel', r.callee, [x, normWeight, ...r.args.slice(1)], {
        ...r.attrs,
        normEps: c.attrs.eps,
      });
      bs[j] = { var: bs[j]!.var, value };
      continue;
    }
    const attrs: LinearAttrs = { ...r.attrs, normEps: c.attrs.eps };
    bs[j] = { var: bs[j]!.var, value: linearCall({ ...r, attrs, a: x, norm: normWeight }) };
  }
  bs[i] = undefined;
  return true;
}

const sameVar = (x: Expr | undefined, y: Expr | undefined) =>
  x === y || (x?.k === 'var' && y?.k === 'var' && x.name === y.name);
const typeKey = (e: Expr) => (e.k === 'var' ? typeToString(e.type) : '?');

/** `expr` with each variable xi written as `name(i)`, in one pass (so renamings never collide). */
const renameVars = (expr: string, name: (i: number) => string) =>
  expr.replace(/\bx(\d+)\b/g, (_, d: string) => name(Number(d)));

/**
 * Rule 3: a projection whose epilogue reads another projection of the same rows (used nowhere
 * else) takes that one's weight as its paired weight: gate and up become one pass. The other's
 * own epilogue (a LoRA term added to up, say) moves inside, over the paired accumulator x1; the
 * extras become the first one's others, then the other's.
 */
function pairProjections(bs: Slots, i: number, uses: Map<string, number>, at: Map<string, number>): boolean {
  const b = bs[i]!;
  const proj = b.value.k === 'call' ? projectionOf(b.value) : undefined;
  if (!proj?.attrs.epilogue || proj.attrs.paired || proj.attrs.rope || proj.extras.length === 0) return false;
  const found = proj.extras.findIndex((u) => {
    const ui = u.k === 'var' && uses.get(u.name) === 1 ? at.get(u.name) : undefined;
    const ub = ui === undefined ? undefined : bs[ui];
    return ub?.value.k === 'call' && projectionOf(ub.value) !== undefined;
  });
  if (found < 0) return false;
  const u = proj.extras[found]!;
  const ui = at.get((u as { name: string }).name)!;
  const other = projectionOf(bs[ui]!.value as Call)!;
  if (other.attrs.rope || other.attrs.paired) return false;
  if (!sameVar(other.a, proj.a) || !sameVar(other.norm, proj.norm) || other.attrs.normEps !== proj.attrs.normEps)
    return false;
  if (typeKey(other.w) !== typeKey(proj.w)) return false;
  const kept = proj.extras.filter((_, e) => e !== found);
  const inner = other.attrs.epilogue
    ? `(${renameVars(other.attrs.epilogue, (v) => (v === 0 ? 'x1' : `x${2 + kept.length + v - 1}`))})`
    : 'x1';
  const epilogue = renameVars(proj.attrs.epilogue, (v) => {
    if (v === 0) return 'x0';
    const e = v - 1;
    return e === found ? inner : `x${2 + (e < found ? e : e - 1)}`;
  });
  const attrs: LinearAttrs = { ...proj.attrs, epilogue, paired: true };
  bs[i] = { var: b.var, value: linearCall({ ...proj, attrs, w2: other.w, extras: [...kept, ...other.extras] }) };
  bs[ui] = undefined;
  return true;
}

export function fuseLinearFunc(f: Func): Func {
  let blocks = f.blocks;
  for (const rule of ['rope', 'norm', 'pair'] as const) {
    blocks = blocks.map((blk) => {
      if (!blk.dataflow) return blk;
      const bs: Slots = [...blk.bindings];
      const at = new Map(blk.bindings.map((b, k) => [b.var.name, k]));
      const uses = useCounts({ ...f, blocks });
      for (let i = 0; i < bs.length; i++) {
        if (!bs[i]) continue;
        if (rule === 'rope') ropeIntoProjection(bs, i, uses, at);
        else if (rule === 'norm') normIntoProjections(bs, i, uses);
        else pairProjections(bs, i, uses, at);
      }
      return { dataflow: true, bindings: bs.filter((x): x is Binding => x !== undefined) };
    });
  }
  return { ...f, blocks };
}

export function fuseLinear(m: IRModule): IRModule {
  return { ...m, funcs: new Map([...m.funcs].map(([k, f]) => [k, fuseLinearFunc(f)])) };
}
