// The CPU backend's kernels, in AssemblyScript compiled to WebAssembly with 128-bit SIMD.
//
// Every kernel works on raw addresses in the one shared memory that the backend's tensors live in,
// computes in f32, and takes its row range [r0, r1) last, so a thread pool can split any of them
// by rows. Nothing here allocates: the runtime is the stub and all storage belongs to the host.
//
// Storage dtype codes (see storage.ts): 0 f32, 1 f16, 2 bf16.

import { exp1, exp4 } from './fast-exp';
import { hsum, ld, ld4, st } from './storage';

export { attentionDense, mergeStates } from './attention';
export { kvQuantRows } from './attention-quant';
export { expF32 } from './fast-exp';
export { evenOddX, gemvBf16 } from './gemv-bf16';
export { gemmPackedNT } from './gemm-packed';
export { ivfMergeSlots, ivfScanGroups, l2Distances } from './l2-topk';
export { lshAttention, lshMergeTables, simhashCodes } from './lsh-attention';
export { pagedAttention, pagedAttentionQuant } from './paged-attention';
export { atomLaneOrder, atomMatmul, atomQuantize } from './w4a4';

// ---- conversions ---------------------------------------------------------------------------

/** dst[i] = src[i] for i in [r0, r1), converting between storage dtypes through f32. */
export function convert(src: usize, sdt: i32, dst: usize, ddt: i32, r0: i32, r1: i32): void {
  if (sdt == 0 && ddt == 0) {
    memory.copy(dst + (<usize>r0 << 2), src + (<usize>r0 << 2), <usize>(r1 - r0) << 2);
    return;
  }
  for (let i = r0; i < r1; i++) st(dst, i, ddt, ld(src, i, sdt));
}

// ---- matrix products -----------------------------------------------------------------------

// dot4 for bf16 weights, eight at a time: a v128 of eight bf16 read as four i32 lanes holds the
// odd elements in the high halves (lane & 0xffff0000 is their f32) and the even ones in the low
// halves (lane << 16), so two bit operations widen eight weights; x is split into its even and
// odd elements by two shuffles, shared by the four rows.
@inline function dot4bf16(x: usize, w0: usize, rowBytes: usize, K: i32, out: usize): void {
  const K8 = K & ~7;
  const w1 = w0 + rowBytes;
  const w2 = w1 + rowBytes;
  const w3 = w2 + rowBytes;
  const hi = i32x4.splat(0xffff0000);
  let e0 = f32x4.splat(0);
  let e1 = f32x4.splat(0);
  let e2 = f32x4.splat(0);
  let e3 = f32x4.splat(0);
  let o0 = f32x4.splat(0);
  let o1 = f32x4.splat(0);
  let o2 = f32x4.splat(0);
  let o3 = f32x4.splat(0);
  for (let k = 0; k < K8; k += 8) {
    const xa = v128.load(x + (<usize>k << 2));
    const xb = v128.load(x + (<usize>k << 2), 16);
    const xe = v128.shuffle<f32>(xa, xb, 0, 2, 4, 6);
    const xo = v128.shuffle<f32>(xa, xb, 1, 3, 5, 7);
    const off = <usize>k << 1;
    const v0 = v128.load(w0 + off);
    const v1 = v128.load(w1 + off);
    const v2 = v128.load(w2 + off);
    const v3 = v128.load(w3 + off);
    e0 = f32x4.add(e0, f32x4.mul(xe, i32x4.shl(v0, 16)));
    o0 = f32x4.add(o0, f32x4.mul(xo, v128.and(v0, hi)));
    e1 = f32x4.add(e1, f32x4.mul(xe, i32x4.shl(v1, 16)));
    o1 = f32x4.add(o1, f32x4.mul(xo, v128.and(v1, hi)));
    e2 = f32x4.add(e2, f32x4.mul(xe, i32x4.shl(v2, 16)));
    o2 = f32x4.add(o2, f32x4.mul(xo, v128.and(v2, hi)));
    e3 = f32x4.add(e3, f32x4.mul(xe, i32x4.shl(v3, 16)));
    o3 = f32x4.add(o3, f32x4.mul(xo, v128.and(v3, hi)));
  }
  let t0 = hsum(f32x4.add(e0, o0));
  let t1 = hsum(f32x4.add(e1, o1));
  let t2 = hsum(f32x4.add(e2, o2));
  let t3 = hsum(f32x4.add(e3, o3));
  for (let k = K8; k < K; k++) {
    const v = load<f32>(x + (<usize>k << 2));
    t0 += v * ld(w0, k, 2);
    t1 += v * ld(w1, k, 2);
    t2 += v * ld(w2, k, 2);
    t3 += v * ld(w3, k, 2);
  }
  store<f32>(out, t0);
  store<f32>(out, t1, 4);
  store<f32>(out, t2, 8);
  store<f32>(out, t3, 12);
}

