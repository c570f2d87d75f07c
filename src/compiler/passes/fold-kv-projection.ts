/**
 * A `kv_attention` host call whose q, k and v are the three fields of one `linear_group` (Q and K
 * RoPE'd, as group-projections.ts forms them) becomes `kv_attention_qkv`, which takes the group's
 * inputs and attributes instead (`group` holds the latter). The runtime that owns the KV cache
 * then runs the projection itself and can store K and V straight into its pages from the GEMV
 * epilogue (`qkv_append`), where the graph, which never sees the cache, could only hand it K and V
 * in buffers of their own to copy. The group's bindings are left for dead-code elimination; the
 * fold is skipped when anything else reads them, since the projection would then run twice.
 */
import type { Attrs } from '../../backends/backend.js';
import { type Call, type Expr, type Func, type IRModule, callOf, exprVars } from '../../ir/graph.js';

/** The host call the fold produces (the runtime registers it beside `kv_attention`). */
export const KV_ATTENTION_QKV = 'kv_attention_qkv';

export function foldKvProjectionFunc(f: Func): Func {
  const defs = new Map<string, Expr>();
  const uses = new Map<string, number>();
  for (const blk of f.blocks)
    for (const b of blk.bindings) {
      defs.set(b.var.name, b.value);
      for (const v of exprVars(b.value)) uses.set(v.name, (uses.get(v.name) ?? 0) + 1);
    }
  for (const v of exprVars(f.ret)) uses.set(v.name, (uses.get(v.name) ?? 0) + 1);
  const once = (name: string) => uses.get(name) === 1;
  /** The tuple variable and field index `e` reads, through `view` host calls read once. */
  const field = (e: Expr | undefined): { tuple: string; index: number } | undefined => {
    if (e?.k !== 'var' || !once(e.name)) return undefined;
    const d = defs.get(e.name);
    if (d?.k === 'get' && d.tuple.k === 'var') return { tuple: d.tuple.name, index: d.index };
    if (d?.k === 'call' && d.kind === 'host' && d.callee === 'view' && d.args.length === 1) return field(d.args[0]);
    return undefined;
  };
  const fold = (call: Call): Call | undefined => {
    const fields = call.args.map(field);
    const tuple = fields[0]?.tuple;
    if (call.args.length !== 3 || !tuple || fields.some((x, i) => x?.tuple !== tuple || x.index !== i))
      return undefined;
    const g = defs.get(tuple);
    if (g?.k !== 'call' || g.kind !== 'kernel' || g.callee !== 'linear_group') return undefined;
    if (g.attrs.count !== 3 || g.attrs.roped !== 2 || uses.get(tuple) !== 3) return undefined;
    return callOf('host', KV_ATTENTION_QKV, g.args, { ...call.attrs, group: g.attrs } as Attrs);
  };
  const blocks = f.blocks.map((blk) => ({
    ...blk,
    bindings: blk.bindings.map((b) => {
      const v = b.value;
      const folded = v.k === 'call' && v.kind === 'host' && v.callee === 'kv_attention' ? fold(v) : undefined;
      return folded ? { ...b, value: folded } : b;
    }),
  }));
  return { ...f, blocks };
}

export function foldKvProjection(m: IRModule): IRModule {
  return { ...m, funcs: new Map([...m.funcs].map(([k, f]) => [k, foldKvProjectionFunc(f)])) };
}
