/**
 * The probability that SimHash puts a key among a query's candidates, from the angle between them:
 * one bit agrees with probability p = 1 − θ/π, one table of K bits with P = p^K, and the key is a
 * candidate when at least T of the L independent tables collide: u = P(Binomial(L, P) ≥ T).
 * Computed as 1 − (1−P)^L·Σ_{t<T} C(L,t)·(P/(1−P))^t through log1p/expm1, because the keys that
 * matter most to the estimator's variance have tiny u, where the plain complement cancels.
 */

/** Per-bit agreement probability of two vectors with this cosine. */
export function bitCollisionProbability(cosine: number): number {
  const c = Math.min(1, Math.max(-1, cosine));
  return 1 - Math.acos(c) / Math.PI;
}

/** P(at least `minCollisions` of `tables` tables of `bits` bits collide) for per-bit probability p. */
export function samplingProbability(p: number, bits: number, tables: number, minCollisions: number): number {
  const P = p ** bits;
  if (P >= 1) return 1;
  if (P <= 0) return 0;
  const r = P / (1 - P);
  // Σ_{t=1}^{T−1} C(L,t) r^t, term by term: C(L,t) r^t = C(L,t−1) r^{t−1} · r (L−t+1)/t
  let term = 1;
  let tail = 0;
  for (let t = 1; t < minCollisions; t++) {
    term *= (r * (tables - t + 1)) / t;
    tail += term;
  }
  const logBelow = tables * Math.log1p(-P) + Math.log1p(tail);
  return -Math.expm1(logBelow);
}
