/**
 * Proofs about symbolic integers under variable bounds (e.g. `{ n: { lo: 1, hi: 4096 } }`).
 *
 * A proof is sound but incomplete: `true` means it holds for every binding inside the bounds;
 * `false` means "not proven", never "disproven". The memory planner leans on this: storage is
 * shared only when the proof succeeds.
 */
import { type Bounds, Sym, type SymLike, rangeOf, simplifyUnder, toSym } from './sym.js';

const diff = (a: SymLike, b: SymLike, bounds: Bounds): Sym => simplifyUnder(toSym(a).sub(toSym(b)), bounds);

/**
 * Lower bound of d, sharpened by eliminating floordiv by constants: k·floordiv(x, k) equals
 * x − floormod(x, k), so k·d has the same sign as d and keeps the correlation between x and
 * floordiv(x, k) that plain intervals lose (`n − floordiv(n, 2) ≥ 0`).
 */
function lowerBound(d: Sym, bounds: Bounds): number {
  let best = rangeOf(d, bounds).lo;
  let e = d;
  for (let round = 0; round < 3 && best < 0; round++) {
    const t = e.terms.find(
      (t) => t.atoms.length === 1 && t.atoms[0]!.k === 'floordiv' && (t.atoms[0]!.b!.value ?? 0) > 0,
    );
    if (!t) break;
    const atom = t.atoms[0]!;
    const k = atom.b!.value!;
    const rest = Sym.of(
      e.terms.filter((x) => x !== t),
      e.c,
    );
    e = rest.mul(k).add(atom.a!.sub(atom.a!.floorMod(k)).mul(t.coef));
    const lo = rangeOf(e, bounds).lo;
    if (lo >= 0) return Math.max(best, Math.ceil(lo / k));
  }
  return best;
}

export function proveEqual(a: SymLike, b: SymLike, bounds: Bounds = {}): boolean {
  const d = diff(a, b, bounds);
  if (d.value === 0) return true;
  const r = rangeOf(d, bounds);
  if (r.lo === 0 && r.hi === 0) return true;
  return lowerBound(d, bounds) >= 0 && lowerBound(d.neg(), bounds) >= 0;
}

export function proveLE(a: SymLike, b: SymLike, bounds: Bounds = {}): boolean {
  return lowerBound(diff(b, a, bounds), bounds) >= 0;
}

export function proveLT(a: SymLike, b: SymLike, bounds: Bounds = {}): boolean {
  return lowerBound(diff(b, a, bounds), bounds) >= 1;
}

/** True when a ≠ b is certain under the bounds (e.g. `n + 1` vs `n`). */
export function proveNotEqual(a: SymLike, b: SymLike, bounds: Bounds = {}): boolean {
  const r = rangeOf(diff(a, b, bounds), bounds);
  return r.lo > 0 || r.hi < 0;
}

/** The least proven upper bound of `a` under the bounds (Infinity when unbounded). */
export function upperBound(a: SymLike, bounds: Bounds = {}): number {
  return rangeOf(simplifyUnder(toSym(a), bounds), bounds).hi;
}

/** Turns `{ n: 4096 }` (upper bounds of dimensions) into Bounds; dimensions start at 0 unless told. */
export function boundsFromUpper(upper: Readonly<Record<string, number>>, lo = 0): Bounds {
  const out: Record<string, { lo: number; hi: number }> = {};
  for (const [k, v] of Object.entries(upper)) out[k] = { lo, hi: v };
  return out;
}
