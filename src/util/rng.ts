/**
 * A counter-based random generator that WGSL can reproduce bit for bit.
 *
 * Sampling on the GPU must pick the same token as the CPU backend for the same seed, so the
 * generator is a pure function of (seed, stream, counter): PCG's output hash over 32-bit words,
 * written with `Math.imul` here and plain `u32` arithmetic in WGSL (`src/kernels/wgsl-rng.ts`).
 */
export function pcgHash(x: number): number {
  const state = (Math.imul(x >>> 0, 747796405) + 2891336453) >>> 0;
  const word = Math.imul(((state >>> ((state >>> 28) + 4)) ^ state) >>> 0, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}

/** Uniform float in [0, 1) with 24 random bits, from (seed, stream, counter). */
export function uniformAt(seed: number, stream: number, counter: number): number {
  const h = pcgHash((pcgHash((pcgHash(seed >>> 0) ^ (stream >>> 0)) >>> 0) ^ (counter >>> 0)) >>> 0);
  return (h >>> 8) / 16777216;
}

/** A small seeded generator for test inputs (xorshift128+ over two 32-bit halves is overkill: mulberry32). */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }
  /** Integer in [lo, hi] inclusive. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  normal(): number {
    const u = Math.max(this.next(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)]!;
  }
  /** `n` values from N(0, scale²). */
  normals(n: number, scale = 1): Float64Array {
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) out[i] = this.normal() * scale;
    return out;
  }
}

/** A seed that differs per run (fresh inputs each time) but is printed so a failure can be replayed. */
export function freshSeed(): number {
  const fromEnv = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env.TESSERA_SEED;
  if (fromEnv !== undefined) return Number(fromEnv) >>> 0;
  return (Date.now() ^ (Math.random() * 0x7fffffff)) >>> 0;
}
