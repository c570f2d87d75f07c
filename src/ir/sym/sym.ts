/**
 * Symbolic integers: the dimensions of tensors whose sizes are known only at run time.
 *
 * Every expression is kept in one canonical form — a sum of integer-weighted monomials over
 * atoms (variables and the non-polynomial nodes floordiv, floormod, min, max) — so that
 * structurally different but equal polynomials (`2*n + n`, `3*n`) are the same object key.
 * Variables are dimensions, hence non-negative integers; the simplifier relies on that.
 *
 * Example: `sym('n').mul(2).add(sym('n')).equals(sym('n').mul(3))` → true.
 */
import { rangeOf } from './interval.js';

export { type Interval, rangeOf } from './interval.js';

export type AtomKind = 'var' | 'floordiv' | 'floormod' | 'min' | 'max';

export interface Atom {
  readonly k: AtomKind;
  /** Variable name (for `var`). */
  readonly name?: string;
  readonly a?: Sym;
  readonly b?: Sym;
  readonly key: string;
}

export interface Term {
  readonly coef: number;
  /** Sorted by key; repeated atoms are powers. */
  readonly atoms: readonly Atom[];
  readonly key: string;
}

/** Per-variable ranges; a missing variable ranges over [0, ∞). */
export type Bounds = Readonly<Record<string, { readonly lo?: number; readonly hi?: number }>>;

export type SymLike = Sym | number;

export class Sym {
  readonly key: string;
  private constructor(
    readonly terms: readonly Term[],
    readonly c: number,
  ) {
    this.key =
      terms.length === 0 ? String(c) : terms.map((t) => `${t.coef}*${t.key}`).join('+') + (c !== 0 ? `+${c}` : '');
  }

  /** Builds the canonical form: merges like terms, drops zeros, sorts by key. */
  static of(terms: readonly Term[], c: number): Sym {
    if (!Number.isSafeInteger(c)) throw new SymError(`symbolic constant ${c} is not a safe integer`);
    const merged = new Map<string, { coef: number; atoms: readonly Atom[] }>();
    for (const t of terms) {
      const prev = merged.get(t.key);
      merged.set(t.key, { coef: (prev?.coef ?? 0) + t.coef, atoms: t.atoms });
    }
    const out: Term[] = [];
    for (const [key, t] of merged) if (t.coef !== 0) out.push({ coef: t.coef, atoms: t.atoms, key });
    out.sort((x, y) => (x.key < y.key ? -1 : x.key > y.key ? 1 : 0));
    return new Sym(out, c);
  }

  static const(v: number): Sym {
    return Sym.of([], v);
  }

  static atom(a: Atom): Sym {
    return Sym.of([{ coef: 1, atoms: [a], key: a.key }], 0);
  }

  isConst(): boolean {
    return this.terms.length === 0;
  }

  /** The constant value, or undefined when symbolic. */
  get value(): number | undefined {
    return this.terms.length === 0 ? this.c : undefined;
  }

  equals(o: SymLike): boolean {
    return this.key === toSym(o).key;
  }

  add(o: SymLike): Sym {
    const b = toSym(o);
    return Sym.of([...this.terms, ...b.terms], this.c + b.c);
  }

  neg(): Sym {
    return Sym.of(
      this.terms.map((t) => ({ ...t, coef: -t.coef })),
      -this.c,
    );
  }

  sub(o: SymLike): Sym {
    return this.add(toSym(o).neg());
  }

  mul(o: SymLike): Sym {
    const b = toSym(o);
    const terms: Term[] = [];
    for (const x of this.terms) {
      for (const y of b.terms) terms.push(makeTerm(x.coef * y.coef, [...x.atoms, ...y.atoms]));
      if (b.c !== 0) terms.push({ ...x, coef: x.coef * b.c });
    }
    if (this.c !== 0) for (const y of b.terms) terms.push({ ...y, coef: y.coef * this.c });
    return Sym.of(terms, this.c * b.c);
  }

  floorDiv(o: SymLike): Sym {
    return floorDivMod(this, toSym(o), 'floordiv');
  }

  floorMod(o: SymLike): Sym {
    return floorDivMod(this, toSym(o), 'floormod');
  }

  min(o: SymLike): Sym {
    return minMax(this, toSym(o), 'min');
  }

  max(o: SymLike): Sym {
    return minMax(this, toSym(o), 'max');
  }

  /** Names of the variables this expression reads, sorted. */
  vars(): string[] {
    const out = new Set<string>();
    const visit = (s: Sym): void => {
      for (const t of s.terms)
        for (const a of t.atoms) {
          if (a.k === 'var') out.add(a.name!);
          else {
            visit(a.a!);
            visit(a.b!);
          }
        }
    };
    visit(this);
    return [...out].sort();
  }

