/**
 * Float64 image ops on NHWC arrays: the test oracle for the compiled `conv2d`, `resize_nearest`
 * and everything a vision network built of them computes. Plain loops, written independently of
 * the tensor programs they check.
 */

/** An NHWC image or feature map in float64. */
export interface MapF64 {
  readonly n: number;
  readonly h: number;
  readonly w: number;
  readonly c: number;
  readonly data: Float64Array;
}

export const mapOf = (n: number, h: number, w: number, c: number, data?: Float64Array): MapF64 => ({
  n,
  h,
  w,
  c,
  data: data ?? new Float64Array(n * h * w * c),
});

/** Zero-padded convolution; `weight` is [O, C/groups, KH, KW] row-major, `bias` [O] or undefined. */
export function conv2dF64(
  x: MapF64,
  weight: Float64Array,
  o: number,
  k: number,
  opts: { stride?: number; padding?: number; groups?: number; bias?: Float64Array } = {},
): MapF64 {
  const groups = opts.groups ?? 1;
  const cg = x.c / groups;
  const s = opts.stride ?? 1;
  const p = opts.padding ?? 0;
  const ho = Math.floor((x.h + 2 * p - k) / s) + 1;
  const wo = Math.floor((x.w + 2 * p - k) / s) + 1;
  const out = mapOf(x.n, ho, wo, o);
  for (let n = 0; n < x.n; n++)
    for (let i = 0; i < ho; i++)
      for (let j = 0; j < wo; j++)
        for (let oc = 0; oc < o; oc++) {
          let acc = opts.bias ? opts.bias[oc]! : 0;
          for (let kh = 0; kh < k; kh++) {
            const yi = i * s + kh - p;
            if (yi < 0 || yi >= x.h) continue;
            for (let kw = 0; kw < k; kw++) {
              const xi = j * s + kw - p;
              if (xi < 0 || xi >= x.w) continue;
              const base = ((n * x.h + yi) * x.w + xi) * x.c;
              const c0 = Math.floor(oc / (o / groups)) * cg;
              for (let c = 0; c < cg; c++) acc += x.data[base + c0 + c]! * weight[((oc * cg + c) * k + kh) * k + kw]!;
            }
          }
          out.data[((n * ho + i) * wo + j) * o + oc] = acc;
        }
  return out;
}

/** out[i, j] = x[⌊i·H/Ho⌋, ⌊j·W/Wo⌋]. */
export function resizeNearestF64(x: MapF64, ho: number, wo: number): MapF64 {
  const out = mapOf(x.n, ho, wo, x.c);
  for (let n = 0; n < x.n; n++)
    for (let i = 0; i < ho; i++)
      for (let j = 0; j < wo; j++) {
        const si = Math.floor((i * x.h) / ho);
        const sj = Math.floor((j * x.w) / wo);
        for (let c = 0; c < x.c; c++)
          out.data[((n * ho + i) * wo + j) * x.c + c] = x.data[((n * x.h + si) * x.w + sj) * x.c + c]!;
      }
  return out;
}

/** Channel concat of maps of equal N, H, W. */
export function concatChannelsF64(a: MapF64, b: MapF64): MapF64 {
  const out = mapOf(a.n, a.h, a.w, a.c + b.c);
  const px = a.n * a.h * a.w;
  for (let q = 0; q < px; q++) {
    for (let c = 0; c < a.c; c++) out.data[q * out.c + c] = a.data[q * a.c + c]!;
    for (let c = 0; c < b.c; c++) out.data[q * out.c + a.c + c] = b.data[q * b.c + c]!;
  }
  return out;
}

/** GELU, tanh approximation (PyTorch `approximate='tanh'`). */
export const geluF64 = (v: number): number =>
  0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v)));

/** Layer norm over the last axis of rows × cols. */
export function layerNormF64(
  x: Float64Array,
  cols: number,
  w: Float64Array,
  b: Float64Array,
  eps: number,
): Float64Array {
  const out = new Float64Array(x.length);
  for (let r = 0; r < x.length / cols; r++) {
    let mean = 0;
    for (let c = 0; c < cols; c++) mean += x[r * cols + c]!;
    mean /= cols;
    let v = 0;
    for (let c = 0; c < cols; c++) v += (x[r * cols + c]! - mean) ** 2;
    const inv = 1 / Math.sqrt(v / cols + eps);
    for (let c = 0; c < cols; c++) out[r * cols + c] = (x[r * cols + c]! - mean) * inv * w[c]! + b[c]!;
  }
  return out;
}

/** y [rows, out] = x [rows, in] · wᵀ (+ bias), w [out, in] as nn.Linear stores it. */
export function linearF64(x: Float64Array, w: Float64Array, outDim: number, bias?: Float64Array): Float64Array {
  const inDim = w.length / outDim;
  const rows = x.length / inDim;
  const y = new Float64Array(rows * outDim);
  for (let r = 0; r < rows; r++)
    for (let o = 0; o < outDim; o++) {
      let acc = bias ? bias[o]! : 0;
      for (let i = 0; i < inDim; i++) acc += x[r * inDim + i]! * w[o * inDim + i]!;
      y[r * outDim + o] = acc;
    }
  return y;
}

/** Multi-head attention without mask: q [T, H·D], k and v [S, H·D] → [T, H·D], scale 1/√D. */
export function attentionF64(
  q: Float64Array,
  k: Float64Array,
  v: Float64Array,
  heads: number,
  d: number,
): Float64Array {
  const width = heads * d;
  const t = q.length / width;
  const s = k.length / width;
  const out = new Float64Array(t * width);
  const scores = new Float64Array(s);
  for (let h = 0; h < heads; h++)
    for (let i = 0; i < t; i++) {
      let max = -Infinity;
      for (let j = 0; j < s; j++) {
        let dot = 0;
        for (let e = 0; e < d; e++) dot += q[i * width + h * d + e]! * k[j * width + h * d + e]!;
        scores[j] = dot / Math.sqrt(d);
        max = Math.max(max, scores[j]!);
      }
      let sum = 0;
      for (let j = 0; j < s; j++) {
        scores[j] = Math.exp(scores[j]! - max);
        sum += scores[j]!;
      }
      for (let j = 0; j < s; j++)
        for (let e = 0; e < d; e++) out[i * width + h * d + e] += (scores[j]! / sum) * v[j * width + h * d + e]!;
    }
  return out;
}
