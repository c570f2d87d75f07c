// The CPU backend's kernels, in AssemblyScript compiled to WebAssembly with 128-bit SIMD.
//
// Every kernel works on raw addresses in the one shared memory that the backend's tensors live in,
// computes in f32, and takes its row range [r0, r1) last, so a thread pool can split any of them
// by rows. Nothing here allocates: the runtime is the stub and all storage belongs to the host.
//
// Storage dtype codes (see ../wasm-dtypes.ts): 0 f32, 1 f16, 2 bf16.

// ---- conversions ---------------------------------------------------------------------------

// f16 bits → f32: the exponent is rebased by a multiply (2^112), which also makes subnormals exact;
// infinities and NaNs (exponent 31) get the f32 exponent 255 back.
@inline function f16ToF32(h: u32): f32 {
  const e = h & 0x7c00;
  const mag = reinterpret<f32>((h & 0x7fff) << 13) * reinterpret<f32>(0x77800000);
  let bits = reinterpret<u32>(mag) | ((h & 0x8000) << 16);
  if (e == 0x7c00) bits |= 0x7f800000;
  return reinterpret<f32>(bits);
}

@inline function f32ToBf16(x: f32): u32 {
  const b = reinterpret<u32>(x);
  if ((b & 0x7fffffff) > 0x7f800000) return (b >> 16) | 0x40; // NaN stays NaN
  return (b + 0x7fff + ((b >> 16) & 1)) >> 16; // round to nearest even
}

@inline function f32ToF16(x: f32): u32 {
  const b = reinterpret<u32>(x);
  const sign = (b >> 16) & 0x8000;
  const a = b & 0x7fffffff;
  if (a > 0x7f800000) return sign | 0x7e00;
  if (a >= 0x477ff000) return sign | 0x7c00; // rounds to ≥ 65520: infinity
  if (a < 0x38800000) {
    // subnormal half: add 0.5 so the FPU's round-to-nearest-even does the rounding
    const f = reinterpret<f32>(a) + <f32>0.5;
    return sign | ((reinterpret<u32>(f) - 0x3f000000) & 0xffff);
  }
  const m = a + 0xc8000fff + ((a >> 13) & 1); // rebias exponent (−112 << 23) and round
  return sign | ((m >> 13) & 0xffff);
}

@inline function ld(p: usize, i: i32, dt: i32): f32 {
  if (dt == 0) return load<f32>(p + (<usize>i << 2));
  const h = <u32>load<u16>(p + (<usize>i << 1));
  return dt == 2 ? reinterpret<f32>(h << 16) : f16ToF32(h);
}

@inline function st(p: usize, i: i32, dt: i32, v: f32): void {
  if (dt == 0) store<f32>(p + (<usize>i << 2), v);
  else store<u16>(p + (<usize>i << 1), <u16>(dt == 2 ? f32ToBf16(v) : f32ToF16(v)));
}

// Four consecutive elements as f32x4.
@inline function ld4(p: usize, i: i32, dt: i32): v128 {
  if (dt == 0) return v128.load(p + (<usize>i << 2));
  const h = i32x4.extend_low_i16x8_u(v128.load64_zero(p + (<usize>i << 1)));
  if (dt == 2) return i32x4.shl(h, 16);
  const mag = f32x4.mul(i32x4.shl(v128.and(h, i32x4.splat(0x7fff)), 13), f32x4.splat(reinterpret<f32>(0x77800000)));
  const sign = i32x4.shl(v128.and(h, i32x4.splat(0x8000)), 16);
  const special = v128.and(i32x4.eq(v128.and(h, i32x4.splat(0x7c00)), i32x4.splat(0x7c00)), i32x4.splat(0x7f800000));
  return v128.or(v128.or(mag, sign), special);
}

@inline function hsum(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
}

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

