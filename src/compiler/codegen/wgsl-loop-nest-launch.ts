/**
 * The launch of a loop-nest program: its workgroup count (the sum of its top-level workgroup
 * loops' extents) and its uniform words, from the dimension values of one call.
 */
import type { PExpr } from '../../ir/tir/program.js';
import type { LoopProgram } from '../../ir/tir/loop-nest.js';
import { launchUniforms } from './wgsl-launch.js';

/** Integer value of a bound expression without loads, for launch geometry. */
export function evalIndexExpr(e: PExpr, env: Readonly<Record<string, number>>): number {
  switch (e.k) {
    case 'int':
      return e.v;
    case 'var': {
      const v = env[e.name];
      if (v === undefined) throw new Error(`launch needs dimension '${e.name}'`);
      return v;
    }
    case 'bin': {
      const a = evalIndexExpr(e.a, env);
      const b = evalIndexExpr(e.b, env);
      switch (e.op) {
        case '+':
          return a + b;
        case '-':
          return a - b;
        case '*':
          return a * b;
        case 'floordiv':
          return Math.floor(a / b);
        case 'floormod':
          return a - b * Math.floor(a / b);
        case 'min':
          return Math.min(a, b);
        case 'max':
          return Math.max(a, b);
        default:
          throw new Error(`'${e.op}' in a launch bound`);
      }
    }
    default:
      throw new Error(`a launch bound cannot use '${e.k}'`);
  }
}

/** Workgroups of a launch: the sum of the top-level workgroup loops' extents. */
export function loopNestGroups(p: LoopProgram, env: Readonly<Record<string, number>>): number {
  return p.body.reduce((n, s) => {
    if (s.k !== 'for') return n;
    return n + Math.max(0, evalIndexExpr(s.hi, env) - evalIndexExpr(s.lo, env));
  }, 0);
}

/** The uniform words of a launch: dimension values in `dims` order, padded to 16 bytes (as tensor programs'). */
export const loopNestUniforms = launchUniforms;
