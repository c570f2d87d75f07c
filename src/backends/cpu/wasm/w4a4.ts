// Atom W4A4 (src/quant/w4a4-format.ts has the layout): the per-token activation quantizer and the
// integer product of quantized activations with 4-bit weights that keep their last group of 128
// channels in INT8.
//
// Weights: a 4-bit word of 8 values holds value j in byte j's low nibble and value j + 4 in its
// high nibble, so a 16-byte load of 32 values splits, by a mask and a shift, into 16 "low" lanes
// (values 0–3, 8–11, 16–19, 24–27) and 16 "high" lanes (4–7, 12–15, …), each sign-extended from
// 4 bits. The activations' codes are laid out once per row in that same order (atomLaneOrder), so
// the product is two lane-wise i8 multiplies per 16 bytes, pairwise-summed into i32 lanes; a
// group's integer dot is exact in i32 and scaled once in f32.

import { f16ToF32 } from './storage';

const GROUP = 128;
const OUTLIERS = 128;

// ---- quantizer -------------------------------------------------------------------------------

// Prologue codes: 0 none, 1 rmsnorm (b = weight [K]), 2 silu_mul (x = gate, b = up [M, K]).
// perm ≠ 0: output channel j is input channel perm[j] (i32 [K]). Per row and group of 128:
// scale = absmax / qmax (f32), code = round-half-even(v / scale) clamped to ±qmax; qmax 7, or 127
// in the last group. v, the prologue's value, is computed twice (absmax, then codes) rather than
// kept, so the kernel needs no scratch.
@inline function prologueAt(x: usize, b: usize, perm: usize, kind: i32, inv: f32, row: i32, K: i32, j: i32): f32 {
  const c = perm ? load<i32>(perm + (<usize>j << 2)) : j;
  const a = load<f32>(x + (<usize>(row * K + c) << 2));
  if (kind == 1) return a * inv * load<f32>(b + (<usize>c << 2));
  if (kind == 2) return (a / (<f32>1 + Mathf.exp(-a))) * load<f32>(b + (<usize>(row * K + c) << 2));
  return a;
}

export function atomQuantize(
  x: usize, b: usize, perm: usize, kind: i32, eps: f32, q: usize, s: usize, K: i32, r0: i32, r1: i32,
): void {
  const G = K / GROUP;
  for (let r = r0; r < r1; r++) {
    let inv: f32 = 1;
    if (kind == 1) {
      let acc = f32x4.splat(0);
      const xr = x + (<usize>(r * K) << 2);
      for (let c = 0; c < K; c += 4) {
        const v = v128.load(xr + (<usize>c << 2));
        acc = f32x4.add(acc, f32x4.mul(v, v));
      }
      const ss = f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3);
      inv = <f32>1 / Mathf.sqrt(ss / <f32>K + eps);
    }
    for (let g = 0; g < G; g++) {
      const qmax: f32 = g == G - 1 ? 127 : 7;
      const j0 = g * GROUP;
      let amax: f32 = 0;
      for (let j = j0; j < j0 + GROUP; j++) amax = max(amax, Mathf.abs(prologueAt(x, b, perm, kind, inv, r, K, j)));
      const scale = amax / qmax;
      store<f32>(s + (<usize>(r * G + g) << 2), scale);
      for (let j = j0; j < j0 + GROUP; j++) {
        let code: f32 = 0;
        if (scale > 0) code = min(qmax, max(-qmax, nearest<f32>(prologueAt(x, b, perm, kind, inv, r, K, j) / scale)));
        store<i8>(q + <usize>(r * K + j), <i8>(<i32>code));
      }
    }
  }
}

// ---- product ---------------------------------------------------------------------------------

// Row r of the i8 codes [M, K] into xp: each 32 codes of the 4-bit part as the weights' 16 low
// lanes then 16 high lanes; the INT8 group copied as it is.
export function atomLaneOrder(xq: usize, xp: usize, K: i32, r0: i32, r1: i32): void {
  const K4 = K - OUTLIERS;
  for (let r = r0; r < r1; r++) {
    const src = xq + <usize>(r * K);
    const dst = xp + <usize>(r * K);
    for (let c = 0; c < K4; c += 32) {
      const a = v128.load(src + <usize>c);
      const b = v128.load(src + <usize>c, 16);
      v128.store(dst + <usize>c, v128.shuffle<u8>(a, b, 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27));
      v128.store(dst + <usize>c, v128.shuffle<u8>(a, b, 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31), 16);
    }
    memory.copy(dst + <usize>K4, src + <usize>K4, OUTLIERS);
  }
}

