/**
 * The probability that SimHash puts a key among a query's candidates, from the angle between them:
 * one bit agrees with probability p = 1 − θ/π, one table of K bits with P = p^K, and the key is a
 * candidate when at least T of the L independent tables collide: u = P(Binomial(L, P) ≥ T).
 *
 * Two forms, each where it has no cancellation. When L·P ≤ T the tail's terms fall from the first
 * on, so it is summed directly from t = T, the first term in logs (P^T underflows long before u
 * stops mattering: the keys with tiny u weigh most in the estimator's variance). Otherwise u is not
 * small, and 1 − (1−P)^L·Σ_{t<T} C(L,t)·(P/(1−P))^t through log1p/expm1 is accurate.
 */

/** Per-bit agreement probability of two vectors with this cosine. */
export function bitCollisionProbability(cosine: number): number {
  const c = Math.min(1, Math.max(-1, cosine));
  return 1 - Math.acos(c) / Math.PI;
}

/** ln P(at least `minCollisions` of `tables` tables of `bits` bits collide) for per-bit probability p. */
export function logSamplingProbability(p: number, bits: number, tables: number, minCollisions: number): number {
  const L = tables;
  const T = minCollisions;
  if (T <= 0) return 0;
  if (T > L || p <= 0) return -Infinity;
  const logP = bits * Math.log(p);
  const P = Math.exp(logP);
  if (P >= 1) return 0;
  if (L * P <= T) {
    // ln C(L,T) + T ln P + (L−T) ln(1−P), then the ratio of each next term to the one before
    let logFirst = T * logP + (L - T) * Math.log1p(-P);
    for (let i = 0; i < T; i++) logFirst += Math.log((L - i) / (i + 1));
    const r = P / (1 - P);
    let term = 1;
    let sum = 1;
    for (let t = T; t < L && term > 1e-17 * sum; t++) {
      term *= (r * (L - t)) / (t + 1);
      sum += term;
    }
    return logFirst + Math.log(sum);
  }
  const r = P / (1 - P);
  // Σ_{t=1}^{T−1} C(L,t) r^t, term by term: C(L,t) r^t = C(L,t−1) r^{t−1} · r (L−t+1)/t
  let term = 1;
  let below = 0;
  for (let t = 1; t < T; t++) {
    term *= (r * (L - t + 1)) / t;
    below += term;
  }
  return Math.log(-Math.expm1(L * Math.log1p(-P) + Math.log1p(below)));
}

/** P(at least `minCollisions` of `tables` tables of `bits` bits collide) for per-bit probability p. */
export function samplingProbability(p: number, bits: number, tables: number, minCollisions: number): number {
  return Math.exp(logSamplingProbability(p, bits, tables, minCollisions));
}
