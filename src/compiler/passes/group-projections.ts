/**
 * Projections of the same normalised rows (Q, K, V) become one `linear_group` call with a tuple
 * of outputs (src/ops/linear-group.ts), each member's variable then a field of it: one pass over
 * the rows for all of them, with every weight and output kept in its own buffer, so nothing is
 * concatenated at load time or split per step. Runs after fuse-linear.ts (members are its
 * `linear` calls: norm prologue, RoPE'd members first, same RoPE). Only plain projections join —
 * no paired weight, no epilogue but adds of a bias (a [N] parameter: Qwen2's qkv bias) and of a
 * per-row f32 term (a LoRA term, group-lora-deltas.ts), each in all members or none; weights and
 * biases must be function parameters, and row terms defined before the first member, so the
 * group can stand where its first member stood.
 */
import type { Attrs } from '../../backends/backend.js';
import { type Binding, type Expr, type Func, type IRModule, type Var, callOf } from '../../ir/graph.js';
import { type TensorType, tupleType } from '../../ir/types.js';
import { BIAS_DELTA_EPILOGUE, BIAS_EPILOGUE, type LinearGroupAttrs } from '../../ops/linear-group.js';
import { NameSupply } from '../module-edit.js';
import { type Projection, projectionOf } from './fuse-linear.js';

interface Member {
  readonly index: number;
  readonly binding: Binding;
  readonly p: Projection;
}

const nameOf = (e: Projection['a'] | undefined) => (e?.k === 'var' ? e.name : '');

const isParam = (e: Expr | undefined, params: ReadonlySet<string>) => e?.k === 'var' && params.has(e.name);

interface Adds {
  readonly bias?: Expr;
  readonly delta?: Expr;
}

const rankOf = (e: Expr) => (e.k === 'var' && e.type.k === 'tensor' ? e.type.rank : 0);
const dtypeOf = (e: Expr) => (e.k === 'var' && e.type.k === 'tensor' ? e.type.dtype : undefined);

/** What the member's epilogue adds: a bias, a row term, both, or nothing (false: an epilogue a member may not have). */
function addsOf(p: Projection, params: ReadonlySet<string>): Adds | false {
  if (!p.attrs.epilogue && p.extras.length === 0) return {};
  const sum = p.extras.length === 1 ? BIAS_EPILOGUE : p.extras.length === 2 ? BIAS_DELTA_EPILOGUE : '';
  if (p.attrs.epilogue !== sum) return false;
  const adds: { bias?: Expr; delta?: Expr } = {};
  for (const e of p.extras) {
    if (isParam(e, params) && rankOf(e) === 1 && !adds.bias) adds.bias = e;
    else if (e.k === 'var' && !params.has(e.name) && rankOf(e) === 2 && dtypeOf(e) === 'f32' && !adds.delta)
      adds.delta = e;
    else return false;
  }
  return adds;
}

/** Members share rows, norm, output dtype, weight dtype and width K, and what they add. */
function groupKey(p: Projection, params: ReadonlySet<string>): string | undefined {
  const adds = addsOf(p, params);
  if (adds === false || p.attrs.paired || p.w.k !== 'var' || !params.has(p.w.name)) return undefined;
  if (p.pos && !(p.pos.k === 'var' && params.has(p.pos.name))) return undefined;
  const w = p.w.type as TensorType;
  const K = w.shape?.[1]?.value;
  if (K === undefined) return undefined;
  return JSON.stringify([
    nameOf(p.a),
    nameOf(p.norm),
    p.attrs.normEps,
    p.attrs.outDtype,
    w.dtype,
    K,
    adds.bias !== undefined,
    adds.delta !== undefined,
  ]);
}

function groupBindings(
  members: readonly Member[],
  names: NameSupply,
  adds: (m: Member) => Adds,
): Binding[] | undefined {
  const roped = members.filter((m) => m.p.attrs.rope);
  const plain = members.filter((m) => !m.p.attrs.rope);
  if (roped.length === 0 || members.length < 2) return undefined;
  const rope = JSON.stringify(roped[0]!.p.attrs.rope);
  if (roped.some((m) => JSON.stringify(m.p.attrs.rope) !== rope || nameOf(m.p.pos) !== nameOf(roped[0]!.p.pos)))
    return undefined;
  const order = [...roped, ...plain];
  const first = roped[0]!.p;
  const biases = order.flatMap((m) => adds(m).bias ?? []);
  const deltas = order.flatMap((m) => adds(m).delta ?? []);
  const attrs: LinearGroupAttrs = {
    ...(biases.length ? { biased: true } : {}),
    ...(deltas.length ? { delta: true } : {}),
    count: order.length,
    roped: roped.length,
    ...(first.attrs.outDtype ? { outDtype: first.attrs.outDtype } : {}),
    ...(first.attrs.normEps !== undefined ? { normEps: first.attrs.normEps } : {}),
    rope: first.attrs.rope!,
  };
  const args = [
    first.a,
    ...order.map((m) => m.p.w),
    ...(first.norm ? [first.norm] : []),
    first.pos!,
    ...biases,
    ...deltas,
  ];
  const group: Var = {
    k: 'var',
    name: names.fresh('proj_group'),
    type: tupleType(order.map((m) => m.binding.var.type)),
  };
  return [
    { var: group, value: callOf('kernel', 'linear_group', args, attrs as Attrs) },
    ...order.map((m, i) => ({ var: m.binding.var, value: { k: 'get' as const, tuple: group, index: i } })),
  ];
}

export function groupProjectionsFunc(f: Func): Func {
  const params = new Set(f.params.map((p) => p.name));
  const names = new NameSupply(f);
  const blocks = f.blocks.map((blk) => {
    if (!blk.dataflow) return blk;
    const groups = new Map<string, Member[]>();
    blk.bindings.forEach((binding, index) => {
      const p = binding.value.k === 'call' ? projectionOf(binding.value) : undefined;
      const key = p && groupKey(p, params);
      if (key) groups.set(key, [...(groups.get(key) ?? []), { index, binding, p: p! }]);
    });
    const boundAt = new Map(blk.bindings.map((b, i) => [b.var.name, i]));
    const adds = (m: Member) => addsOf(m.p, params) as Adds;
    const at = new Map<number, Binding[]>();
    const drop = new Set<number>();
    for (const all of groups.values()) {
      // the group stands where its first member stood: a row term bound after that stays out
      const start = all[0]!.index;
      const members = all.filter((m) => {
        const d = adds(m).delta;
        return d?.k !== 'var' || (boundAt.get(d.name) ?? -1) < start;
      });
      const replacement = groupBindings(members, names, adds);
      if (!replacement) continue;
      members.forEach((m) => drop.add(m.index));
      at.set(Math.min(...members.map((m) => m.index)), replacement);
    }
    const bindings = blk.bindings.flatMap((b, i) => at.get(i) ?? (drop.has(i) ? [] : [b]));
    return { dataflow: true, bindings };
  });
  return { ...f, blocks };
}

export function groupProjections(m: IRModule): IRModule {
  return { ...m, funcs: new Map([...m.funcs].map(([k, f]) => [k, groupProjectionsFunc(f)])) };
}