// i32 lanes += Σ a·b over 16 i8 lanes (products fit i16: |a·b| ≤ 127²).
@inline function dotI8(acc: v128, a: v128, b: v128): v128 {
  acc = i32x4.add(acc, i32x4.extadd_pairwise_i16x8_s(i16x8.extmul_low_i8x16_s(a, b)));
  return i32x4.add(acc, i32x4.extadd_pairwise_i16x8_s(i16x8.extmul_high_i8x16_s(a, b)));
}

@inline function isum(v: v128): i32 {
  return i32x4.extract_lane(v, 0) + i32x4.extract_lane(v, 1) + i32x4.extract_lane(v, 2) + i32x4.extract_lane(v, 3);
}

// Σ over one 4-bit group (64 weight bytes at w, 128 lane-ordered codes at x) of q_x · q_w.
@inline function group4(x: usize, w: usize): i32 {
  const m = i8x16.splat(0x0f);
  const eight = i8x16.splat(8);
  let acc = i32x4.splat(0);
  for (let i = 0; i < 4; i++) {
    const v = v128.load(w + <usize>(i << 4));
    // (n ^ 8) − 8 sign-extends a 4-bit n held in an 8-bit lane
    const lo = i8x16.sub(v128.xor(v128.and(v, m), eight), eight);
    const hi = i8x16.sub(v128.xor(i8x16.shr_u(v, 4), eight), eight);
    acc = dotI8(acc, v128.load(x + <usize>(i << 5)), lo);
    acc = dotI8(acc, v128.load(x + <usize>(i << 5), 16), hi);
  }
  return isum(acc);
}

// Σ over the INT8 group (128 codes each) of q_x · q_w.
@inline function group8(x: usize, w: usize): i32 {
  let acc = i32x4.splat(0);
  for (let i = 0; i < 8; i++) acc = dotI8(acc, v128.load(x + <usize>(i << 4)), v128.load(w + <usize>(i << 4)));
  return isum(acc);
}

// The four lanes' sums of a, b, c, d, as the lanes of one vector.
@inline function isum4(a: v128, b: v128, c: v128, d: v128): v128 {
  const ab = i32x4.add(v128.shuffle<i32>(a, b, 0, 4, 1, 5), v128.shuffle<i32>(a, b, 2, 6, 3, 7));
  const cd = i32x4.add(v128.shuffle<i32>(c, d, 0, 4, 1, 5), v128.shuffle<i32>(c, d, 2, 6, 3, 7));
  return i32x4.add(v128.shuffle<i32>(ab, cd, 0, 1, 4, 5), v128.shuffle<i32>(ab, cd, 2, 3, 6, 7));
}

// group4 for four activation rows (K bytes apart) at once: each weight word is widened once.
@inline function group4Rows(x: usize, K: i32, w: usize): v128 {
  const m = i8x16.splat(0x0f);
  const eight = i8x16.splat(8);
  const k = <usize>K;
  let a0 = i32x4.splat(0);
  let a1 = i32x4.splat(0);
  let a2 = i32x4.splat(0);
  let a3 = i32x4.splat(0);
  for (let i = 0; i < 4; i++) {
    const v = v128.load(w + <usize>(i << 4));
    const lo = i8x16.sub(v128.xor(v128.and(v, m), eight), eight);
    const hi = i8x16.sub(v128.xor(i8x16.shr_u(v, 4), eight), eight);
    const xi = x + <usize>(i << 5);
    a0 = dotI8(dotI8(a0, v128.load(xi), lo), v128.load(xi, 16), hi);
    a1 = dotI8(dotI8(a1, v128.load(xi + k), lo), v128.load(xi + k, 16), hi);
    a2 = dotI8(dotI8(a2, v128.load(xi + 2 * k), lo), v128.load(xi + 2 * k, 16), hi);
    a3 = dotI8(dotI8(a3, v128.load(xi + 3 * k), lo), v128.load(xi + 3 * k, 16), hi);
  }
  return isum4(a0, a1, a2, a3);
}

