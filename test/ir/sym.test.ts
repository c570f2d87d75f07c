import { describe, expect, it } from 'vitest';
import { Sym, sym, rangeOf, divExact } from '../../src/ir/sym/sym.js';
import { parseSym } from '../../src/ir/sym/parse-sym.js';
import { proveEqual, proveLE, proveLT, upperBound } from '../../src/ir/sym/prove.js';
import { Rng } from '../../src/util/rng.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';

const n = sym('n');
const m = sym('m');

describe('canonical form', () => {
  it('merges like terms and orders them', () => {
    expect(n.mul(2).add(n).key).toBe(n.mul(3).key);
    expect(n.add(m).key).toBe(m.add(n).key);
    expect(n.add(1).mul(n.sub(1)).key).toBe(n.mul(n).sub(1).key);
    expect(n.sub(n).value).toBe(0);
    expect(n.mul(2).add(n).toString()).toBe('3*n');
  });

  it('simplifies floordiv/floormod by constants', () => {
    expect(n.mul(4).add(2).floorDiv(2).toString()).toBe('2*n + 1');
    expect(n.mul(4).add(3).floorDiv(4).toString()).toBe('n');
    expect(n.mul(4).add(3).floorMod(4).toString()).toBe('3');
    expect(n.mul(6).add(m).floorDiv(3).toString()).toBe('floordiv(m, 3) + 2*n');
    expect(n.floorDiv(2).floorDiv(3).toString()).toBe('floordiv(n, 6)');
    expect(n.mul(m).floorDiv(n).toString()).toBe('m');
    expect(n.floorMod(n).value).toBe(0);
  });

  it('simplifies min/max of ordered operands and keeps others commutative', () => {
    expect(n.min(n.add(1)).toString()).toBe('n');
    expect(n.max(n.add(1)).toString()).toBe('n + 1');
    expect(n.min(m).key).toBe(m.min(n).key);
    expect(Sym.const(3).max(5).value).toBe(5);
  });

  it('divides by monomials exactly or refuses', () => {
    expect(divExact(n.mul(m).mul(32), n.mul(8))?.toString()).toBe('4*m');
    expect(divExact(n.add(1), n)).toBeUndefined();
  });

  it('prints text the parser reads back', () => {
    for (const e of [
      n.mul(3).sub(m.mul(2)).add(7),
      n.floorDiv(m.add(1)).min(n.mul(n)),
      Sym.const(-4),
      n.neg().add(2),
    ]) {
      expect(parseSym(e.toString()).key).toBe(e.key);
    }
    expect(() => parseSym('n + * 2')).toThrow(/column/);
    expect(() => parseSym('floordiv(n')).toThrow(/expected/);
  });

  it('evaluates and names unbound variables', () => {
    expect(n.mul(3).add(m.floorMod(4)).eval({ n: 2, m: 7 })).toBe(9);
    expect(() => n.add(m).eval({ n: 1 })).toThrow(/'m'/);
    expect(() => sym('i0')).toThrow(/reserved/);
    expect(() => sym('2n')).toThrow(/not a valid/);
  });
});

describe('proofs under bounds', () => {
  const b = { n: { lo: 1, hi: 4096 }, m: { lo: 0, hi: 8 } };
  it('proves equalities and orderings', () => {
    expect(proveEqual(n.mul(2).add(n), n.mul(3))).toBe(true);
    expect(proveLE(n, 4096, b)).toBe(true);
    expect(proveLE(n, 4095, b)).toBe(false);
    expect(proveLT(n.floorDiv(2), 2049, b)).toBe(true);
    expect(proveLT(n, n.add(1))).toBe(true);
    // floordiv elimination keeps x and floordiv(x, k) correlated
    expect(proveLT(n.floorDiv(2), n, b)).toBe(true);
    expect(proveLE(n.floorDiv(4).mul(4), n)).toBe(true);
    expect(proveLE(n, n.floorDiv(4).mul(4).add(3))).toBe(true);
    expect(proveLE(n, n.floorDiv(4).mul(4).add(2))).toBe(false);
    expect(proveLE(n.add(m), 4104, b)).toBe(true);
    expect(proveLE(n.floorMod(16), 15)).toBe(true);
    expect(upperBound(n.mul(m).add(n.floorDiv(2)), b)).toBe(4096 * 8 + 2048);
    expect(proveEqual(n.min(4096), n, b)).toBe(true);
  });
});

// ---- property tests: random expression trees evaluated directly vs. through the canonical form ----

type Raw =
  | { op: 'var'; name: string }
  | { op: 'const'; v: number }
  | { op: '+' | '-' | '*' | 'fdiv' | 'fmod' | 'min' | 'max'; a: Raw; b: Raw };

