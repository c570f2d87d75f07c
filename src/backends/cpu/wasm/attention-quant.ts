// Paged attention over a quantized KV pool (src/attention/kv-quant.ts has the layout): pages of
// u32 words, 8- or 4-bit codes per (token, head) row and one (scale, zero) f16 pair per row, so a
// row element is scale · code + zero. The row loop, the variants and the online softmax are those
// of attention.ts (same helpers, same order of operations); only the key and value reads differ:
// 16 codes (one 16-byte load for 8 bits, half of one for 4) become four f32x4 quads in registers
// and meet q (scores) or the output row (values) there, so no row is dequantized to memory.

import { beginRow, endRow, foldScores, tanhf } from './attention';
import { f16ToF32, f32ToF16, hsum, ld } from './storage';

const NEG_INF: f32 = -Infinity;

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
@inline function dotQ(q: usize, row: usize, bits: i32, D: i32, s: f32, z: f32): f32 {
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

@inline function ropeDotQ(q: usize, row: usize, bits: i32, half: i32, s: f32, z: f32, cosRow: usize, sinRow: usize): f32 {
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

@inline function paramScale(w: u32): f32 {
  return f16ToF32(w & 0xffff);
}
@inline function paramZero(w: u32): f32 {
  return f16ToF32(w >> 16);
}

// The arguments of attention.ts's pagedAttention, `bits` (8 or 4) for its storage dtype, and the
// page geometry in u32 words: pageWords per page, the parameter words from paramOffset.
// One body on purpose, as attendFor: a hot kernel, where moving the q rotation into an @inline helper changes the compiled wasm.
@inline function attendQuant(
  q: usize, pool: usize, bits: i32, layout: i32, o: usize, lse: usize,
  qoIndptr: usize, kvIndptr: usize, kvIndices: usize, lastPageLen: usize, batch: i32,
  Hq: i32, Hk: i32, D: i32, P: i32, scale: f32, causal: i32, window: i32, softCap: f32,
  slopes: usize, mask: usize, maskIndptr: usize, ropeCs: usize, ropeRows: i32, qrot: usize,
  pageWords: i32, paramOffset: i32, r0: i32, r1: i32,
): void {
  const group = Hq / Hk;
  const rowWords = (D * bits) >> 5;
  const half = D >> 1;
  const sinBase = ropeCs + (<usize>(ropeRows * half) << 2);
  const vRows = P * Hk;
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
    const qi = t - qStart;
    const qpos = kvLen - qLen + qi;
    const hi = causal ? min(qpos, kvLen - 1) : kvLen - 1;
    const lo = window >= 0 ? max(0, qpos - window) : 0;
    const slope: f32 = slopes ? load<f32>(slopes + (<usize>head << 2)) : 0;
    const maskRow = mask ? mask + (<usize>(load<i32>(maskIndptr + (<usize>b << 2)) + qi * kvLen) << 2) : 0;
    let qr = q + (<usize>(r * D) << 2);
    if (ropeCs) {
      const dst = qrot + (<usize>(r * D) << 2);
      const c = ropeCs + (<usize>(qpos * half) << 2);
      const s = sinBase + (<usize>(qpos * half) << 2);
      for (let i = 0; i < half; i += 4) {
        const a = v128.load(qr + (<usize>i << 2));
        const bb = v128.load(qr + (<usize>(i + half) << 2));
        const cv = v128.load(c + (<usize>i << 2));
        const sv = v128.load(s + (<usize>i << 2));
        v128.store(dst + (<usize>i << 2), f32x4.sub(f32x4.mul(a, cv), f32x4.mul(bb, sv)));
        v128.store(dst + (<usize>(i + half) << 2), f32x4.add(f32x4.mul(bb, cv), f32x4.mul(a, sv)));
      }
      qr = dst;
    }
    const or = o + (<usize>(r * D) << 2);
    beginRow(or, D);
    for (let j0 = lo; j0 <= hi; j0 += 4) {
      const n = min(4, hi - j0 + 1);
      let s0: f32 = NEG_INF, s1: f32 = NEG_INF, s2: f32 = NEG_INF, s3: f32 = NEG_INF;
      // each key's page word offset and K row index in the page, for the value reads below
      let p0 = 0, p1 = 0, p2 = 0, p3 = 0;
      let k0 = 0, k1 = 0, k2 = 0, k3 = 0;
      for (let u = 0; u < n; u++) {
        const j = j0 + u;
        const pageAt = load<i32>(kvIndices + (<usize>(pg0 + j / P) << 2)) * pageWords;
        const slot = j % P;
        const kRow = layout == 0 ? slot * Hk + h : h * P + slot;
        let s: f32 = NEG_INF;
        if (!maskRow || load<i32>(maskRow + (<usize>j << 2)) != 0) {
          const param = load<u32>(pool + (<usize>(pageAt + paramOffset + kRow) << 2));
          const rowAt = pool + (<usize>(pageAt + kRow * rowWords) << 2);
          s = ropeCs
            ? ropeDotQ(qr, rowAt, bits, half, paramScale(param), paramZero(param), ropeCs + (<usize>(j * half) << 2), sinBase + (<usize>(j * half) << 2))
            : dotQ(qr, rowAt, bits, D, paramScale(param), paramZero(param));
          s *= scale;
          if (softCap > 0) s = softCap * tanhf(s / softCap);
          if (slopes) s += slope * <f32>(j - qpos);
        }
        if (u == 0) { s0 = s; p0 = pageAt; k0 = kRow; }
        else if (u == 1) { s1 = s; p1 = pageAt; k1 = kRow; }
        else if (u == 2) { s2 = s; p2 = pageAt; k2 = kRow; }
        else { s3 = s; p3 = pageAt; k3 = kRow; }
      }
      const p = foldScores(f32x4(s0, s1, s2, s3), or, D);
      addValue(or, f32x4.extract_lane(p, 0), pool, p0, k0 + vRows, rowWords, paramOffset, bits, D);
      if (n > 1) addValue(or, f32x4.extract_lane(p, 1), pool, p1, k1 + vRows, rowWords, paramOffset, bits, D);
      if (n > 2) addValue(or, f32x4.extract_lane(p, 2), pool, p2, k2 + vRows, rowWords, paramOffset, bits, D);
      if (n > 3) addValue(or, f32x4.extract_lane(p, 3), pool, p3, k3 + vRows, rowWords, paramOffset, bits, D);
    }
    endRow(or, D, lse + (<usize>r << 2));
  }
}

// o += p · the value row `vRow` of the page at word `pageAt`.
@inline function addValue(
  o: usize, p: f32, pool: usize, pageAt: i32, vRow: i32, rowWords: i32, paramOffset: i32, bits: i32, D: i32,
): void {
  if (p == 0) return;
  const param = load<u32>(pool + (<usize>(pageAt + paramOffset + vRow) << 2));
  addScaledQ(o, p, pool + (<usize>(pageAt + vRow * rowWords) << 2), bits, D, paramScale(param), paramZero(param));
}

export function pagedAttentionQuant(
  q: usize, pool: usize, bits: i32, layout: i32, o: usize, lse: usize,
  qoIndptr: usize, kvIndptr: usize, kvIndices: usize, lastPageLen: usize, batch: i32,
  Hq: i32, Hk: i32, D: i32, P: i32, scale: f32, causal: i32, window: i32, softCap: f32,
  slopes: usize, mask: usize, maskIndptr: usize, ropeCs: usize, ropeRows: i32, qrot: usize,
  pageWords: i32, paramOffset: i32, r0: i32, r1: i32,
): void {
  if (bits == 8) attendQuant(q, pool, 8, layout, o, lse, qoIndptr, kvIndptr, kvIndices, lastPageLen, batch, Hq, Hk, D, P, scale, causal, window, softCap, slopes, mask, maskIndptr, ropeCs, ropeRows, qrot, pageWords, paramOffset, r0, r1);
  else attendQuant(q, pool, 4, layout, o, lse, qoIndptr, kvIndptr, kvIndices, lastPageLen, batch, Hq, Hk, D, P, scale, causal, window, softCap, slopes, mask, maskIndptr, ropeCs, ropeRows, qrot, pageWords, paramOffset, r0, r1);
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
