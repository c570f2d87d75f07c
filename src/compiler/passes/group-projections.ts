/**
 * Projections of the same normalised rows (Q, K, V) become one `linear_group` call with a tuple
 * of outputs (src/ops/linear-group.ts), each member's variable then a field of it: one pass over
 * the rows for all of them, with every weight and output kept in its own buffer, so nothing is
 * concatenated at load time or split per step. Runs after fuse-linear.ts (members are its
 * `linear` calls: norm prologue, RoPE'd members first, same RoPE). Only plain projections join:
 * no epilogue, no paired weight; weights must be function parameters, so the group can stand
 * where its first member stood.
 */
import type { Attrs } from '../../backends/backend.js';
import { type Binding, type Func, type IRModule, type Var, callOf } from '../../ir/graph.js';
import { type TensorType, tupleType } from '../../ir/types.js';
import type { LinearGroupAttrs } from '../../ops/linear-group.js';
import { NameSupply } from '../module-edit.js';
import { type Projection, projectionOf } from './fuse-linear.js';

interface Member {
  readonly index: number;
  readonly binding: Binding;
  readonly p: Projection;
}

const nameOf = (e: Projection['a'] | undefined) => (e?.k === 'var' ? e.name : '');

/** Members share rows, norm, output dtype and weight dtype and width K. */
function groupKey(p: Projection, params: ReadonlySet<string>): string | undefined {
  if (p.attrs.epilogue || p.attrs.paired || p.extras.length || p.w.k !== 'var' || !params.has(p.w.name))
    return undefined;
  if (p.pos && !(p.pos.k === 'var' && params.has(p.pos.name))) return undefined;
  const w = p.w.type as TensorType;
  const K = w.shape?.[1]?.value;
  if (K === undefined) return undefined;
  return JSON.stringify([nameOf(p.a), nameOf(p.norm), p.attrs.normEps, p.attrs.outDtype, w.dtype, K]);
}

function groupBindings(members: readonly Member[], names: NameSupply): Binding[] | undefined {
  const roped = members.filter((m) => m.p.attrs.rope);
  const plain = members.filter((m) => !m.p.attrs.rope);
  if (roped.length === 0 || members.length < 2) return undefined;
  const rope = JSON.stringify(roped[0]!.p.attrs.rope);
  if (roped.some((m) => JSON.stringify(m.p.attrs.rope) !== rope || nameOf(m.p.pos) !== nameOf(roped[0]!.p.pos)))
    return undefined;
  const order = [...roped, ...plain];
  const first = roped[0]!.p;
  const attrs: LinearGroupAttrs = {
    count: order.length,
    roped: roped.length,
    ...(first.attrs.outDtype ? { outDtype: first.attrs.outDtype } : {}),
    ...(first.attrs.normEps !== undefined ? { normEps: first.attrs.normEps } : {}),
    rope: first.attrs.rope!,
  };
  const args = [first.a, ...order.map((m) => m.p.w), ...(first.norm ? [first.norm] : []), first.pos!];
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
    const at = new Map<number, Binding[]>();
    const drop = new Set<number>();
    for (const members of groups.values()) {
      const replacement = groupBindings(members, names);
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
