/**
 * SmoothQuant's migration of quantization difficulty from activations to weights, for the W8A8 row
 * of Atom's ablation: per input channel j, s_j = max|X_j|^α / max|W_j|^(1−α) (max|W_j| over every
 * row of every projection reading that activation), then X' = X / s and W' = W · diag(s), so
 * X'·W'ᵀ = X·Wᵀ before quantization while the activation outliers shrink. In a deployed model 1/s
 * folds into the RMSNorm weight in front of the projections; fake quantization divides X instead,
 * which is the same product.
 */

/** SmoothQuant's default migration strength. */
export const SMOOTH_ALPHA = 0.5;

/**
 * The factors s [k] from calibration's max |x| per channel and the weights [n_i, k] that read the
 * activation. A channel that is zero in either stays unscaled (s = 1): there is nothing to move.
 */
export function smoothingFactors(
  actAbsMax: ArrayLike<number>,
  weights: readonly ArrayLike<number>[],
  alpha = SMOOTH_ALPHA,
): Float64Array {
  const k = actAbsMax.length;
  if (!(alpha >= 0 && alpha <= 1)) throw new Error(`smoothing: alpha must be in [0, 1], got ${alpha}`);
  const wMax = new Float64Array(k);
  for (const w of weights) {
    if (w.length % k !== 0) throw new Error(`smoothing: a weight of ${w.length} values is not [n, ${k}]`);
    for (let e = 0; e < w.length; e++) wMax[e % k] = Math.max(wMax[e % k]!, Math.abs(w[e]!));
  }
  const s = new Float64Array(k);
  for (let j = 0; j < k; j++) {
    const a = actAbsMax[j]!;
    const b = wMax[j]!;
    s[j] = a > 0 && b > 0 ? a ** alpha / b ** (1 - alpha) : 1;
  }
  return s;
}

/** W [n, k] with column j multiplied by s[j]. */
export function scaleColumns(w: ArrayLike<number>, n: number, k: number, s: ArrayLike<number>): Float64Array {
  const out = new Float64Array(n * k);
  for (let r = 0; r < n; r++) for (let j = 0; j < k; j++) out[r * k + j] = w[r * k + j]! * s[j]!;
  return out;
}

/** X [m, k] with column j divided by s[j]. */
export function divideColumns(x: ArrayLike<number>, m: number, k: number, s: ArrayLike<number>): Float64Array {
  const out = new Float64Array(m * k);
  for (let r = 0; r < m; r++) for (let j = 0; j < k; j++) out[r * k + j] = x[r * k + j]! / s[j]!;
  return out;
}
