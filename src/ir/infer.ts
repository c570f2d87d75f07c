/** The type of a graph expression: deduced for ops, declared for destination-passing calls. */
import type { Expr } from './graph.js';
import { getOpDef } from './ops/all.js';
import { type Type, tupleType } from './types.js';

/** Deduced type, or undefined for `tir`/`kernel`/`host` calls (their type is the binding's). */
export function deduceType(e: Expr): Type | undefined {
  switch (e.k) {
    case 'var':
      return e.type;
    case 'shape':
      return { k: 'shape', dims: e.dims, rank: e.dims.length };
    case 'tuple': {
      const fs = e.fields.map(deduceType);
      return fs.every((f) => f !== undefined) ? tupleType(fs as Type[]) : undefined;
    }
    case 'get': {
      const t = deduceType(e.tuple);
      if (t?.k !== 'tuple') throw new TypeError(`tuple index on a non-tuple`);
      const f = t.fields[e.index];
      if (!f) throw new TypeError(`tuple index ${e.index} out of range (${t.fields.length} fields)`);
      return f;
    }
    case 'call': {
      if (e.kind !== 'op') return undefined;
      const args = e.args.map((a) => {
        const t = deduceType(a);
        if (!t) throw new TypeError(`argument of '${e.callee}' has no deducible type`);
        return t;
      });
      return getOpDef(e.callee).deduce(args, e.attrs, e.args);
    }
  }
}
