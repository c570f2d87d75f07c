/**
 * Fake quantization in float64: each scheme's values replaced by what its stored codes stand for,
 * so an evaluator running float math sees exactly the quantized model. The W4A4 and W4 paths go
 * through the real encoders (w4a4-format.ts, weight-only.ts), so they are the formats the kernels
 * read, not a re-statement of them; the ablation variants (no outlier group, the KV cache) are
 * plain group quantizers here.
 */
import { f16Bits, f16ToNumber } from '../tensor/dtype.js';
import { ATOM_GROUP, dequantizeW4a4Weights, quantizeActivations, quantizeW4a4Weights } from './w4a4-format.js';
import { dequantizeWeightOnly, quantizeWeightOnly } from './weight-only.js';
import { roundHalfEven } from '../tensor/round-half-even.js';

/** W4A16 round-to-nearest: our `w4` format (group 128, asymmetric, f16 scale and zero). */
export function fakeQuantW4(w: ArrayLike<number>, n: number, k: number): Float64Array {
  return dequantizeWeightOnly('w4', quantizeWeightOnly('w4', w, n, k), n, k);
}

/** Atom weights: 4-bit groups and the INT8 last group, as stored (channels already reordered). */
export function fakeQuantW4a4Weights(w: ArrayLike<number>, n: number, k: number): Float64Array {
  return dequantizeW4a4Weights(quantizeW4a4Weights(w, n, k), n, k);
}

/** Atom activations: per token, 4-bit groups and the INT8 last group (the `atom_quantize` oracle). */
export function fakeQuantW4a4Activations(x: ArrayLike<number>, m: number, k: number): Float64Array {
  const { q, scale } = quantizeActivations(x, m, k);
  const G = k / ATOM_GROUP;
  const out = new Float64Array(m * k);
  for (let e = 0; e < m * k; e++) out[e] = q[e]! * scale[Math.floor(e / k) * G + Math.floor((e % k) / ATOM_GROUP)]!;
  return out;
}

/**
 * Symmetric round-to-nearest in groups of `group` consecutive values of each row, every group with
 * the same `qmax`: the "W4A4 without outliers" row of the ablation (no INT8 group, no reordering).
 * `f16Scale` rounds the scale to f16 first, as stored weights do; activation scales stay exact.
 */
export function fakeQuantSymmetric(
  x: ArrayLike<number>,
  rows: number,
  k: number,
  group: number,
  qmax: number,
  f16Scale: boolean,
): Float64Array {
  const out = new Float64Array(rows * k);
  for (let r = 0; r < rows; r++)
    for (let g0 = 0; g0 < k; g0 += group) {
      const end = Math.min(k, g0 + group);
      let amax = 0;
      for (let c = g0; c < end; c++) amax = Math.max(amax, Math.abs(x[r * k + c]!));
      const s = f16Scale ? f16ToNumber(f16Bits(amax / qmax)) : amax / qmax;
      for (let c = g0; c < end; c++)
        out[r * k + c] = s > 0 ? Math.max(-qmax, Math.min(qmax, roundHalfEven(x[r * k + c]! / s))) * s : 0;
    }
  return out;
}

/**
 * The KV cache at `bits` (4 or 8): each head's vector of one token (headDim values) is one group,
 * asymmetric (min/max, as Atom quantizes its KV cache), with scale and zero point kept in f16:
 * x ≈ scale · (q − zero), q in 0..2^bits − 1. `x` is [tokens, heads, headDim].
 */
export function fakeQuantKv(x: ArrayLike<number>, tokens: number, heads: number, headDim: number, bits: 4 | 8) {
  const qmax = 2 ** bits - 1;
  const out = new Float64Array(tokens * heads * headDim);
  for (let v = 0; v < tokens * heads; v++) {
    const o = v * headDim;
    let lo = 0;
    let hi = 0;
    for (let i = 0; i < headDim; i++) {
      lo = Math.min(lo, x[o + i]!);
      hi = Math.max(hi, x[o + i]!);
    }
    const scale = f16ToNumber(f16Bits((hi - lo) / qmax));
    const zero = scale > 0 ? Math.min(qmax, Math.max(0, roundHalfEven(-lo / scale))) : 0;
    for (let i = 0; i < headDim; i++) {
      const q = scale > 0 ? Math.min(qmax, Math.max(0, roundHalfEven(x[o + i]! / scale + zero))) : zero;
      out[o + i] = scale * (q - zero);
    }
  }
  return out;
}
