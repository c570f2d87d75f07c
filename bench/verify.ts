/**
 * Every benchmark checks its own answer before a number is kept. A bench makes a `Check`, states
 * each check through `that` (a false one prints the reason and exits 1 at once, before any file
 * is written), and hands `passed()` to `writeResults`, which writes nothing without it. The token
 * carries a symbol this module keeps to itself, so a bench cannot make one without checking.
 */
import { Rng } from '../src/util/rng.js';

const VERIFIED: unique symbol = Symbol('verified');

/** Proof that a bench's checks ran and passed: only `Check.passed()` makes one. */
export interface Verified {
  readonly [VERIFIED]: true;
  readonly bench: string;
  /** One line per check, for the result's notes. */
  readonly checks: readonly string[];
}

export function isVerified(x: unknown): x is Verified {
  return typeof x === 'object' && x !== null && (x as { [VERIFIED]?: unknown })[VERIFIED] === true;
}

/** Prints why the bench's answer is wrong and exits 1; nothing is written after this. */
export function fail(reason: string): never {
  console.error(`FAIL ${reason}`);
  console.error('no result written');
  process.exit(1);
}

export class Check {
  private readonly lines: string[] = [];
  constructor(readonly bench: string) {}

  /** Records a check that held, or fails the bench with `what` and `detail`. */
  that(ok: boolean, what: string, detail = ''): void {
    if (!ok) fail(`${this.bench}: ${what}${detail ? `: ${detail}` : ''}`);
    this.lines.push(detail ? `${what} (${detail})` : what);
    console.log(`check ok: ${this.lines[this.lines.length - 1]}`);
  }

  /** The token `writeResults` needs; a bench that checked nothing has not passed. */
  passed(): Verified {
    if (this.lines.length === 0) fail(`${this.bench}: no check was made`);
    return { [VERIFIED]: true, bench: this.bench, checks: [...this.lines] };
  }
}

/** Unit roundoff of the storage and accumulation types (round to nearest). */
export const UNIT_ROUNDOFF = { f32: 2 ** -24, f16: 2 ** -11, bf16: 2 ** -8 } as const;
export type FloatType = keyof typeof UNIT_ROUNDOFF;

/**
 * λ of the probabilistic rounding bound (Higham & Mary 2019): a sum of K terms in precision u is
 * off by at most λ·√K·u·Σ|terms| except with probability ≤ 2·exp(−λ²/2), 2.5e-14 for λ = 8. The
 * worst-case bound K·u would hide a missing K-tile at K = 8192, this one does not.
 */
export const LAMBDA = 8;

export interface ProductCheck {
  M: number;
  N: number;
  K: number;
  /** Element readers of A [M, K], B ([K, N], or [N, K] when transB) and C [M, N], as float64. */
  a: (i: number, k: number) => number;
  b: (k: number, j: number) => number;
  c: (i: number, j: number) => number;
  acc: FloatType;
  out: FloatType;
  /** Whether a·b is exact in the accumulator (f16·f16 and bf16·bf16 in f32 are). */
  exactProducts: boolean;
  samples: number;
  seed: number;
}

export interface ProductCheckResult {
  /** Largest |c − Σab| ÷ its tolerance over the samples: the check holds when ≤ 1. */
  worst: number;
  /** Largest |c − Σab| ÷ Σ|ab| (for the notes). */
  worstRel: number;
  at: [number, number];
  got: number;
  want: number;
}

/**
 * C = A·B at `samples` seeded (i, j) against a float64 dot product of the same inputs. Tolerance
 * per entry: accumulation λ·√K·u_acc·Σ|ab| (plus u_acc·Σ|ab| when products round), inputs below
 * f16's normal range losing bits (≤ 2⁻²⁴ per product of operands in [−1, 1]), then the output's
 * rounding u_out·|c|.
 */
