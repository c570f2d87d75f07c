/**
 * The LoRA terms of projections of the same rows (`lora_delta` calls with the same input, norm,
 * row slots and scales: Q, K and V; gate and up) become one `lora_delta` call with a tuple of
 * outputs, each member's variable a field of it: one dispatch per group, which reads the rows
 * (and normalises them) once. The call stands where the group's first member stood, so every
 * field is defined before any projection that adds it (group-projections.ts then finds Q/K/V's
 * terms ready where the grouped projection stands). Runs after fuse-linear.ts, which gives the
 * calls their norm.
 */
import type { Attrs } from '../../backends/backend.js';
import { type Binding, type Call, type Func, type IRModule, type Var, callOf } from '../../ir/graph.js';
import { tupleType } from '../../ir/types.js';
import { NameSupply } from '../module-edit.js';

const LORA_DELTA = 'lora_delta';

/** Inputs before the members' stacks: rows, the norm weight where normalised, row slots, scales. */
const sharedCount = (c: Call) => (c.attrs.normEps !== undefined ? 4 : 3);

function keyOf(c: Call): string | undefined {
  // single terms only (what the graph emits): a call of several is a group already
  if (c.kind !== 'kernel' || c.callee !== LORA_DELTA || c.attrs.count !== 1) return undefined;
  const shared = c.args.slice(0, sharedCount(c));
  if (shared.some((a) => a.k !== 'var')) return undefined;
  return JSON.stringify([...shared.map((a) => (a as Var).name), c.attrs.normEps ?? null]);
}

export function groupLoraDeltasFunc(f: Func): Func {
  const names = new NameSupply(f);
  const blocks = f.blocks.map((blk) => {
    if (!blk.dataflow) return blk;
    const groups = new Map<string, number[]>();
    blk.bindings.forEach((b, i) => {
      const key = b.value.k === 'call' ? keyOf(b.value) : undefined;
      if (key) groups.set(key, [...(groups.get(key) ?? []), i]);
    });
    const at = new Map<number, Binding[]>();
    const drop = new Set<number>();
    for (const members of groups.values()) {
      if (members.length < 2) continue;
      const calls = members.map((i) => blk.bindings[i]!.value as Call);
      const first = calls[0]!;
      const shared = first.args.slice(0, sharedCount(first));
      const stacks = calls.flatMap((c) => c.args.slice(sharedCount(c)));
      const group: Var = {
        k: 'var',
        name: names.fresh('lora_group'),
        type: tupleType(members.map((i) => blk.bindings[i]!.var.type)),
      };
      const attrs = { ...first.attrs, count: members.length } as Attrs;
      const fields: Binding[] = members.map((i, index) => ({
        var: blk.bindings[i]!.var,
        value: { k: 'get', tuple: group, index },
      }));
      members.forEach((i) => drop.add(i));
      at.set(members[0]!, [
        { var: group, value: callOf('kernel', LORA_DELTA, [...shared, ...stacks], attrs) },
        ...fields,
      ]);
    }
    const bindings = blk.bindings.flatMap((b, i) => at.get(i) ?? (drop.has(i) ? [] : [b]));
    return { dataflow: true, bindings };
  });
  return { ...f, blocks };
}

export function groupLoraDeltas(m: IRModule): IRModule {
  return { ...m, funcs: new Map([...m.funcs].map(([k, f]) => [k, groupLoraDeltasFunc(f)])) };
}
