/**
 * The error bound of `linear` from its arithmetic, element by element (as matmul's check): each
 * accumulator is off by at most 2⁻¹⁶·Σ|a'·w| (f32 accumulation, see matmul.ts), plus one storage
 * epsilon of a per term where a kernel rounds the normalised rows a' to a's dtype before the
 * product (prefill sizes, as the unfused graph does). The epilogue carries both accumulators'
 * errors through its slope (evaluated at acc ± bound), RoPE adds the bounds of the two rotated
 * elements, and the output's rounding adds its storage epsilon. A dropped or doubled term is of
 * the order of one |a'·w| and exceeds the bound.
 */
import type { TensorDesc } from '../backends/backend.js';
import { evalExpr } from './expr.js';
import { elementwiseExpr } from './elementwise.js';
import { type LinearAttrs, linearParts } from './linear-parts.js';
import { epilogueStrides } from './matmul.js';
import { rmsnormOp } from './rmsnorm.js';
import { storageEps } from './test-data.js';

/** Σ_k |a[m,k]·w[n,k]| for every (m, n). */
function magnitudes(a: Float64Array, w: Float64Array, M: number, N: number, K: number): Float64Array {
  const out = new Float64Array(M * N);
  for (let m = 0; m < M; m++)
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += Math.abs(a[m * K + k]! * w[n * K + k]!);
      out[m * N + n] = s;
    }
  return out;
}

/** Per output element (before RoPE): how far the epilogue's result may be from the oracle's. */
function epilogueBounds(
  attrs: LinearAttrs,
  acc: readonly Float64Array[],
  err: readonly Float64Array[],
  extras: readonly { data: Float64Array; rowStride: number; colStride: number }[],
  N: number,
): Float64Array {
  const out = new Float64Array(acc[0]!.length);
  const e = attrs.epilogue ? elementwiseExpr(attrs.epilogue) : null;
  const args = new Array<number>(acc.length + extras.length);
  for (let i = 0; i < out.length; i++) {
    const row = Math.floor(i / N);
    const col = i - row * N;
    extras.forEach((x, j) => (args[acc.length + j] = x.data[row * x.rowStride + col * x.colStride]!));
    const at = (signs: readonly number[]) => {
      acc.forEach((a, j) => (args[j] = a[i]! + signs[j]! * err[j]![i]!));
      return e ? evalExpr(e, args) : args[0]!;
    };
    const centre = at(acc.map(() => 0));
    let worst = 0;
    const corners =
      acc.length === 1
        ? [[-1], [1]]
        : [
            [-1, -1],
            [-1, 1],
            [1, -1],
            [1, 1],
          ];
    for (const c of corners) worst = Math.max(worst, Math.abs(at(c) - centre));
    out[i] = worst + 1e-6 * Math.abs(centre);
  }
  return out;
}

export function checkLinear(
  attrs: LinearAttrs,
  inputs: readonly Float64Array[],
  got: readonly Float64Array[],
  want: readonly Float64Array[],
  inDescs: readonly TensorDesc[],
): string | null {
  const p = linearParts(attrs, inputs);
  const d = linearParts(attrs, inDescs);
  const K = d.a.shape[d.a.shape.length - 1]!;
  const N = d.w.shape[0]!;
  const M = p.a.length / K;
  const a =
    attrs.normEps !== undefined
      ? rmsnormOp.reference({ eps: attrs.normEps }, [p.a, p.norm!], [d.a, d.norm!], [d.a])[0]!
      : p.a;
  const perTerm = 2 ** -16 + (attrs.normEps !== undefined ? storageEps(d.a.dtype) : 0);
  const weights = p.w2 ? [p.w, p.w2] : [p.w];
  const acc = weights.map((w) => {
    const s = new Float64Array(M * N);
    for (let m = 0; m < M; m++)
      for (let n = 0; n < N; n++) {
        let v = 0;
        for (let k = 0; k < K; k++) v += a[m * K + k]! * w[n * K + k]!;
        s[m * N + n] = v;
      }
    return s;
  });
  const err = weights.map((w) => magnitudes(a, w, M, N, K).map((x) => x * perTerm));
  const outShape = [...d.a.shape.slice(0, -1), N];
  const extras = p.extras.map((data, j) => ({ data, ...epilogueStrides(d.extras[j]!, outShape) }));
  const bound = epilogueBounds(attrs, acc, err, extras, N);
  const hd = attrs.rope?.headDim;
  const outEps = storageEps(attrs.outDtype ?? d.a.dtype);
  const g = got[0]!;
  const w = want[0]!;
  let bad = 0;
  let worst = -1;
  for (let i = 0; i < w.length; i++) {
    let b = bound[i]!;
    if (hd) {
      // a rotated element mixes its own pre-rotation value with its partner's, D/2 away in the head
      const half = hd / 2;
      const inHead = i % hd;
      b += bound[inHead < half ? i + half : i - half]! + 1e-6 * (Math.abs(w[i]!) + 1);
    }
    const ok = Math.abs(g[i]! - w[i]!) <= b + outEps * Math.abs(w[i]!) + 1e-6;
    if (!ok) {
      bad++;
      if (worst < 0 || Math.abs(g[i]! - w[i]!) > Math.abs(g[worst]! - w[worst]!)) worst = i;
    }
  }
  return bad === 0
    ? null
    : `output 0: ${bad}/${w.length} elements off; worst at [${worst}]: got ${g[worst]}, want ${w[worst]} (bound ${bound[worst]!.toExponential(2)})`;
}
