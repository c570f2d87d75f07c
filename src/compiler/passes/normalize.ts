/**
 * Normalize: brings a function (built or parsed) into the form later passes assume and checks it.
 * - A-normal form: call arguments are variables or shapes (nested calls become bindings);
 * - every op binding's declared type equals its deduced type;
 * - variables are defined once, before use; symbolic variables are defined (by a parameter or a
 *   matchCast) before a type uses them; dataflow blocks hold only pure calls.
 */
import { PURE_HOST } from '../../ir/builder.js';
import {
  type Binding,
  type Block,
  type Expr,
  type Func,
  IRError,
  type IRModule,
  type Var,
  exprVars,
  mkVar,
} from '../../ir/graph.js';
import { deduceType } from '../../ir/infer.js';
import { typeEqual, typeToString, typeVars } from '../../ir/types.js';
import { NameSupply } from '../module-edit.js';

export function normalizeFunc(f: Func, m?: IRModule): Func {
  const names = new NameSupply(f);
  const defined = new Map<string, Var>();
  const symDefined = new Set<string>();
  const where = (binding?: string) => ({ func: f.name, binding });
  for (const p of f.params) {
    if (defined.has(p.name)) throw new IRError(where(p.name), 'parameter defined twice');
    defined.set(p.name, p);
    typeVars(p.type).forEach((s) => symDefined.add(s));
  }
  const checkUses = (e: Expr, at: string) => {
    for (const v of exprVars(e)) {
      const d = defined.get(v.name);
      if (!d) throw new IRError(where(at), `uses '${v.name}' before it is defined`);
      if (!typeEqual(d.type, v.type))
        throw new IRError(
          where(at),
          `'${v.name}' is used with type ${typeToString(v.type)} but defined as ${typeToString(d.type)}`,
        );
    }
  };
  const blocks: Block[] = [];
  for (const blk of f.blocks) {
    const out: Binding[] = [];
    // nested (non-atomic) arguments become their own bindings, typed by deduction
    const atom = (e: Expr, at: string): Expr => {
      if (e.k === 'var' || e.k === 'shape') return e;
      if (e.k === 'tuple') return { ...e, fields: e.fields.map((x) => atom(x, at)) };
      const flat = flatten(e, at);
      const t = deduceType(flat);
      if (!t)
        throw new IRError(
          where(at),
          `a nested ${flat.k === 'call' ? flat.kind : flat.k} call has no deducible type; bind it with a declared type`,
        );
      const v = mkVar(names.fresh('lv'), t);
      defined.set(v.name, v);
      out.push({ var: v, value: flat });
      return v;
    };
    const flatten = (e: Expr, at: string): Expr => {
      switch (e.k) {
        case 'var':
        case 'shape':
          return e;
        case 'tuple':
          return { ...e, fields: e.fields.map((x) => atom(x, at)) };
        case 'get':
          return { ...e, tuple: atom(e.tuple, at) };
        case 'call':
          return { ...e, args: e.args.map((a) => atom(a, at)) };
      }
    };
    for (const b of blk.bindings) {
      const at = b.var.name;
      if (defined.has(at)) throw new IRError(where(at), 'variable defined twice');
      const value = flatten(b.value, at);
      checkUses(value, at);
      if (b.matchCast) {
        typeVars(b.var.type).forEach((s) => symDefined.add(s));
      } else {
        const missing = typeVars(b.var.type).filter((s) => !symDefined.has(s));
        if (missing.length)
          throw new IRError(
            where(at),
            `type ${typeToString(b.var.type)} uses symbolic variable(s) ${missing.join(', ')} that no parameter or matchCast defines`,
          );
        let deduced;
        try {
          deduced = deduceType(value);
        } catch (err) {
          throw new IRError(where(at), (err as Error).message);
        }
        if (deduced && !typeEqual(deduced, b.var.type)) {
          throw new IRError(
            where(at),
            `declared ${typeToString(b.var.type)} but the value has type ${typeToString(deduced)} (use match_cast to refine a type)`,
          );
        }
      }
      if (value.k === 'call' && value.kind === 'tir' && m && !m.programs.has(value.callee))
        throw new IRError(where(at), `calls unknown tensor program '${value.callee}'`);
      if (blk.dataflow && value.k === 'call' && value.kind === 'host' && !PURE_HOST.has(value.callee))
        throw new IRError(where(at), `impure host call '${value.callee}' inside a dataflow block`);
      defined.set(at, b.var);
      out.push(b.matchCast ? { var: b.var, value, matchCast: true } : { var: b.var, value });
    }
    if (out.length) blocks.push({ dataflow: blk.dataflow, bindings: out });
  }
  const retAtom = (e: Expr): Expr => {
    if (e.k === 'var' || e.k === 'shape') return e;
    if (e.k === 'tuple') return { ...e, fields: e.fields.map(retAtom) };
    throw new IRError(where(), 'the return value must be a variable, shape or tuple of them');
  };
  const ret = retAtom(f.ret);
  checkUses(ret, 'return');
  return { ...f, blocks, ret };
}

export function normalize(m: IRModule): IRModule {
  return { funcs: new Map([...m.funcs].map(([k, f]) => [k, normalizeFunc(f, m)])), programs: m.programs };
}
