/**
 * High-level graph operators: each declares how its result type follows from its arguments'
 * types (shape deduction in symbolic arithmetic). Deduction that cannot express a shape returns
 * a rank-only tensor type; a later `matchCast` restores the shape.
 */
import type { Attrs } from '../../backends/backend.js';
import type { Expr } from '../graph.js';
import type { Type } from '../types.js';

export interface OpDef {
  readonly name: string;
  /** Result type from argument types; throws ShapeError on inputs the op cannot take. */
  deduce(args: readonly Type[], attrs: Attrs, argExprs: readonly Expr[]): Type;
}

export class ShapeError extends Error {
  constructor(op: string, msg: string) {
    super(`${op}: ${msg}`);
    this.name = 'ShapeError';
  }
}

const defs = new Map<string, OpDef>();

export function registerOp(def: OpDef): void {
  if (defs.has(def.name)) throw new Error(`op '${def.name}' registered twice`);
  defs.set(def.name, def);
}

export function getOpDef(name: string): OpDef {
  const d = defs.get(name);
  if (!d) throw new Error(`unknown graph op '${name}' (known: ${[...defs.keys()].sort().join(', ')})`);
  return d;
}

export function opNames(): string[] {
  return [...defs.keys()].sort();
}
