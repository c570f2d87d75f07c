/**
 * Exact attention of one query row in float64: the oracle the sampled estimate is measured
 * against (tests and bench), written apart from the implementation it checks.
 */
export function exactAttention(
  q: ArrayLike<number>,
  keys: ArrayLike<number>,
  values: ArrayLike<number>,
  n: number,
  dim: number,
  valueDim: number,
  scale = 1 / Math.sqrt(dim),
): { o: Float64Array; lse: number } {
  const s = new Float64Array(n);
  let max = -Infinity;
  for (let i = 0; i < n; i++) {
    let d = 0;
    for (let e = 0; e < dim; e++) d += q[e]! * keys[i * dim + e]!;
    s[i] = scale * d;
    if (s[i]! > max) max = s[i]!;
  }
  const o = new Float64Array(valueDim);
  let z = 0;
  for (let i = 0; i < n; i++) z += Math.exp(s[i]! - max);
  for (let i = 0; i < n; i++) {
    const p = Math.exp(s[i]! - max) / z;
    for (let e = 0; e < valueDim; e++) o[e]! += p * values[i * valueDim + e]!;
  }
  return { o, lse: (max + Math.log(z)) * Math.LOG2E };
}

/** ‖a − b‖ / ‖b‖. */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let e = 0; e < b.length; e++) {
    num += (a[e]! - b[e]!) ** 2;
    den += b[e]! ** 2;
  }
  return Math.sqrt(num / den);
}
