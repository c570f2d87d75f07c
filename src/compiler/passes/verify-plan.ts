/**
 * Proves a memory plan safe, independently of the planner: recomputes which planned tensors are
 * live at every program point by a plain scan (not the planner's intervals), and checks that
 * (1) no two tensors live at the same point share a token and (2) every tensor provably fits its
 * token under the function's bounds. Returns the violations (empty = proven).
 */
import { type Func, allBindings, exprVars } from '../../ir/graph.js';
import { proveLE } from '../../ir/sym/prove.js';
import { type MemoryPlan, allocatedTensors, allocates, tensorBytes } from './plan-memory.js';

export function verifyPlan(f: Func, plan: MemoryPlan): string[] {
  const errors: string[] = [];
  const bs = allBindings(f);
  // which planned tensors each variable may hold storage of (fixpoint over renaming bindings)
  const holds = new Map<string, Set<string>>();
  const fields = new Map<string, string[]>();
  for (const b of bs) {
    const own = allocatedTensors(b).map(([n]) => n);
    if (b.var.type.k === 'tuple' && own.length) fields.set(b.var.name, own);
    const v = b.value;
    // a field read from a kernel's tuple holds that field's storage only
    const field = v.k === 'get' && v.tuple.k === 'var' ? fields.get(v.tuple.name)?.[v.index] : undefined;
    if (allocates(b)) holds.set(b.var.name, new Set(own));
    else if (field) holds.set(b.var.name, new Set([field]));
    else holds.set(b.var.name, new Set(exprVars(v).flatMap((x) => [...(holds.get(x.name) ?? [])])));
  }
  const lastUse = new Map<string, number>();
  const mark = (name: string, i: number) =>
    holds.get(name)?.forEach((t) => lastUse.set(t, Math.max(lastUse.get(t) ?? -1, i)));
  bs.forEach((b, i) => {
    exprVars(b.value).forEach((v) => mark(v.name, i));
    mark(b.var.name, i);
  });
  exprVars(f.ret).forEach((v) => mark(v.name, bs.length));
  const defAt = new Map(
    bs.flatMap((b, i) => [[b.var.name, i] as const, ...allocatedTensors(b).map(([n]) => [n, i] as const)]),
  );
  for (let i = 0; i <= bs.length; i++) {
    const liveHere = [...plan.assign.keys()].filter(
      (t) => defAt.get(t)! <= i && i <= (lastUse.get(t) ?? defAt.get(t)!),
    );
    const byToken = new Map<number, string>();
    for (const t of liveHere) {
      const id = plan.assign.get(t)!;
      const other = byToken.get(id);
      if (other !== undefined)
        errors.push(`'${other}' and '${t}' are both live at binding ${i} and share storage ${id}`);
      else byToken.set(id, t);
    }
  }
  for (const [name, type] of bs.flatMap(allocatedTensors)) {
    const id = plan.assign.get(name);
    if (id === undefined) {
      if (!plan.external.has(name)) errors.push(`'${name}' has no storage`);
      continue;
    }
    const token = plan.tokens[id];
    if (!token) {
      errors.push(`'${name}' uses unknown storage ${id}`);
      continue;
    }
    const need = tensorBytes(type);
    if (!proveLE(need, token.bytes, plan.bounds))
      errors.push(`'${name}' needs ${need} bytes; storage ${id} has ${token.bytes}, not provably enough`);
  }
  return errors;
}