// Four dot products of the f32 row x with weight rows w0 … w0 + 3·rowBytes, stored at out[0..4):
// x is loaded once for all four, and four accumulators hide the add latency.
@inline function dot4(x: usize, w0: usize, rowBytes: usize, bdt: i32, K: i32, out: usize): void {
  if (bdt == 2) {
    dot4bf16(x, w0, rowBytes, K, out);
    return;
  }
  const K4 = K & ~3;
  const w1 = w0 + rowBytes;
  const w2 = w1 + rowBytes;
  const w3 = w2 + rowBytes;
  let s0 = f32x4.splat(0);
  let s1 = f32x4.splat(0);
  let s2 = f32x4.splat(0);
  let s3 = f32x4.splat(0);
  for (let k = 0; k < K4; k += 4) {
    const v = v128.load(x + (<usize>k << 2));
    s0 = f32x4.add(s0, f32x4.mul(v, ld4(w0, k, bdt)));
    s1 = f32x4.add(s1, f32x4.mul(v, ld4(w1, k, bdt)));
    s2 = f32x4.add(s2, f32x4.mul(v, ld4(w2, k, bdt)));
    s3 = f32x4.add(s3, f32x4.mul(v, ld4(w3, k, bdt)));
  }
  let t0 = hsum(s0);
  let t1 = hsum(s1);
  let t2 = hsum(s2);
  let t3 = hsum(s3);
  for (let k = K4; k < K; k++) {
    const v = load<f32>(x + (<usize>k << 2));
    t0 += v * ld(w0, k, bdt);
    t1 += v * ld(w1, k, bdt);
    t2 += v * ld(w2, k, bdt);
    t3 += v * ld(w3, k, bdt);
  }
  store<f32>(out, t0);
  store<f32>(out, t1, 4);
  store<f32>(out, t2, 8);
  store<f32>(out, t3, 12);
}

// Σ_k x[k] · w[k] for one weight row w (the rows left over after the blocks of four).
@inline function dot1(x: usize, w: usize, bdt: i32, K4: i32, K: i32): f32 {
  let s = f32x4.splat(0);
  for (let k = 0; k < K4; k += 4) s = f32x4.add(s, f32x4.mul(v128.load(x + (<usize>k << 2)), ld4(w, k, bdt)));
  let t = hsum(s);
  for (let k = K4; k < K; k++) t += load<f32>(x + (<usize>k << 2)) * ld(w, k, bdt);
  return t;
}