export function checkSampledProduct(p: ProductCheck): ProductCheckResult {
  const rng = new Rng(p.seed);
  const uAcc = UNIT_ROUNDOFF[p.acc];
  const uOut = UNIT_ROUNDOFF[p.out];
  let res: ProductCheckResult = { worst: 0, worstRel: 0, at: [0, 0], got: 0, want: 0 };
  for (let s = 0; s < p.samples; s++) {
    const i = rng.int(0, p.M - 1);
    const j = rng.int(0, p.N - 1);
    let sum = 0;
    let mag = 0;
    for (let k = 0; k < p.K; k++) {
      const t = p.a(i, k) * p.b(k, j);
      sum += t;
      mag += Math.abs(t);
    }
    const accTol = (LAMBDA * Math.sqrt(p.K) + (p.exactProducts ? 0 : 1)) * uAcc * mag + p.K * 2 ** -24;
    const tol = accTol + uOut * (Math.abs(sum) + accTol);
    const got = p.c(i, j);
    const err = Number.isFinite(got) ? Math.abs(got - sum) : Infinity;
    const ratio = tol > 0 ? err / tol : err === 0 ? 0 : Infinity;
    res.worstRel = Math.max(res.worstRel, err / (mag || 1));
    if (ratio > res.worst || s === 0) res = { ...res, worst: ratio, at: [i, j], got, want: sum };
  }
  return res;
}

/**
 * A near-tie, as a fraction of max|logit|: the parity bench measured our logits 5.5e-3–6.9e-3 of
 * max|logit| off PyTorch's on real-shape random checkpoints, so two tokens closer than about 3×
 * that may swap places between correct implementations, and farther ones may not.
 */
export const NEAR_TIE = 2e-2;

/** Index of the largest value (the first on ties), as greedy sampling picks. */
export function argmax(xs: ArrayLike<number>, from = 0, to = xs.length): number {
  let best = from;
  for (let i = from + 1; i < to; i++) if (xs[i]! > xs[best]!) best = i;
  return best - from;
}

/** The reference's view of one greedy step: its pick and its highest logits. */
export interface ReferenceStep {
  token: number;
  /** The reference's top logits: ids and values, highest first (the first is `token`). */
  topIds: number[];
  topValues: number[];
  maxAbsLogit: number;
}

export interface GreedyComparison {
  steps: number;
  identical: number;
  /** Steps where ours picked another token that the reference had within `nearTie` of its top. */
  nearTies: { step: number; ours: number; theirs: number; margin: number }[];
  /** The first step whose mismatch is not a near-tie, with why. */
  wrong: { step: number; ours: number; theirs: number; why: string } | null;
}

/**
 * Our greedy picks against a reference's, step by step (teacher-forced: both saw the same
 * tokens). A different pick passes only as a near-tie: the reference ranks our token within
 * `nearTie` × max|logit| of its own top. Anything else is a wrong answer.
 */
export function compareGreedy(
  ours: readonly number[],
  ref: readonly ReferenceStep[],
  nearTie: number,
): GreedyComparison {
  const out: GreedyComparison = { steps: ref.length, identical: 0, nearTies: [], wrong: null };
  if (ours.length !== ref.length) {
    out.wrong = {
      step: Math.min(ours.length, ref.length),
      ours: -1,
      theirs: -1,
      why: `${ours.length} tokens against the reference's ${ref.length}`,
    };
    return out;
  }
  for (let s = 0; s < ref.length; s++) {
    const r = ref[s]!;
    if (ours[s] === r.token) {
      out.identical++;
      continue;
    }
    const k = r.topIds.indexOf(ours[s]!);
    const margin = k < 0 ? Infinity : (r.topValues[0]! - r.topValues[k]!) / (r.maxAbsLogit || 1);
    if (margin <= nearTie) out.nearTies.push({ step: s, ours: ours[s]!, theirs: r.token, margin });
    else if (!out.wrong) {
      out.wrong = {
        step: s,
        ours: ours[s]!,
        theirs: r.token,
        why:
          k < 0
            ? `our token is not in the reference's top ${r.topIds.length}`
            : `reference margin ${margin.toExponential(2)} of max|logit| > near-tie ${nearTie}`,
      };
    }
  }
  return out;
}