  /** Value under `env`; throws naming the first unbound variable. */
  eval(env: Readonly<Record<string, number>>): number {
    let acc = this.c;
    for (const t of this.terms) {
      let p = t.coef;
      for (const a of t.atoms) p *= evalAtom(a, env);
      acc += p;
    }
    return acc === 0 ? 0 : acc; // never -0: dimensions compare with Object.is in places
  }

  /** Substitutes expressions for variables. */
  subst(map: Readonly<Record<string, SymLike>>): Sym {
    let acc = Sym.const(this.c);
    for (const t of this.terms) {
      let p = Sym.const(t.coef);
      for (const a of t.atoms) p = p.mul(substAtom(a, map));
      acc = acc.add(p);
    }
    return acc;
  }

  /** Parseable text: `3*n + floordiv(m, 2) - 1`. */
  toString(): string {
    const parts: string[] = [];
    for (const t of this.terms) {
      const body = t.atoms.map(atomString).join('*');
      const mag = Math.abs(t.coef);
      const s = mag === 1 ? body : `${mag}*${body}`;
      parts.push(parts.length === 0 ? (t.coef < 0 ? `-${s}` : s) : t.coef < 0 ? `- ${s}` : `+ ${s}`);
    }
    if (this.c !== 0 || parts.length === 0) {
      parts.push(parts.length === 0 ? String(this.c) : this.c < 0 ? `- ${-this.c}` : `+ ${this.c}`);
    }
    return parts.join(' ');
  }
}

export class SymError extends Error {
  constructor(msg: string) {
    super(msg);
    this.name = 'SymError';
  }
}

export function toSym(x: SymLike): Sym {
  if (typeof x === 'number') {
    if (!Number.isSafeInteger(x)) throw new SymError(`${x} is not an integer dimension`);
    return Sym.const(x);
  }
  return x;
}

/** A symbolic variable (a dimension, so ≥ 0). */
export function sym(name: string): Sym {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new SymError(`'${name}' is not a valid symbolic variable name`);
  // loop variables of tensor programs (i0…, r0…) and the reduction accumulator share the namespace
  if (RESERVED.has(name) || /^[ir]\d+$/.test(name))
    throw new SymError(`'${name}' is reserved and cannot name a symbolic variable`);
  return Sym.atom({ k: 'var', name, key: name });
}

const RESERVED = new Set(['floordiv', 'floormod', 'min', 'max', 'acc']);

function makeTerm(coef: number, atoms: Atom[]): Term {
  atoms.sort((x, y) => (x.key < y.key ? -1 : x.key > y.key ? 1 : 0));
  return { coef, atoms, key: atoms.map((a) => a.key).join('*') };
}

function atomString(a: Atom): string {
  return a.k === 'var' ? a.name! : `${a.k}(${a.a!.toString()}, ${a.b!.toString()})`;
}

function evalAtom(a: Atom, env: Readonly<Record<string, number>>): number {
  if (a.k === 'var') {
    const v = env[a.name!];
    if (v === undefined) throw new SymError(`symbolic variable '${a.name}' has no value`);
    return v;
  }
  const x = a.a!.eval(env);
  const y = a.b!.eval(env);
  switch (a.k) {
    case 'floordiv':
      if (y === 0) throw new SymError(`division by zero in ${atomString(a)}`);
      return Math.floor(x / y);
    case 'floormod':
      if (y === 0) throw new SymError(`modulo by zero in ${atomString(a)}`);
      return x - y * Math.floor(x / y);
    case 'min':
      return Math.min(x, y);
    case 'max':
      return Math.max(x, y);
  }
}

function substAtom(a: Atom, map: Readonly<Record<string, SymLike>>): Sym {
  if (a.k === 'var') {
    const r = map[a.name!];
    return r === undefined ? Sym.atom(a) : toSym(r);
  }
  const x = a.a!.subst(map);
  const y = a.b!.subst(map);
  switch (a.k) {
    case 'floordiv':
      return x.floorDiv(y);
    case 'floormod':
      return x.floorMod(y);
    case 'min':
      return x.min(y);
    case 'max':
      return x.max(y);
  }
}

function opAtom(k: AtomKind, a: Sym, b: Sym): Sym {
  return Sym.atom({ k, a, b, key: `${k}(${a.key},${b.key})` });
}

const mod = (x: number, k: number) => x - k * Math.floor(x / k);

/**
 * floordiv/floormod by a positive constant k splits x = k·Q + R with every coefficient of R in
 * [0, k); then floordiv(x, k) = Q + floordiv(R, k) and floormod(x, k) = floormod(R, k) hold for
 * all integers, and the R-parts vanish when R provably lies in [0, k).
 */