// Two rows of a (a0, a0 + aRow) against four weight rows w0…w3, eight accumulators, so each
// converted weight vector serves two rows and each row vector four weights; results to c rows m, m + 1
// from column n (the output address is formed after the K loop, as it is only needed there).
@inline function block2x4(
  a0: usize,
  aRow: usize,
  w0: usize,
  w1: usize,
  w2: usize,
  w3: usize,
  bdt: i32,
  K4: i32,
  K: i32,
  c: usize,
  m: i32,
  n: i32,
  cRow: usize,
): void {
  const a1 = a0 + aRow;
  let s00 = f32x4.splat(0);
  let s01 = f32x4.splat(0);
  let s02 = f32x4.splat(0);
  let s03 = f32x4.splat(0);
  let s10 = f32x4.splat(0);
  let s11 = f32x4.splat(0);
  let s12 = f32x4.splat(0);
  let s13 = f32x4.splat(0);
  for (let k = 0; k < K4; k += 4) {
    const off = <usize>k << 2;
    const x0 = v128.load(a0 + off);
    const x1 = v128.load(a1 + off);
    const v0 = ld4(w0, k, bdt);
    const v1 = ld4(w1, k, bdt);
    const v2 = ld4(w2, k, bdt);
    const v3 = ld4(w3, k, bdt);
    s00 = f32x4.add(s00, f32x4.mul(x0, v0));
    s01 = f32x4.add(s01, f32x4.mul(x0, v1));
    s02 = f32x4.add(s02, f32x4.mul(x0, v2));
    s03 = f32x4.add(s03, f32x4.mul(x0, v3));
    s10 = f32x4.add(s10, f32x4.mul(x1, v0));
    s11 = f32x4.add(s11, f32x4.mul(x1, v1));
    s12 = f32x4.add(s12, f32x4.mul(x1, v2));
    s13 = f32x4.add(s13, f32x4.mul(x1, v3));
  }
  let t00 = hsum(s00);
  let t01 = hsum(s01);
  let t02 = hsum(s02);
  let t03 = hsum(s03);
  let t10 = hsum(s10);
  let t11 = hsum(s11);
  let t12 = hsum(s12);
  let t13 = hsum(s13);
  for (let k = K4; k < K; k++) {
    const off = <usize>k << 2;
    const x0 = load<f32>(a0 + off);
    const x1 = load<f32>(a1 + off);
    const v0 = ld(w0, k, bdt);
    const v1 = ld(w1, k, bdt);
    const v2 = ld(w2, k, bdt);
    const v3 = ld(w3, k, bdt);
    t00 += x0 * v0;
    t01 += x0 * v1;
    t02 += x0 * v2;
    t03 += x0 * v3;
    t10 += x1 * v0;
    t11 += x1 * v1;
    t12 += x1 * v2;
    t13 += x1 * v3;
  }
  const o0 = c + <usize>m * cRow + (<usize>n << 2);
  const o1 = o0 + cRow;
  store<f32>(o0, t00);
  store<f32>(o0, t01, 4);
  store<f32>(o0, t02, 8);
  store<f32>(o0, t03, 12);
  store<f32>(o1, t10);
  store<f32>(o1, t11, 4);
  store<f32>(o1, t12, 8);
  store<f32>(o1, t13, 12);
}

// c[m, n] = Σ_k a[m, k] · b[n, k] for n in [n0, n1): a is f32 [M, K], b [N, K] in `bdt`, c f32 [M, N].
// The decode case (M = 1) runs four weight rows at once (`dot4`), reading each weight exactly once;
// larger M runs blocks of two a rows × four weight rows (`block2x4`).
@inline function gemmNTFor(a: usize, b: usize, bdt: i32, c: usize, M: i32, N: i32, K: i32, n0: i32, n1: i32): void {
  const K4 = K & ~3;
  const esz: usize = bdt == 0 ? 4 : 2;
  const rowBytes = <usize>K * esz;
  if (M == 1) {
    let n = n0;
    for (; n + 4 <= n1; n += 4) dot4(a, b + <usize>n * rowBytes, rowBytes, bdt, K, c + (<usize>n << 2));
    for (; n < n1; n++) {
      const t = dot1(a, b + <usize>n * rowBytes, bdt, K4, K);
      store<f32>(c + (<usize>n << 2), t);
    }
    return;
  }
  const aRow = <usize>K << 2;
  const cRow = <usize>N << 2;
  let n = n0;
  for (; n + 4 <= n1; n += 4) {
    const w0 = b + <usize>n * rowBytes;
    const w1 = w0 + rowBytes;
    const w2 = w1 + rowBytes;
    const w3 = w2 + rowBytes;
    let m = 0;
    for (; m + 2 <= M; m += 2)
      block2x4(a + <usize>m * aRow, aRow, w0, w1, w2, w3, bdt, K4, K, c, m, n, cRow);
    if (m < M) dot4(a + <usize>m * aRow, w0, rowBytes, bdt, K, c + <usize>m * cRow + (<usize>n << 2));
  }
  for (; n < n1; n++) {
    const w = b + <usize>n * rowBytes;
    for (let m = 0; m < M; m++) {
      const t = dot1(a + <usize>m * aRow, w, bdt, K4, K);
      store<f32>(c + ((<usize>m * <usize>N + <usize>n) << 2), t);
    }
  }
}

