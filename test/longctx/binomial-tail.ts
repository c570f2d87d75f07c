/** The oracle of the LSH sampling probability: P(Binomial(L, p^K) ≥ T) summed term by term in float64. */
export function binomialTail(p: number, K: number, L: number, T: number): number {
  const P = p ** K;
  let s = 0;
  for (let t = T; t <= L; t++) {
    let c = 1;
    for (let j = 1; j <= t; j++) c = (c * (L - t + j)) / j;
    s += c * P ** t * (1 - P) ** (L - t);
  }
  return s;
}
