/**
 * Interval arithmetic over symbolic integers: a sound range of an expression given ranges of its
 * variables (dimensions are non-negative). The simplifier asks it whether a remainder provably lies
 * in [0, k) or which operand of a min/max is the smaller.
 */
import type { Atom, Bounds, Sym } from './sym.js';

/** Closed integer interval; infinities for unknown ends. */
export interface Interval {
  readonly lo: number;
  readonly hi: number;
}

function mulI(a: Interval, b: Interval): Interval {
  const m = (x: number, y: number) => (x === 0 || y === 0 ? 0 : x * y);
  const c = [m(a.lo, b.lo), m(a.lo, b.hi), m(a.hi, b.lo), m(a.hi, b.hi)];
  return { lo: Math.min(...c), hi: Math.max(...c) };
}

function atomRange(a: Atom, bounds: Bounds): Interval {
  if (a.k === 'var') {
    const b = bounds[a.name!];
    return { lo: Math.max(0, b?.lo ?? 0), hi: b?.hi ?? Infinity };
  }
  const x = rangeOf(a.a!, bounds);
  const y = rangeOf(a.b!, bounds);
  switch (a.k) {
    case 'min':
      return { lo: Math.min(x.lo, y.lo), hi: Math.min(x.hi, y.hi) };
    case 'max':
      return { lo: Math.max(x.lo, y.lo), hi: Math.max(x.hi, y.hi) };
    case 'floormod':
      if (y.lo > 0) {
        if (x.lo >= 0 && x.hi < y.lo) return x;
        return { lo: 0, hi: y.hi - 1 };
      }
      return { lo: -Infinity, hi: Infinity };
    case 'floordiv': {
      if (y.lo <= 0) return { lo: -Infinity, hi: Infinity };
      const c = [x.lo / y.lo, x.lo / y.hi, x.hi / y.lo, x.hi / y.hi].filter((v) => !Number.isNaN(v));
      return { lo: Math.floor(Math.min(...c)), hi: Math.floor(Math.max(...c)) };
    }
  }
  return { lo: -Infinity, hi: Infinity };
}

/** A sound interval containing every value of `s` when variables lie in `bounds`. */
export function rangeOf(s: Sym, bounds: Bounds = {}): Interval {
  let lo = s.c;
  let hi = s.c;
  for (const t of s.terms) {
    let r: Interval = { lo: t.coef, hi: t.coef };
    // a repeated atom (x·x) is non-negative even when x may be negative
    for (let i = 0; i < t.atoms.length; i++) {
      const a = t.atoms[i]!;
      if (i + 1 < t.atoms.length && t.atoms[i + 1]!.key === a.key) {
        const ar = atomRange(a, bounds);
        const sq = mulI(ar, ar);
        r = mulI(r, { lo: Math.max(0, sq.lo), hi: sq.hi });
        i++;
      } else r = mulI(r, atomRange(a, bounds));
    }
    lo += r.lo;
    hi += r.hi;
  }
  return { lo: Number.isNaN(lo) ? -Infinity : lo, hi: Number.isNaN(hi) ? Infinity : hi };
}