export function gemmNT(a: usize, b: usize, bdt: i32, c: usize, M: i32, N: i32, K: i32, n0: i32, n1: i32): void {
  if (bdt == 0) gemmNTFor(a, b, 0, c, M, N, K, n0, n1);
  else if (bdt == 2) gemmNTFor(a, b, 2, c, M, N, K, n0, n1);
  else gemmNTFor(a, b, 1, c, M, N, K, n0, n1);
}

// c[m, n] = Σ_k a[m, k] · b[k, n] for rows m in [m0, m1): a f32 [M, K], b [K, N] in `bdt`, c f32.
// Each c row is built in place four columns at a time, reading b row by row (its storage order).
@inline function gemmNNFor(a: usize, b: usize, bdt: i32, c: usize, N: i32, K: i32, m0: i32, m1: i32): void {
  const N4 = N & ~3;
  for (let m = m0; m < m1; m++) {
    const crow = c + <usize>m * (<usize>N << 2);
    memory.fill(crow, 0, <usize>N << 2);
    const arow = a + <usize>m * (<usize>K << 2);
    for (let k = 0; k < K; k++) {
      const x = load<f32>(arow + (<usize>k << 2));
      const xv = f32x4.splat(x);
      const base = k * N;
      for (let n = 0; n < N4; n += 4) {
        const p = crow + (<usize>n << 2);
        v128.store(p, f32x4.add(v128.load(p), f32x4.mul(xv, ld4(b, base + n, bdt))));
      }
      for (let n = N4; n < N; n++) {
        const p = crow + (<usize>n << 2);
        store<f32>(p, load<f32>(p) + x * ld(b, base + n, bdt));
      }
    }
  }
}

export function gemmNN(a: usize, b: usize, bdt: i32, c: usize, N: i32, K: i32, m0: i32, m1: i32): void {
  if (bdt == 0) gemmNNFor(a, b, 0, c, N, K, m0, m1);
  else if (bdt == 2) gemmNNFor(a, b, 2, c, N, K, m0, m1);
  else gemmNNFor(a, b, 1, c, N, K, m0, m1);
}

/** c[i] = silu(c[i]) · x[i] (the gated MLP's epilogue), f32, i in [r0, r1); four at a time with the vector exp. */
export function siluMul(c: usize, x: usize, r0: i32, r1: i32): void {
  let i = r0;
  for (; i + 4 <= r1; i += 4) {
    const p = <usize>i << 2;
    const v = v128.load(c + p);
    const sig = f32x4.div(v, f32x4.add(f32x4.splat(1), exp4(f32x4.neg(v))));
    v128.store(c + p, f32x4.mul(sig, v128.load(x + p)));
  }
  for (; i < r1; i++) {
    const p = <usize>i << 2;
    const v = load<f32>(c + p);
    store<f32>(c + p, (v / (<f32>1 + exp1(-v))) * load<f32>(x + p));
  }
}