// group8 for four activation rows (K bytes apart) at once.
@inline function group8Rows(x: usize, K: i32, w: usize): v128 {
  const k = <usize>K;
  let a0 = i32x4.splat(0);
  let a1 = i32x4.splat(0);
  let a2 = i32x4.splat(0);
  let a3 = i32x4.splat(0);
  for (let i = 0; i < 8; i++) {
    const v = v128.load(w + <usize>(i << 4));
    const xi = x + <usize>(i << 4);
    a0 = dotI8(a0, v128.load(xi), v);
    a1 = dotI8(a1, v128.load(xi + k), v);
    a2 = dotI8(a2, v128.load(xi + 2 * k), v);
    a3 = dotI8(a3, v128.load(xi + 3 * k), v);
  }
  return isum4(a0, a1, a2, a3);
}

// scale_x of rows i … i + 3 at group g (xs is f32 [M, G]).
@inline function xScales4(sx: usize, G: i32, g: i32): v128 {
  const p = sx + (<usize>g << 2);
  const stride = <usize>G << 2;
  return f32x4(load<f32>(p), load<f32>(p + stride), load<f32>(p + 2 * stride), load<f32>(p + 3 * stride));
}

// Activation rows per pass over the weight rows: a block of them (8 · K bytes) stays in cache
// while the weight rows stream past, so the weights are read ⌈M / 8⌉ times, once for decode.
const ROW_BLOCK = 8;

// y [M, N] f32 for weight rows [n0, n1): y[i, j] = Σ_g (xs[i, g] · sw[j, g]) · Σ_{c ∈ g} q_x · q_w,
// with xp the lane-ordered codes (atomLaneOrder), sw the f16 scales. Four activation rows at a
// time share each widened weight word; a remainder of rows goes one at a time.
export function atomMatmul(
  xp: usize, xs: usize, w: usize, codes8: usize, scales: usize, y: usize, M: i32, N: i32, K: i32, n0: i32, n1: i32,
): void {
  const G = K / GROUP;
  const K4 = K - OUTLIERS;
  for (let i0 = 0; i0 < M; i0 += ROW_BLOCK) {
    const i1 = min(M, i0 + ROW_BLOCK);
    for (let j = n0; j < n1; j++) {
      const w4 = w + <usize>(j * (K4 >> 1));
      const w8 = w + codes8 + <usize>(j * OUTLIERS);
      const sw = w + scales + (<usize>(j * G) << 1);
      let i = i0;
      for (; i + 4 <= i1; i += 4) {
        const xr = xp + <usize>(i * K);
        const sx = xs + (<usize>(i * G) << 2);
        let acc = f32x4.splat(0);
        for (let g = 0; g < G - 1; g++) {
          const dot = group4Rows(xr + <usize>(g * GROUP), K, w4 + <usize>(g * (GROUP >> 1)));
          const s = f32x4.mul(xScales4(sx, G, g), f32x4.splat(f16ToF32(load<u16>(sw + (<usize>g << 1)))));
          acc = f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(dot), s));
        }
        const dot8 = group8Rows(xr + <usize>K4, K, w8);
        const s8 = f32x4.mul(xScales4(sx, G, G - 1), f32x4.splat(f16ToF32(load<u16>(sw + (<usize>(G - 1) << 1)))));
        acc = f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(dot8), s8));
        const yo = y + (<usize>(i * N + j) << 2);
        const stride = <usize>N << 2;
        store<f32>(yo, f32x4.extract_lane(acc, 0));
        store<f32>(yo + stride, f32x4.extract_lane(acc, 1));
        store<f32>(yo + 2 * stride, f32x4.extract_lane(acc, 2));
        store<f32>(yo + 3 * stride, f32x4.extract_lane(acc, 3));
      }
      for (; i < i1; i++) {
        const xr = xp + <usize>(i * K);
        const sx = xs + (<usize>(i * G) << 2);
        let acc: f32 = 0;
        for (let g = 0; g < G - 1; g++) {
          const dot = group4(xr + <usize>(g * GROUP), w4 + <usize>(g * (GROUP >> 1)));
          acc += <f32>dot * (load<f32>(sx + (<usize>g << 2)) * f16ToF32(load<u16>(sw + (<usize>g << 1))));
        }
        const dot8 = group8(xr + <usize>K4, w8);
        acc += <f32>dot8 * (load<f32>(sx + (<usize>(G - 1) << 2)) * f16ToF32(load<u16>(sw + (<usize>(G - 1) << 1))));
        store<f32>(y + (<usize>(i * N + j) << 2), acc);
      }
    }
  }
}