function floorDivMod(x: Sym, y: Sym, k: 'floordiv' | 'floormod', bounds: Bounds = {}): Sym {
  const d = y.value;
  if (d === 0) throw new SymError(`${k} by zero: ${k}(${x}, ${y})`);
  if (d !== undefined && d < 0) return opAtom(k, x, y);
  if (d === 1) return k === 'floordiv' ? x : Sym.const(0);
  if (d !== undefined) {
    const qTerms: Term[] = [];
    const rTerms: Term[] = [];
    for (const t of x.terms) {
      const r = mod(t.coef, d);
      const q = (t.coef - r) / d;
      if (q !== 0) qTerms.push({ ...t, coef: q });
      if (r !== 0) rTerms.push({ ...t, coef: r });
    }
    const rc = mod(x.c, d);
    const Q = Sym.of(qTerms, (x.c - rc) / d);
    const R = Sym.of(rTerms, rc);
    const rr = rangeOf(R, bounds);
    const rInRange = rr.lo >= 0 && rr.hi < d;
    if (k === 'floordiv') {
      if (rInRange) return Q;
      // floordiv(floordiv(a, b), d) = floordiv(a, b·d) for positive constants
      const inner =
        R.terms.length === 1 && R.c === 0 && R.terms[0]!.coef === 1 && R.terms[0]!.atoms.length === 1
          ? R.terms[0]!.atoms[0]!
          : undefined;
      if (inner?.k === 'floordiv' && inner.b!.value !== undefined && inner.b!.value > 0)
        return Q.add(floorDivMod(inner.a!, inner.b!.mul(d), 'floordiv', bounds));
      return Q.add(opAtom(k, R, y));
    }
    if (rInRange) return R;
    return opAtom(k, R, y);
  }
  if (x.equals(y)) return Sym.const(k === 'floordiv' ? 1 : 0);
  const q = divExact(x, y);
  if (q) return k === 'floordiv' ? q : Sym.const(0);
  return opAtom(k, x, y);
}

/**
 * x / y when y is a single monomial dividing every term of x exactly (used for `reshape(-1)`
 * inference and floordiv simplification), else undefined.
 */
export function divExact(x: Sym, y: Sym): Sym | undefined {
  if (y.isConst()) {
    const d = y.c;
    if (d === 0) return undefined;
    if (x.c % d !== 0 || x.terms.some((t) => t.coef % d !== 0)) return undefined;
    return Sym.of(
      x.terms.map((t) => ({ ...t, coef: t.coef / d })),
      x.c / d,
    );
  }
  if (y.terms.length !== 1 || y.c !== 0 || x.c !== 0) return undefined;
  const m = y.terms[0]!;
  const terms: Term[] = [];
  let c = 0;
  for (const t of x.terms) {
    if (t.coef % m.coef !== 0) return undefined;
    const rest = [...t.atoms];
    for (const a of m.atoms) {
      const i = rest.findIndex((r) => r.key === a.key);
      if (i < 0) return undefined;
      rest.splice(i, 1);
    }
    if (rest.length === 0) c += t.coef / m.coef;
    else terms.push(makeTerm(t.coef / m.coef, rest));
  }
  return Sym.of(terms, c);
}

function minMax(x: Sym, y: Sym, k: 'min' | 'max', bounds: Bounds = {}): Sym {
  if (x.equals(y)) return x;
  const r = rangeOf(x.sub(y), bounds);
  if (r.hi <= 0) return k === 'min' ? x : y;
  if (r.lo >= 0) return k === 'min' ? y : x;
  // commutative: order operands by key so min(a, b) and min(b, a) are one expression
  return x.key < y.key ? opAtom(k, x, y) : opAtom(k, y, x);
}

/**
 * Re-simplifies with variable bounds known (e.g. `min(n, 4096)` → `n` when n ≤ 4096): the
 * canonical form itself is bound-free, so proofs call this first.
 */
export function simplifyUnder(s: Sym, bounds: Bounds): Sym {
  let acc = Sym.const(s.c);
  for (const t of s.terms) {
    let p = Sym.const(t.coef);
    for (const a of t.atoms) {
      if (a.k === 'var') {
        p = p.mul(Sym.atom(a));
        continue;
      }
      const x = simplifyUnder(a.a!, bounds);
      const y = simplifyUnder(a.b!, bounds);
      p = p.mul(a.k === 'floordiv' || a.k === 'floormod' ? floorDivMod(x, y, a.k, bounds) : minMax(x, y, a.k, bounds));
    }
    acc = acc.add(p);
  }
  return acc;
}
