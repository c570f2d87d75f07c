/**
 * Atom's channel reordering: from a calibration run's mean |activation| per input channel, the 128
 * largest become the outlier group, placed last (the INT8 group of w4a4-format.ts); the others keep
 * their relative order. `perm[j]` is the original channel at position j, the gather the quantizer
 * applies (`atom_quantize` with `reordered`), and a weight consumed by that activation has its
 * columns permuted the same way, so x_perm · W_permᵀ = x · Wᵀ exactly before quantization.
 */
import { ATOM_OUTLIERS } from './w4a4-format.js';

/** Running sums and maxima of |x| per channel over calibration tokens (the maxima: SmoothQuant's factors). */
export class ChannelStats {
  readonly sum: Float64Array;
  readonly max: Float64Array;
  tokens = 0;
  constructor(readonly channels: number) {
    this.sum = new Float64Array(channels);
    this.max = new Float64Array(channels);
  }
  /** Adds rows of x [rows, channels]. */
  add(x: ArrayLike<number>, rows: number): void {
    const k = this.channels;
    for (let r = 0; r < rows; r++)
      for (let c = 0; c < k; c++) {
        const a = Math.abs(x[r * k + c]!);
        this.sum[c]! += a;
        if (a > this.max[c]!) this.max[c] = a;
      }
    this.tokens += rows;
  }
  mean(): Float64Array {
    return this.sum.map((s) => s / Math.max(1, this.tokens));
  }
}

/** The permutation putting the `outliers` channels of largest mean |x| last (ties: lower index first). */
export function outlierPermutation(meanAbs: ArrayLike<number>, outliers = ATOM_OUTLIERS): Int32Array {
  const k = meanAbs.length;
  if (outliers > k) throw new Error(`outlier permutation: ${outliers} outliers of ${k} channels`);
  const byMagnitude = Array.from({ length: k }, (_, i) => i).sort((a, b) => meanAbs[b]! - meanAbs[a]! || a - b);
  const hot = new Set(byMagnitude.slice(0, outliers));
  const cold = Array.from({ length: k }, (_, i) => i).filter((i) => !hot.has(i));
  const hotSorted = [...hot].sort((a, b) => a - b);
  return Int32Array.from([...cold, ...hotSorted]);
}

/** Columns of W [n, k] in `perm` order: out[r, j] = w[r, perm[j]]. */
export function permuteColumns(w: ArrayLike<number>, n: number, k: number, perm: ArrayLike<number>): Float64Array {
  const out = new Float64Array(n * k);
  for (let r = 0; r < n; r++) for (let j = 0; j < k; j++) out[r * k + j] = w[r * k + perm[j]!]!;
  return out;
}
