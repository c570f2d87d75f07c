/**
 * Dead-code elimination: drops bindings whose variable nothing reads (calls in this IR are pure;
 * match_casts stay, because their run-time check is part of the meaning), then tensor programs
 * no call refers to.
 */
import { type Func, type IRModule, allBindings, exprVars } from '../../ir/graph.js';

export function dceFunc(f: Func): Func {
  let blocks = f.blocks;
  for (;;) {
    const used = new Set(exprVars(f.ret).map((v) => v.name));
    blocks.forEach((b) => b.bindings.forEach((x) => exprVars(x.value).forEach((v) => used.add(v.name))));
    const next = blocks.map((b) => ({ ...b, bindings: b.bindings.filter((x) => x.matchCast || used.has(x.var.name)) }));
    const removed = blocks.reduce((a, b) => a + b.bindings.length, 0) - next.reduce((a, b) => a + b.bindings.length, 0);
    blocks = next.filter((b) => b.bindings.length > 0);
    if (removed === 0) return { ...f, blocks };
  }
}

export function dce(m: IRModule): IRModule {
  const funcs = new Map([...m.funcs].map(([k, f]) => [k, dceFunc(f)]));
  const called = new Set<string>();
  for (const f of funcs.values())
    for (const b of allBindings(f)) if (b.value.k === 'call' && b.value.kind === 'tir') called.add(b.value.callee);
  return { funcs, programs: new Map([...m.programs].filter(([k]) => called.has(k))) };
}
