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

/** One function's walk: the variables and symbolic variables defined so far, and the fresh names for hoisted calls. */
class Normalizer {
  private readonly names: NameSupply;
  private readonly defined = new Map<string, Var>();
  private readonly symDefined = new Set<string>();

  constructor(
    private readonly f: Func,
    private readonly m?: IRModule,
  ) {
    this.names = new NameSupply(f);
    for (const p of f.params) {
      if (this.defined.has(p.name)) throw new IRError(this.where(p.name), 'parameter defined twice');
      this.defined.set(p.name, p);
      typeVars(p.type).forEach((s) => this.symDefined.add(s));
    }
  }

  run(): Func {
    const blocks: Block[] = [];
    for (const blk of this.f.blocks) {
      const out = this.block(blk);
      if (out.length) blocks.push({ dataflow: blk.dataflow, bindings: out });
    }
    const ret = this.returnValue(this.f.ret);
    this.checkUses(ret, 'return');
    return { ...this.f, blocks, ret };
  }

  private where(binding?: string) {
    return { func: this.f.name, binding };
  }

  private checkUses(e: Expr, at: string): void {
    for (const v of exprVars(e)) {
      const d = this.defined.get(v.name);
      if (!d) throw new IRError(this.where(at), `uses '${v.name}' before it is defined`);
      if (!typeEqual(d.type, v.type))
        throw new IRError(
          this.where(at),
          `'${v.name}' is used with type ${typeToString(v.type)} but defined as ${typeToString(d.type)}`,
        );
    }
  }

  /** The block's bindings in A-normal form (hoisted nested calls first), each checked. */
  private block(blk: Block): Binding[] {
    const out: Binding[] = [];
    for (const b of blk.bindings) {
      const at = b.var.name;
      if (this.defined.has(at)) throw new IRError(this.where(at), 'variable defined twice');
      const value = this.flatten(b.value, at, out);
      this.checkUses(value, at);
      if (b.matchCast) typeVars(b.var.type).forEach((s) => this.symDefined.add(s));
      else this.checkDeclaredType(b.var, value);
      this.checkCall(value, at, blk.dataflow);
      this.defined.set(at, b.var);
      out.push(b.matchCast ? { var: b.var, value, matchCast: true } : { var: b.var, value });
    }
    return out;
  }

  /** The value with its nested (non-atomic) arguments bound to fresh variables pushed onto `out`. */
  private flatten(e: Expr, at: string, out: Binding[]): Expr {
    switch (e.k) {
      case 'var':
      case 'shape':
        return e;
      case 'tuple':
        return { ...e, fields: e.fields.map((x) => this.atom(x, at, out)) };
      case 'get':
        return { ...e, tuple: this.atom(e.tuple, at, out) };
      case 'call':
        return { ...e, args: e.args.map((a) => this.atom(a, at, out)) };
    }
  }

  /** An argument as a variable, shape or tuple of them; a nested call becomes a binding typed by deduction. */
  private atom(e: Expr, at: string, out: Binding[]): Expr {
    if (e.k === 'var' || e.k === 'shape') return e;
    if (e.k === 'tuple') return { ...e, fields: e.fields.map((x) => this.atom(x, at, out)) };
    const flat = this.flatten(e, at, out);
    const t = deduceType(flat);
    if (!t)
      throw new IRError(
        this.where(at),
        `a nested ${flat.k === 'call' ? flat.kind : flat.k} call has no deducible type; bind it with a declared type`,
      );
    const v = mkVar(this.names.fresh('lv'), t);
    this.defined.set(v.name, v);
    out.push({ var: v, value: flat });
    return v;
  }

  /** A plain binding's type uses only defined symbolic variables and equals the value's deduced type. */
  private checkDeclaredType(v: Var, value: Expr): void {
    const at = v.name;
    const missing = typeVars(v.type).filter((s) => !this.symDefined.has(s));
    if (missing.length)
      throw new IRError(
        this.where(at),
        `type ${typeToString(v.type)} uses symbolic variable(s) ${missing.join(', ')} that no parameter or matchCast defines`,
      );
    let deduced;
    try {
      deduced = deduceType(value);
    } catch (err) {
      throw new IRError(this.where(at), (err as Error).message);
    }
    if (deduced && !typeEqual(deduced, v.type)) {
      throw new IRError(
        this.where(at),
        `declared ${typeToString(v.type)} but the value has type ${typeToString(deduced)} (use match_cast to refine a type)`,
      );
    }
  }

  /** Tensor programs called exist in the module; dataflow blocks call only pure host functions. */
  private checkCall(value: Expr, at: string, dataflow: boolean): void {
    if (value.k === 'call' && value.kind === 'tir' && this.m && !this.m.programs.has(value.callee))
      throw new IRError(this.where(at), `calls unknown tensor program '${value.callee}'`);
    if (dataflow && value.k === 'call' && value.kind === 'host' && !PURE_HOST.has(value.callee))
      throw new IRError(this.where(at), `impure host call '${value.callee}' inside a dataflow block`);
  }

  private returnValue(e: Expr): Expr {
    if (e.k === 'var' || e.k === 'shape') return e;
    if (e.k === 'tuple') return { ...e, fields: e.fields.map((x) => this.returnValue(x)) };
    throw new IRError(this.where(), 'the return value must be a variable, shape or tuple of them');
  }
}

export function normalizeFunc(f: Func, m?: IRModule): Func {
  return new Normalizer(f, m).run();
}

export function normalize(m: IRModule): IRModule {
  return { funcs: new Map([...m.funcs].map(([k, f]) => [k, normalizeFunc(f, m)])), programs: m.programs };
}
