/**
 * Which integer names of a loop-nest program never hold a negative value, so floor division and
 * modulo of them can use the hardware's truncating `/` and `%` (they agree on non-negative
 * operands) instead of the sign-correcting helpers. Dimensions are non-negative; a loop variable
 * is if its start is; a local is if every value it is given is, assuming the same of the names
 * still in the set — the greatest such set, found by removing names until none fails (sound by
 * induction over the program's steps: the first negative value would need a negative operand).
 */
import type { PExpr } from './program.js';
import { type LoopProgram, type Stmt, loopProgramDims } from './loop-nest.js';

export function isNonNegative(e: PExpr, names: ReadonlySet<string>): boolean {
  switch (e.k) {
    case 'int':
      return e.v >= 0;
    case 'var':
      return names.has(e.name);
    case 'bin':
      return (
        (e.op === '+' ||
          e.op === '*' ||
          e.op === 'min' ||
          e.op === 'max' ||
          e.op === 'floordiv' ||
          e.op === 'floormod') &&
        isNonNegative(e.a, names) &&
        isNonNegative(e.b, names)
      );
    case 'select':
      return isNonNegative(e.a, names) && isNonNegative(e.b, names);
    default:
      return false;
  }
}

export function nonNegativeNames(p: LoopProgram): Set<string> {
  const defs = new Map<string, PExpr[]>();
  const def = (v: string, e: PExpr) => defs.set(v, [...(defs.get(v) ?? []), e]);
  const go = (body: readonly Stmt[]) => {
    for (const s of body) {
      if (s.k === 'for') {
        def(s.v, s.lo);
        go(s.body);
      } else if (s.k === 'let' || s.k === 'var' || s.k === 'assign') def(s.v, s.e);
      else if (s.k === 'while') go(s.body);
      else if (s.k === 'if') {
        go(s.yes);
        if (s.no) go(s.no);
      }
    }
  };
  go(p.body);
  const dims = loopProgramDims(p);
  const names = new Set([...dims, ...defs.keys()]);
  for (let changed = true; changed; ) {
    changed = false;
    for (const [v, es] of defs)
      if (names.has(v) && !es.every((e) => isNonNegative(e, names))) {
        names.delete(v);
        changed = true;
      }
  }
  return names;
}
