/**
 * A typed builder for graph functions. Nested calls are flattened into bindings as they are
 * emitted (A-normal form), and every op binding gets its deduced type at once, so shape errors
 * surface at the line that caused them.
 *
 * Example:
 * ```ts
 * const b = new FunctionBuilder('mlp', { upper: { n: 4096 } });
 * const x = b.param('x', tensorType('f32', ['n', 64]));
 * const w = b.param('w', tensorType('f32', [64, 32]));
 * const y = b.dataflow(() => b.emit(op.relu(op.matmul(x, w)), 'y'));
 * const f = b.finish(y);
 * ```
 */
import type { Attrs } from '../backends/backend.js';
import {
  type Binding,
  type Block,
  type Call,
  type Expr,
  type Func,
  IRError,
  type Var,
  exprVars,
  mkVar,
} from './graph.js';
import { deduceType } from './infer.js';
import { type Type, typeToString, typeVars } from './types.js';

export class FunctionBuilder {
  private readonly params: Var[] = [];
  private readonly blocks: { dataflow: boolean; bindings: Binding[] }[] = [];
  private current: { dataflow: boolean; bindings: Binding[] } | undefined;
  private readonly names = new Set<string>();
  private readonly defined = new Set<string>();
  private counter = 0;

  constructor(
    readonly name: string,
    private readonly opts: { upper?: Record<string, number> } = {},
  ) {}

  param(name: string, type: Type): Var {
    if (this.blocks.length > 0)
      throw new IRError({ func: this.name }, `parameter '${name}' declared after the first binding`);
    const v = mkVar(this.claim(name), type);
    typeVars(type).forEach((s) => this.defined.add(s));
    this.params.push(v);
    return v;
  }

  /** Runs `fn` inside a dataflow block (pure bindings only); returns what it returns. */
  dataflow<T>(fn: () => T): T {
    if (this.current?.dataflow) throw new IRError({ func: this.name }, 'dataflow blocks do not nest');
    this.current = { dataflow: true, bindings: [] };
    this.blocks.push(this.current);
    try {
      return fn();
    } finally {
      // bindings after the dataflow block open a new (impure) block
      this.current = undefined;
    }
  }

  /** Binds an op call (type deduced) or a variable; nested call arguments become bindings first. */
  emit(value: Expr, name?: string): Var {
    const flat = this.flatten(value);
    let type: Type | undefined;
    try {
      type = deduceType(flat);
    } catch (err) {
      throw new IRError({ func: this.name, binding: name ?? `lv${this.counter}` }, (err as Error).message);
    }
    if (!type)
      throw new IRError(
        { func: this.name, binding: name },
        `a ${(flat as Call).kind} call needs its destination type: use emitCall`,
      );
    return this.bind(flat, type, name, false);
  }

  /** Binds a destination-passing call (`tir`, `kernel`, `host`) writing a value of `type`. */
  emitCall(call: Call, type: Type, name?: string): Var {
    const flat = this.flatten(call);
    const undefinedVars = typeVars(type).filter((s) => !this.defined.has(s));
    if (undefinedVars.length) {
      throw new IRError(
        { func: this.name, binding: name },
        `type ${typeToString(type)} uses undefined symbolic variable(s) ${undefinedVars.join(', ')}; define them by a parameter or matchCast`,
      );
    }
    return this.bind(flat, type, name, false);
  }

  /** Checks `value` against `type` at run time; new symbolic variables in `type` are defined here. */
  matchCast(value: Expr, type: Type, name?: string): Var {
    const flat = this.flatten(value);
    typeVars(type).forEach((s) => this.defined.add(s));
    return this.bind(flat, type, name, true);
  }

  finish(ret: Expr): Func {
    const flat = this.flatten(ret);
    for (const v of exprVars(flat))
      if (!this.names.has(v.name)) throw new IRError({ func: this.name }, `returns unknown variable '${v.name}'`);
    const blocks: Block[] = this.blocks.filter((b) => b.bindings.length > 0);
    return { name: this.name, params: this.params, blocks, ret: flat, upper: { ...(this.opts.upper ?? {}) } };
  }

  private bind(value: Expr, type: Type, name: string | undefined, matchCast: boolean): Var {
    const v = mkVar(this.claim(name ?? this.fresh()), type);
    this.block(value).bindings.push(matchCast ? { var: v, value, matchCast } : { var: v, value });
    return v;
  }

  private block(value: Expr): { dataflow: boolean; bindings: Binding[] } {
    if (this.current?.dataflow && value.k === 'call' && value.kind === 'host' && !PURE_HOST.has(value.callee)) {
      throw new IRError(
        { func: this.name },
        `host call '${value.callee}' is not pure and cannot sit in a dataflow block`,
      );
    }
    if (!this.current) {
      this.current = { dataflow: false, bindings: [] };
      this.blocks.push(this.current);
    }
    return this.current;
  }

  /** Emits nested calls as their own bindings so every call argument is a variable or shape. */
  private flatten(e: Expr): Expr {
    switch (e.k) {
      case 'var':
      case 'shape':
        return e;
      case 'tuple':
        return { ...e, fields: e.fields.map((f) => this.atom(f)) };
      case 'get':
        return { ...e, tuple: this.atom(e.tuple) };
      case 'call':
        return { ...e, args: e.args.map((a) => this.atom(a)) };
    }
  }

  private atom(e: Expr): Expr {
    if (e.k === 'var' || e.k === 'shape') return e;
    if (e.k === 'tuple') return this.flatten(e);
    return this.emit(e);
  }

  private fresh(): string {
    while (this.names.has(`lv${this.counter}`)) this.counter++;
    return `lv${this.counter++}`;
  }

  private claim(name: string): string {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
      throw new IRError({ func: this.name }, `'${name}' is not a valid variable name`);
    if (this.names.has(name)) throw new IRError({ func: this.name, binding: name }, 'variable defined twice');
    this.names.add(name);
    return name;
  }
}

/** Host functions without side effects (allowed inside dataflow blocks). */
export const PURE_HOST = new Set(['arange', 'view']);

export type { Attrs };
