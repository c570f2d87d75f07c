// Key and value reads of paged attention over a quantized KV pool (src/attention/kv-quant.ts has
// the layout), and the quantizing row store of appends: pages of u32 words, 8- or 4-bit codes per
// (token, head) row and one (scale, zero) f16 pair per row, so a row element is scale · code + zero.
// The row loop, the variants and the online softmax are paged-attention.ts's, shared with the float
// pools; only these reads differ: 16 codes (one 16-byte load for 8 bits, half of one for 4) become
// four f32x4 quads in registers and meet q (scores) or the output row (values) there, so no row is
// dequantized to memory.

import { f16ToF32, f32ToF16, hsum, ld } from './storage';

@inline function quad(codes: v128, i: i32): v128 {
  const h = i < 2 ? i16x8.extend_low_i8x16_u(codes) : i16x8.extend_high_i8x16_u(codes);
  return f32x4.convert_i32x4_u((i & 1) == 0 ? i32x4.extend_low_i16x8_u(h) : i32x4.extend_high_i16x8_u(h));
}

// The 32 codes of a 4-bit word quad (low nibble first) as two vectors of 16 byte-wide codes.
@inline function nibblesLo(v: v128): v128 {
  const lo = v128.and(v, i8x16.splat(0x0f));
  const hi = i8x16.shr_u(v, 4);
  return v128.shuffle<u8>(lo, hi, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
}
@inline function nibblesHi(v: v128): v128 {
  const lo = v128.and(v, i8x16.splat(0x0f));
  const hi = i8x16.shr_u(v, 4);
  return v128.shuffle<u8>(lo, hi, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
}

// acc += q[0..16) · (scale · codes + zero)
@inline function dot16(acc: v128, q: usize, codes: v128, sv: v128, zv: v128): v128 {
  for (let i = 0; i < 4; i++) {
    const k = f32x4.add(f32x4.mul(quad(codes, i), sv), zv);
    acc = f32x4.add(acc, f32x4.mul(v128.load(q + (<usize>i << 4)), k));
  }
  return acc;
}

// q · k for the quantized key row at `row` (D elements, `bits` per code).
@inline export function dotQ(q: usize, row: usize, bits: i32, D: i32, s: f32, z: f32): f32 {
  const sv = f32x4.splat(s);
  const zv = f32x4.splat(z);
  let acc = f32x4.splat(0);
  if (bits == 8) {
    for (let e = 0; e < D; e += 16) acc = dot16(acc, q + (<usize>e << 2), v128.load(row + <usize>e), sv, zv);
  } else {
    for (let e = 0; e < D; e += 32) {
      const v = v128.load(row + <usize>(e >> 1));
      acc = dot16(acc, q + (<usize>e << 2), nibblesLo(v), sv, zv);
      acc = dot16(acc, q + (<usize>(e + 16) << 2), nibblesHi(v), sv, zv);
    }
  }
  return hsum(acc);
}

// o[0..16) += p · (scale · codes + zero), as codes · (p · scale) + p · zero
@inline function add16(o: usize, codes: v128, ps: v128, pz: v128): void {
  for (let i = 0; i < 4; i++) {
    const po = o + (<usize>i << 4);
    v128.store(po, f32x4.add(v128.load(po), f32x4.add(f32x4.mul(quad(codes, i), ps), pz)));
  }
}

@inline function addScaledQ(o: usize, p: f32, row: usize, bits: i32, D: i32, s: f32, z: f32): void {
  if (p == 0) return;
  const ps = f32x4.splat(p * s);
  const pz = f32x4.splat(p * z);
  if (bits == 8) {
    for (let e = 0; e < D; e += 16) add16(o + (<usize>e << 2), v128.load(row + <usize>e), ps, pz);
  } else {
    for (let e = 0; e < D; e += 32) {
      const v = v128.load(row + <usize>(e >> 1));
      add16(o + (<usize>e << 2), nibblesLo(v), ps, pz);
      add16(o + (<usize>(e + 16) << 2), nibblesHi(v), ps, pz);
    }
  }
}

// Codes i … i + 3 (i a multiple of 4) of a row, dequantized: the fused-RoPE path, which needs
// elements i and i + D/2 together.
@inline function quadAt(row: usize, i: i32, bits: i32, sv: v128, zv: v128): v128 {
  let c: v128;
  if (bits == 8) c = i32x4.extend_low_i16x8_u(i16x8.extend_low_i8x16_u(v128.load32_zero(row + <usize>i)));
  else {
    const x = <i32>load<u16>(row + <usize>(i >> 1));
    c = i32x4(x & 15, (x >> 4) & 15, (x >> 8) & 15, (x >> 12) & 15);
  }
  return f32x4.add(f32x4.mul(f32x4.convert_i32x4_u(c), sv), zv);
}

@inline export function ropeDotQ(q: usize, row: usize, bits: i32, half: i32, s: f32, z: f32, cosRow: usize, sinRow: usize): f32 {
  const sv = f32x4.splat(s);
  const zv = f32x4.splat(z);
  let acc = f32x4.splat(0);
  for (let i = 0; i < half; i += 4) {
    const qa = v128.load(q + (<usize>i << 2));
    const qb = v128.load(q + (<usize>(i + half) << 2));
    const ka = quadAt(row, i, bits, sv, zv);
    const kb = quadAt(row, i + half, bits, sv, zv);
    const c = v128.load(cosRow + (<usize>i << 2));
    const sn = v128.load(sinRow + (<usize>i << 2));
    acc = f32x4.add(acc, f32x4.mul(qa, f32x4.sub(f32x4.mul(ka, c), f32x4.mul(kb, sn))));
    acc = f32x4.add(acc, f32x4.mul(qb, f32x4.add(f32x4.mul(kb, c), f32x4.mul(ka, sn))));
  }
  return hsum(acc);
}

@inline export function paramScale(w: u32): f32 {
  return f16ToF32(w & 0xffff);
}
@inline export function paramZero(w: u32): f32 {
  return f16ToF32(w >> 16);
}

// o += p · the value row `vRow` of the page at word `pageAt`.
@inline export function addValue(
  o: usize, p: f32, pool: usize, pageAt: i32, vRow: i32, rowWords: i32, paramOffset: i32, bits: i32, D: i32,
): void {
  if (p == 0) return;
  const param = load<u32>(pool + (<usize>(pageAt + paramOffset + vRow) << 2));
  addScaledQ(o, p, pool + (<usize>(pageAt + vRow * rowWords) << 2), bits, D, paramScale(param), paramZero(param));
}

// ---- quantizing rows into a pool -------------------------------------------------------------

// Source row r (D elements in storage dtype sdt at src + r · D) into the pool words: its codes at
// word targets[2r], its parameter word at targets[2r + 1] (−1: the row is not stored). The
// format's rounding, in f32: zero = min rounded down to f16, scale = (max − zero) / levels rounded
// up to f16, code = round-half-even((x − zero) / scale) clamped to [0, levels].
export function kvQuantRows(src: usize, sdt: i32, pool: usize, targets: usize, bits: i32, D: i32, r0: i32, r1: i32): void {
  const levels: f32 = bits == 8 ? 255 : 15;
  const per = 32 / bits;
  for (let r = r0; r < r1; r++) {
    const at = load<i32>(targets + (<usize>(2 * r) << 2));
    if (at < 0) continue;
    const e0 = r * D;
    let lo = ld(src, e0, sdt);
    let hi = lo;
    for (let e = 1; e < D; e++) {
      const x = ld(src, e0 + e, sdt);
      lo = min(lo, x);
      hi = max(hi, x);
    }
    const zb = f16Down(lo);
    const zero = f16ToF32(zb);
    const sb = f16Up((hi - zero) / levels);
    const scale = f16ToF32(sb);
    for (let w = 0; w < D / per; w++) {
      let word: u32 = 0;
      for (let i = 0; i < per; i++) {
        let c: f32 = 0;
        if (scale > 0) c = min(levels, max(<f32>0, nearest<f32>((ld(src, e0 + w * per + i, sdt) - zero) / scale)));
        word |= (<u32>c) << (<u32>(i * bits));
      }
      store<u32>(pool + (<usize>(at + w) << 2), word);
    }
    store<u32>(pool + (<usize>load<i32>(targets + (<usize>(2 * r + 1) << 2)) << 2), (zb << 16) | sb);
  }
}

// f16 bits of x rounded towards +∞ (up) or −∞ (down).
@inline function f16Up(x: f32): u32 {
  let b = f32ToF16(x);
  if (f16ToF32(b) < x) b = x < 0 ? b - 1 : b + 1;
  return b;
}
@inline function f16Down(x: f32): u32 {
  let b = f32ToF16(x);
  if (f16ToF32(b) > x) b = x <= 0 ? b + 1 : b - 1;
  return b;
}
