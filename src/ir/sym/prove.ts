/**
 * Proofs about symbolic integers under variable bounds (e.g. `{ n: { lo: 1, hi: 4096 } }`).
 *
 * A proof is sound but incomplete: `true` means it holds for every binding inside the bounds;
 * `false` means "not proven", never "disproven". The memory planner leans on this: storage is
 * shared only when the proof succeeds.
 */
import { type Bounds, type Sym, type SymLike, rangeOf, simplifyUnder, toSym } from './sym.js';

const diff = (a: SymLike, b: SymLike, bounds: Bounds): Sym => simplifyUnder(toSym(a).sub(toSym(b)), bounds);

export function proveEqual(a: SymLike, b: SymLike, bounds: Bounds = {}): boolean {
  const d = diff(a, b, bounds);
  if (d.value === 0) return true;
  const r = rangeOf(d, bounds);
  return r.lo === 0 && r.hi === 0;
}

export function proveLE(a: SymLike, b: SymLike, bounds: Bounds = {}): boolean {
  return rangeOf(diff(b, a, bounds), bounds).lo >= 0;
}

export function proveLT(a: SymLike, b: SymLike, bounds: Bounds = {}): boolean {
  return rangeOf(diff(b, a, bounds), bounds).lo >= 1;
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
