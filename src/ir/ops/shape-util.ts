/** Symbolic shape helpers shared by the op definitions. */
import { Sym } from '../sym/sym.js';
import { proveEqual, proveNotEqual } from '../sym/prove.js';
import { type TensorType, type Type, typeToString } from '../types.js';
import { ShapeError } from './registry.js';

export function tensorArg(op: string, t: Type | undefined, i: number): TensorType {
  if (!t) throw new ShapeError(op, `missing argument ${i}`);
  if (t.k !== 'tensor') throw new ShapeError(op, `argument ${i} must be a tensor, got ${typeToString(t)}`);
  return t;
}

export function normAxis(op: string, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank)
    throw new ShapeError(op, `axis ${axis} is out of range for rank ${rank}`);
  return a;
}

/** Equal-dimension check: an error when provably different, undefined when unknowable. */
export function unifyDim(op: string, a: Sym, b: Sym, what: string): Sym | undefined {
  if (proveEqual(a, b)) return a;
  if (proveNotEqual(a, b) || (a.isConst() && b.isConst())) throw new ShapeError(op, `${what}: ${a} vs ${b}`);
  return undefined;
}

/**
 * NumPy broadcasting of symbolic shapes. A pair (n, m) that is not provably equal and neither
 * provably 1 yields undefined: the result is then only known by rank.
 */
export function broadcastShapes(op: string, shapes: readonly (readonly Sym[])[]): Sym[] | undefined {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out: Sym[] = [];
  for (let i = 0; i < rank; i++) {
    let d: Sym | undefined = Sym.const(1);
    for (const s of shapes) {
      const j = s.length - rank + i;
      if (j < 0) continue;
      const e = s[j]!;
      if (e.value === 1) continue;
      if (d!.value === 1) {
        d = e;
        continue;
      }
      if (proveEqual(d!, e)) continue;
      if (d!.isConst() && e.isConst())
        throw new ShapeError(op, `cannot broadcast ${d} with ${e} at axis ${i} of the result`);
      return undefined;
    }
    out.push(d!);
  }
  return out;
}

export function product(dims: readonly Sym[]): Sym {
  return dims.reduce((a, d) => a.mul(d), Sym.const(1));
}