/** c[i] += x[i], f32, i in [r0, r1). */
export function addInPlace(c: usize, x: usize, r0: i32, r1: i32): void {
  let i = r0;
  for (; i + 4 <= r1; i += 4) {
    const p = <usize>i << 2;
    v128.store(c + p, f32x4.add(v128.load(c + p), v128.load(x + p)));
  }
  for (; i < r1; i++) {
    const p = <usize>i << 2;
    store<f32>(c + p, load<f32>(c + p) + load<f32>(x + p));
  }
}

// ---- row operations ------------------------------------------------------------------------

/** y = x / √(mean(x²) + eps) · w over rows of C. */
export function rmsnorm(x: usize, xdt: i32, w: usize, wdt: i32, y: usize, ydt: i32, C: i32, eps: f32, r0: i32, r1: i32): void {
  for (let r = r0; r < r1; r++) {
    const o = r * C;
    let ss: f32 = 0;
    for (let c = 0; c < C; c++) {
      const v = ld(x, o + c, xdt);
      ss += v * v;
    }
    const inv = <f32>1 / Mathf.sqrt(ss / <f32>C + eps);
    for (let c = 0; c < C; c++) st(y, o + c, ydt, ld(x, o + c, xdt) * inv * ld(w, c, wdt));
  }
}

/** y = (x − mean) / √(var + eps) · w + b over rows of C (two passes, so var is never negative). */
export function layernorm(
  x: usize, xdt: i32, w: usize, wdt: i32, b: usize, bdt: i32, y: usize, ydt: i32, C: i32, eps: f32, r0: i32, r1: i32,
): void {
  for (let r = r0; r < r1; r++) {
    const o = r * C;
    let s: f32 = 0;
    for (let c = 0; c < C; c++) s += ld(x, o + c, xdt);
    const mean = s / <f32>C;
    let v: f32 = 0;
    for (let c = 0; c < C; c++) {
      const d = ld(x, o + c, xdt) - mean;
      v += d * d;
    }
    const inv = <f32>1 / Mathf.sqrt(v / <f32>C + eps);
    for (let c = 0; c < C; c++) st(y, o + c, ydt, (ld(x, o + c, xdt) - mean) * inv * ld(w, c, wdt) + ld(b, c, bdt));
  }
}

/** Softmax over rows of C: max-subtracted, so large logits do not overflow. */
export function softmax(x: usize, xdt: i32, y: usize, ydt: i32, C: i32, r0: i32, r1: i32): void {
  for (let r = r0; r < r1; r++) {
    const o = r * C;
    let m: f32 = -Infinity;
    for (let c = 0; c < C; c++) m = max(m, ld(x, o + c, xdt));
    let s: f32 = 0;
    for (let c = 0; c < C; c++) s += Mathf.exp(ld(x, o + c, xdt) - m);
    const inv = <f32>1 / s;
    for (let c = 0; c < C; c++) st(y, o + c, ydt, Mathf.exp(ld(x, o + c, xdt) - m) * inv);
  }
}

// Rotate-half RoPE over rows (token, head) of D; cs holds [T, half] cos then [T, half] sin
// (f32, computed by the host in float64 so large positions keep their angle), H heads per token.
export function rope(x: usize, xdt: i32, y: usize, ydt: i32, cs: usize, T: i32, H: i32, D: i32, half: i32, r0: i32, r1: i32): void {
  const sinBase = cs + (<usize>(T * half) << 2);
  for (let r = r0; r < r1; r++) {
    const t = r / H;
    const o = r * D;
    const tc = cs + (<usize>(t * half) << 2);
    const ts = sinBase + (<usize>(t * half) << 2);
    for (let i = 0; i < half; i++) {
      const c = load<f32>(tc + (<usize>i << 2));
      const s = load<f32>(ts + (<usize>i << 2));
      const a = ld(x, o + i, xdt);
      const b = ld(x, o + i + half, xdt);
      st(y, o + i, ydt, a * c - b * s);
      st(y, o + i + half, ydt, b * c + a * s);
    }
    for (let i = 2 * half; i < D; i++) st(y, o + i, ydt, ld(x, o + i, xdt));
  }
}
