/**
 * Index simplification for tensor programs: every maximal integer subexpression is rewritten
 * through the symbolic-integer canonical form, with loop variables bounded by their constant
 * extents. Fusion composes index maps (a reshape of a reshape, a slice of a concat), and this
 * is what folds `floordiv(i0*256 + i1, 256)` back to `i0` when `i1 < 256`.
 */
import { type Bounds, Sym, simplifyUnder } from '../sym/sym.js';
import { type PExpr, type TensorProgram, axisVar, mapExpr, reduceVar, symToP } from './program.js';

function toSym(e: PExpr): Sym | undefined {
  switch (e.k) {
    case 'int':
      return Sym.const(e.v);
    // loop variables are reserved for user dimensions, so they are built as atoms directly
    case 'var':
      return e.name === 'acc' ? undefined : Sym.atom({ k: 'var', name: e.name, key: e.name });
    case 'bin': {
      const a = toSym(e.a);
      const b = a && toSym(e.b);
      if (!a || !b) return undefined;
      switch (e.op) {
        case '+':
          return a.add(b);
        case '-':
          return a.sub(b);
        case '*':
          return a.mul(b);
        case 'floordiv':
          return b.value !== undefined && b.value > 0 ? a.floorDiv(b) : undefined;
        case 'floormod':
          return b.value !== undefined && b.value > 0 ? a.floorMod(b) : undefined;
        case 'min':
          return a.min(b);
        case 'max':
          return a.max(b);
        default:
          return undefined;
      }
    }
    default:
      return undefined;
  }
}

export function simplifyExpr(e: PExpr, bounds: Bounds): PExpr {
  return mapExpr(e, (x) => {
    if (x.k === 'int' || x.k === 'var' || x.k === 'float') return x;
    const s = toSym(x);
    return s ? symToP(simplifyUnder(s, bounds)) : undefined;
  });
}

/** Loop-variable bounds from constant extents (symbolic extents leave a variable unbounded above). */
export function loopBounds(p: TensorProgram): Bounds {
  const b: Record<string, { lo: number; hi?: number }> = {};
  p.output.shape.forEach((d, i) => {
    b[axisVar(i)] = d.value !== undefined ? { lo: 0, hi: d.value - 1 } : { lo: 0 };
  });
  p.reduce?.extents.forEach((d, i) => {
    b[reduceVar(i)] = d.value !== undefined ? { lo: 0, hi: d.value - 1 } : { lo: 0 };
  });
  return b;
}

export function simplifyProgram(p: TensorProgram): TensorProgram {
  const bounds = loopBounds(p);
  return {
    ...p,
    body: simplifyExpr(p.body, bounds),
    ...(p.epilogue ? { epilogue: simplifyExpr(p.epilogue, bounds) } : {}),
  };
}