function randRaw(rng: Rng, depth: number): Raw {
  if (depth === 0 || rng.next() < 0.25) {
    return rng.next() < 0.6 ? { op: 'var', name: rng.pick(['n', 'm', 'k']) } : { op: 'const', v: rng.int(-5, 9) };
  }
  const op = rng.pick(['+', '-', '*', 'fdiv', 'fmod', 'min', 'max'] as const);
  const a = randRaw(rng, depth - 1);
  // divisors stay positive: a positive constant or (variable + positive constant)
  const b =
    op === 'fdiv' || op === 'fmod'
      ? rng.next() < 0.6
        ? { op: 'const' as const, v: rng.int(1, 8) }
        : {
            op: '+' as const,
            a: { op: 'var' as const, name: rng.pick(['n', 'm', 'k']) },
            b: { op: 'const' as const, v: rng.int(1, 3) },
          }
      : randRaw(rng, depth - 1);
  return { op, a, b };
}

function evalRaw(r: Raw, env: Record<string, number>): number {
  switch (r.op) {
    case 'var':
      return env[r.name]!;
    case 'const':
      return r.v;
    default: {
      const a = evalRaw(r.a, env);
      const b = evalRaw(r.b, env);
      switch (r.op) {
        case '+':
          return a + b;
        case '-':
          return a - b;
        case '*':
          return a * b;
        case 'fdiv':
          return Math.floor(a / b);
        case 'fmod':
          return a - b * Math.floor(a / b);
        case 'min':
          return Math.min(a, b);
        case 'max':
          return Math.max(a, b);
      }
    }
  }
}

function build(r: Raw): Sym {
  switch (r.op) {
    case 'var':
      return sym(r.name);
    case 'const':
      return Sym.const(r.v);
    case '+':
      return build(r.a).add(build(r.b));
    case '-':
      return build(r.a).sub(build(r.b));
    case '*':
      return build(r.a).mul(build(r.b));
    case 'fdiv':
      return build(r.a).floorDiv(build(r.b));
    case 'fmod':
      return build(r.a).floorMod(build(r.b));
    case 'min':
      return build(r.a).min(build(r.b));
    case 'max':
      return build(r.a).max(build(r.b));
  }
}

describe('simplifier properties', () => {
  const seed = testSeed();
  it(`keeps the value of random expressions (${seedNote(seed)})`, () => {
    const rng = new Rng(seed);
    for (let trial = 0; trial < 400; trial++) {
      const raw = randRaw(rng, 4);
      const s = build(raw);
      const reparsed = parseSym(s.toString());
      expect(reparsed.key).toBe(s.key);
      for (let j = 0; j < 8; j++) {
        const env = { n: rng.int(0, 30), m: rng.int(0, 30), k: rng.int(0, 30) };
        const want = evalRaw(raw, env) + 0;
        expect(s.eval(env), `${s.toString()} at ${JSON.stringify(env)}`).toBe(want);
      }
    }
  });

  it(`proves only true inequalities and ranges (${seedNote(seed)})`, () => {
    const rng = new Rng(seed ^ 0x5bd1);
    for (let trial = 0; trial < 300; trial++) {
      const a = build(randRaw(rng, 3));
      const c = build(randRaw(rng, 3));
      const bounds = {
        n: { lo: rng.int(0, 3), hi: rng.int(4, 20) },
        m: { lo: 0, hi: rng.int(0, 10) },
        k: { lo: 1, hi: 6 },
      };
      const le = proveLE(a, c, bounds);
      const eq = proveEqual(a, c, bounds);
      const r = rangeOf(a, bounds);
      for (let j = 0; j < 12; j++) {
        const env = { n: rng.int(bounds.n.lo, bounds.n.hi), m: rng.int(0, bounds.m.hi), k: rng.int(1, 6) };
        const va = a.eval(env);
        const vc = c.eval(env);
        if (le) expect(va, `${a} ≤ ${c} at ${JSON.stringify(env)}`).toBeLessThanOrEqual(vc);
        if (eq) expect(va).toBe(vc);
        expect(va).toBeGreaterThanOrEqual(r.lo);
        expect(va).toBeLessThanOrEqual(r.hi);
      }
    }
  });

  it('identifies algebraically equal forms', () => {
    const rng = new Rng(seed ^ 0x77);
    for (let trial = 0; trial < 200; trial++) {
      const x = build(randRaw(rng, 2));
      const y = build(randRaw(rng, 2));
      const z = build(randRaw(rng, 2));
      expect(x.add(y).mul(z).key).toBe(x.mul(z).add(y.mul(z)).key);
      expect(x.sub(y).add(y).key).toBe(x.key);
    }
  });
});