// c[m, n] = Σ_k a[m, k] · b[n, k] for n in [n0, n1): a is f32 [M, K], b [N, K] in `bdt`, c f32 [M, N].
// The decode case (M = 1) runs four weight rows at once (`dot4`), reading each weight exactly once.
@inline function gemmNTFor(a: usize, b: usize, bdt: i32, c: usize, M: i32, N: i32, K: i32, n0: i32, n1: i32): void {
  const K4 = K & ~3;
  const esz: usize = bdt == 0 ? 4 : 2;
  const rowBytes = <usize>K * esz;
  if (M == 1) {
    let n = n0;
    for (; n + 4 <= n1; n += 4) dot4(a, b + <usize>n * rowBytes, rowBytes, bdt, K, c + (<usize>n << 2));
    for (; n < n1; n++) {
      const w = b + <usize>n * rowBytes;
      let s = f32x4.splat(0);
      for (let k = 0; k < K4; k += 4) s = f32x4.add(s, f32x4.mul(v128.load(a + (<usize>k << 2)), ld4(w, k, bdt)));
      let t = hsum(s);
      for (let k = K4; k < K; k++) t += load<f32>(a + (<usize>k << 2)) * ld(w, k, bdt);
      store<f32>(c + (<usize>n << 2), t);
    }
    return;
  }
  // M > 1: blocks of four weight rows × two rows of a, eight accumulators, so each converted
  // weight vector serves two rows and each row vector four weights
  const aRow = <usize>K << 2;
  const cRow = <usize>N << 2;
  let n = n0;
  for (; n + 4 <= n1; n += 4) {
    const w0 = b + <usize>n * rowBytes;
    const w1 = w0 + rowBytes;
    const w2 = w1 + rowBytes;
    const w3 = w2 + rowBytes;
    let m = 0;
    for (; m + 2 <= M; m += 2) {
      const a0 = a + <usize>m * aRow;
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
    if (m < M) dot4(a + <usize>m * aRow, w0, rowBytes, bdt, K, c + <usize>m * cRow + (<usize>n << 2));
  }
  for (; n < n1; n++) {
    const w = b + <usize>n * rowBytes;
    for (let m = 0; m < M; m++) {
      const a0 = a + <usize>m * aRow;
      let s = f32x4.splat(0);
      for (let k = 0; k < K4; k += 4) s = f32x4.add(s, f32x4.mul(v128.load(a0 + (<usize>k << 2)), ld4(w, k, bdt)));
      let t = hsum(s);
      for (let k = K4; k < K; k++) t += load<f32>(a0 + (<usize>k << 2)) * ld(w, k, bdt);
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

/** c[i] = silu(c[i]) · x[i] (the gated MLP's epilogue), f32, i in [r0, r1). */
export function siluMul(c: usize, x: usize, r0: i32, r1: i32): void {
  for (let i = r0; i < r1; i++) {
    const p = <usize>i << 2;
    const v = load<f32>(c + p);
    store<f32>(c + p, (v / (<f32>1 + Mathf.exp(-v))) * load<f32>(x + p));
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

// ---- attention over the paged KV cache -----------------------------------------------------

// One row per (query token, query head), r = token · Hq + head. q and o are f32 [T, Hq, D]; the
// pool is [pages, 2, …] in `kdt` with layout 0 NHD ([slot, head, d]) or 1 HND ([head, slot, d]).
// Keys visible to query position qpos = kvLen − qLen + qi: all when not causal, else ≤ qpos; with
// window ≥ 0 also ≥ qpos − window. softCap > 0 applies cap·tanh(s/cap). Online softmax accumulates
// into o's row; lse is base 2 and −∞ (with o = 0) where no key is visible.
@inline function attendFor(
  q: usize, pool: usize, kdt: i32, layout: i32, o: usize, lse: usize,
  qoIndptr: usize, kvIndptr: usize, kvIndices: usize, lastPageLen: usize, batch: i32,
  Hq: i32, Hk: i32, D: i32, P: i32, scale: f32, causal: i32, window: i32, softCap: f32, r0: i32, r1: i32,
): void {
  const group = Hq / Hk;
  const pageElems = P * Hk * D;
  const slotStride = layout == 0 ? Hk * D : D;
  const D4 = D & ~3;
  let b = 0;
  for (let r = r0; r < r1; r++) {
    const t = r / Hq;
    const head = r - t * Hq;
    const h = head / group;
    while (b + 1 < batch && load<i32>(qoIndptr + (<usize>(b + 1) << 2)) <= t) b++;
    while (b > 0 && load<i32>(qoIndptr + (<usize>b << 2)) > t) b--;
    const qStart = load<i32>(qoIndptr + (<usize>b << 2));
    const qLen = load<i32>(qoIndptr + (<usize>(b + 1) << 2)) - qStart;
    const pg0 = load<i32>(kvIndptr + (<usize>b << 2));
    const pages = load<i32>(kvIndptr + (<usize>(b + 1) << 2)) - pg0;
    const kvLen = pages == 0 ? 0 : (pages - 1) * P + load<i32>(lastPageLen + (<usize>b << 2));
    const qpos = kvLen - qLen + (t - qStart);
    let hi = causal ? min(qpos, kvLen - 1) : kvLen - 1;
    let lo = window >= 0 ? max(0, qpos - window) : 0;
    const qr = q + (<usize>(r * D) << 2);
    const or = o + (<usize>(r * D) << 2);
    memory.fill(or, 0, <usize>D << 2);
    let m: f32 = -Infinity;
    let l: f32 = 0;
    for (let j = lo; j <= hi; j++) {
      const page = load<i32>(kvIndices + (<usize>(pg0 + j / P) << 2));
      const slot = j % P;
      const headOff = layout == 0 ? h * D : h * P * D;
      const kOff = page * 2 * pageElems + headOff + slot * slotStride;
      const vOff = kOff + pageElems;
      let acc = f32x4.splat(0);
      for (let e = 0; e < D4; e += 4) acc = f32x4.add(acc, f32x4.mul(v128.load(qr + (<usize>e << 2)), ld4(pool, kOff + e, kdt)));
      let s = hsum(acc);
      for (let e = D4; e < D; e++) s += load<f32>(qr + (<usize>e << 2)) * ld(pool, kOff + e, kdt);
      s *= scale;
      if (softCap > 0) s = softCap * tanhf(s / softCap);
      let p: f32;
      if (s > m) {
        const corr = Mathf.exp(m - s);
        l *= corr;
        const cv = f32x4.splat(corr);
        for (let e = 0; e < D4; e += 4) v128.store(or + (<usize>e << 2), f32x4.mul(v128.load(or + (<usize>e << 2)), cv));
        for (let e = D4; e < D; e++) store<f32>(or + (<usize>e << 2), load<f32>(or + (<usize>e << 2)) * corr);
        m = s;
        p = 1;
      } else p = Mathf.exp(s - m);
      l += p;
      const pv = f32x4.splat(p);
      for (let e = 0; e < D4; e += 4) {
        const po = or + (<usize>e << 2);
        v128.store(po, f32x4.add(v128.load(po), f32x4.mul(pv, ld4(pool, vOff + e, kdt))));
      }
      for (let e = D4; e < D; e++) store<f32>(or + (<usize>e << 2), load<f32>(or + (<usize>e << 2)) + p * ld(pool, vOff + e, kdt));
    }
    if (l > 0) {
      const inv = f32x4.splat(<f32>1 / l);
      for (let e = 0; e < D4; e += 4) v128.store(or + (<usize>e << 2), f32x4.mul(v128.load(or + (<usize>e << 2)), inv));
      for (let e = D4; e < D; e++) store<f32>(or + (<usize>e << 2), load<f32>(or + (<usize>e << 2)) / l);
      store<f32>(lse + (<usize>r << 2), (m + Mathf.log(l)) * <f32>1.4426950408889634);
    } else store<f32>(lse + (<usize>r << 2), -Infinity);
  }
}

@inline function tanhf(x: f32): f32 {
  // tanh via exp of a non-positive argument, so it never overflows
  const e = Mathf.exp(<f32>-2 * Mathf.abs(x));
  const t = (<f32>1 - e) / (<f32>1 + e);
  return x < 0 ? -t : t;
}

export function pagedAttention(
  q: usize, pool: usize, kdt: i32, layout: i32, o: usize, lse: usize,
  qoIndptr: usize, kvIndptr: usize, kvIndices: usize, lastPageLen: usize, batch: i32,
  Hq: i32, Hk: i32, D: i32, P: i32, scale: f32, causal: i32, window: i32, softCap: f32, r0: i32, r1: i32,
): void {
  if (kdt == 0) attendFor(q, pool, 0, layout, o, lse, qoIndptr, kvIndptr, kvIndices, lastPageLen, batch, Hq, Hk, D, P, scale, causal, window, softCap, r0, r1);
  else if (kdt == 2) attendFor(q, pool, 2, layout, o, lse, qoIndptr, kvIndptr, kvIndices, lastPageLen, batch, Hq, Hk, D, P, scale, causal, window, softCap, r0, r1);
  else attendFor(q, pool, 1, layout, o, lse, qoIndptr, kvIndptr, kvIndices, lastPageLen, batch, Hq, Hk, D, P, scale, causal, window, softCap, r0, r1);
}
