/**
 * The graph IR (Relax's shape): functions made of bindings, grouped in blocks, where dataflow
 * blocks are pure. A call is one of four kinds, which is what makes the IR cross-level:
 *
 * - `op`: a high-level operator (`matmul`, `add`, `rms_norm`, …) whose type comes from shape
 *   deduction; legalization replaces it by one of the next two;
 * - `tir`: destination-passing call of a loop-level tensor program of this module;
 * - `kernel`: destination-passing call of a library op every backend runs (`src/ops`);
 * - `host`: a function run on the host by the VM (e.g. `arange`), for what is neither.
 *
 * For `tir`, `kernel` and `host` calls the destination's type is the binding's declared type.
 */
import type { Attrs } from '../backends/backend.js';
import type { Sym } from './sym/sym.js';
import type { TensorProgram } from './tir/program.js';
import type { Type } from './types.js';

export interface Var {
  readonly k: 'var';
  readonly name: string;
  readonly type: Type;
}

export interface ShapeExpr {
  readonly k: 'shape';
  readonly dims: readonly Sym[];
}

export interface TupleExpr {
  readonly k: 'tuple';
  readonly fields: readonly Expr[];
}

export interface TupleGet {
  readonly k: 'get';
  readonly tuple: Expr;
  readonly index: number;
}

export type CallKind = 'op' | 'tir' | 'kernel' | 'host';

export interface Call {
  readonly k: 'call';
  readonly kind: CallKind;
  /** Op name, tensor-program name, library op name or host function name. */
  readonly callee: string;
  readonly args: readonly Expr[];
  readonly attrs: Attrs;
}

export type Expr = Var | ShapeExpr | TupleExpr | TupleGet | Call;

export interface Binding {
  readonly var: Var;
  readonly value: Expr;
  /** A `matchCast`: the value is checked at run time against `var.type`, defining new symbolic variables. */
  readonly matchCast?: boolean;
}

export interface Block {
  readonly dataflow: boolean;
  readonly bindings: readonly Binding[];
}

export interface Func {
  readonly name: string;
  readonly params: readonly Var[];
  readonly blocks: readonly Block[];
  readonly ret: Expr;
  /** Upper bounds of symbolic dimensions (e.g. `{ n: 4096 }`), used by memory planning and checked at run time. */
  readonly upper: Readonly<Record<string, number>>;
}

export interface IRModule {
  readonly funcs: ReadonlyMap<string, Func>;
  readonly programs: ReadonlyMap<string, TensorProgram>;
}

export function mkVar(name: string, type: Type): Var {
  return { k: 'var', name, type };
}

export function callOf(kind: CallKind, callee: string, args: readonly Expr[], attrs: Attrs = {}): Call {
  return { k: 'call', kind, callee, args, attrs };
}

export function allBindings(f: Func): Binding[] {
  return f.blocks.flatMap((b) => b.bindings);
}

/** Variables an expression reads, in order of appearance. */
export function exprVars(e: Expr): Var[] {
  const out: Var[] = [];
  const go = (e: Expr): void => {
    switch (e.k) {
      case 'var':
        out.push(e);
        break;
      case 'shape':
        break;
      case 'tuple':
        e.fields.forEach(go);
        break;
      case 'get':
        go(e.tuple);
        break;
      case 'call':
        e.args.forEach(go);
        break;
    }
  };
  go(e);
  return out;
}

export function moduleOf(funcs: readonly Func[], programs: readonly TensorProgram[] = []): IRModule {
  return { funcs: new Map(funcs.map((f) => [f.name, f])), programs: new Map(programs.map((p) => [p.name, p])) };
}

/** The Relax IR error: says which function and binding went wrong. */
export class IRError extends Error {
  constructor(where: { func?: string; binding?: string }, msg: string) {
    const at = [where.func && `function '${where.func}'`, where.binding && `binding '${where.binding}'`]
      .filter(Boolean)
      .join(', ');
    super(at ? `${at}: ${msg}` : msg);
    this.name = 'IRError';
  }
}
