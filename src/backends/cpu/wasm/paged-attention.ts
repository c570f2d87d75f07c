// Paged attention over the KV cache, with its variants: one row loop for the float pools (keys and
// values in a storage dtype, attention.ts's reads) and the quantized ones (8- or 4-bit codes,
// attention-quant.ts's reads). The pool kind is the type argument Word (f32: float elements, u32:
// quantized words), so its branches fold away at compile time. Each pool kind keeps its own key
// addressing: with one shared key offset the optimizer merges the f16 and bf16 copies of the float
// kernel into one that tests the dtype at every load.

import { addScaled, beginRow, dot, endRow, foldScores, ropeDot, tanhf } from './attention';
import { addValue, dotQ, paramScale, paramZero, ropeDotQ } from './attention-quant';

const NEG_INF: f32 = -Infinity;

// The variants' logit from the raw score q·k: scaled, soft-capped, then ALiBi's bias for key
// offset dpos = kpos − qpos.
@inline function logit(s: f32, scale: f32, softCap: f32, slopes: usize, slope: f32, dpos: i32): f32 {
  s *= scale;
  if (softCap > 0) s = softCap * tanhf(s / softCap);
  if (slopes) s += slope * <f32>dpos;
  return s;
}

// One row per (query token, query head), r = token · Hq + head. q and o are f32 [T, Hq, D]; the
// pool is [pages, 2, …] with layout 0 NHD ([slot, head, d]) or 1 HND ([head, slot, d]): for f32
// Word its elements are in storage dtype `kdt`; for u32 Word it is words of `bits`-bit codes,
// pageWords a page, the parameter words from paramOffset.
// Keys visible to query position qpos = kvLen − qLen + qi: all when not causal, else ≤ qpos; with
// window ≥ 0 also ≥ qpos − window; with a mask (i32, request b's [qLen, kvLen] block at
// maskIndptr[b]) only where it is non-zero. Logits: s·scale, then softCap > 0 applies
// cap·tanh(s/cap), then slopes ≠ 0 (f32 [Hq]) adds ALiBi's slope·(kpos − qpos). ropeCs ≠ 0 holds
// the cos [ropeRows, D/2] then sin [ropeRows, D/2] tables of positions 0 … ropeRows − 1: q and every
// key are rotated at their positions (q once per row, into qrot's row).
// One body on purpose: a hot kernel, where moving the q rotation into an @inline helper changes the compiled wasm.
@inline function attendRows<Word>(
  q: usize, pool: usize, kdt: i32, bits: i32, layout: i32, o: usize, lse: usize,
  qoIndptr: usize, kvIndptr: usize, kvIndices: usize, lastPageLen: usize, batch: i32,
  Hq: i32, Hk: i32, D: i32, P: i32, scale: f32, causal: i32, window: i32, softCap: f32,
  slopes: usize, mask: usize, maskIndptr: usize, ropeCs: usize, ropeRows: i32, qrot: usize,
  pageWords: i32, paramOffset: i32, r0: i32, r1: i32,
): void {
  const group = Hq / Hk;
  const pageElems = P * Hk * D;
  const slotStride = layout == 0 ? Hk * D : D;
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
      // q rotated at qpos into this row of qrot
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
    const headOff = layout == 0 ? h * D : h * P * D;
    const or = o + (<usize>(r * D) << 2);
    beginRow(or, D);
    for (let j0 = lo; j0 <= hi; j0 += 4) {
      const n = min(4, hi - j0 + 1);
      let s0: f32 = NEG_INF, s1: f32 = NEG_INF, s2: f32 = NEG_INF, s3: f32 = NEG_INF;
      // each key's value reference for the reads below: float pools, the value row's element
      // offset; quantized ones, the page's word offset and the key's row index in the page
      let v0 = 0, v1 = 0, v2 = 0, v3 = 0;
      let k0 = 0, k1 = 0, k2 = 0, k3 = 0;
      for (let u = 0; u < n; u++) {
        const j = j0 + u;
        const page = load<i32>(kvIndices + (<usize>(pg0 + j / P) << 2));
        let s: f32 = NEG_INF;
        let vAt = 0, kRow = 0;
        if (!isInteger<Word>()) {
          const kOff = page * 2 * pageElems + headOff + (j % P) * slotStride;
          if (!maskRow || load<i32>(maskRow + (<usize>j << 2)) != 0) {
            s = ropeCs
              ? ropeDot(qr, pool, kOff, kdt, half, ropeCs + (<usize>(j * half) << 2), sinBase + (<usize>(j * half) << 2))
              : dot(qr, pool, kOff, kdt, D);
            s = logit(s, scale, softCap, slopes, slope, j - qpos);
          }
          vAt = kOff + pageElems;
        } else {
          const pageAt = page * pageWords;
          const slot = j % P;
          kRow = layout == 0 ? slot * Hk + h : h * P + slot;
          if (!maskRow || load<i32>(maskRow + (<usize>j << 2)) != 0) {
            const param = load<u32>(pool + (<usize>(pageAt + paramOffset + kRow) << 2));
            const rowAt = pool + (<usize>(pageAt + kRow * rowWords) << 2);
            s = ropeCs
              ? ropeDotQ(qr, rowAt, bits, half, paramScale(param), paramZero(param), ropeCs + (<usize>(j * half) << 2), sinBase + (<usize>(j * half) << 2))
              : dotQ(qr, rowAt, bits, D, paramScale(param), paramZero(param));
            s = logit(s, scale, softCap, slopes, slope, j - qpos);
          }
          vAt = pageAt;
        }
        if (u == 0) { s0 = s; v0 = vAt; k0 = kRow; }
        else if (u == 1) { s1 = s; v1 = vAt; k1 = kRow; }
        else if (u == 2) { s2 = s; v2 = vAt; k2 = kRow; }
        else { s3 = s; v3 = vAt; k3 = kRow; }
      }
      const p = foldScores(f32x4(s0, s1, s2, s3), or, D);
      if (!isInteger<Word>()) {
        addScaled(or, f32x4.extract_lane(p, 0), pool, v0, kdt, D);
        if (n > 1) addScaled(or, f32x4.extract_lane(p, 1), pool, v1, kdt, D);
        if (n > 2) addScaled(or, f32x4.extract_lane(p, 2), pool, v2, kdt, D);
        if (n > 3) addScaled(or, f32x4.extract_lane(p, 3), pool, v3, kdt, D);
      } else {
        addValue(or, f32x4.extract_lane(p, 0), pool, v0, k0 + vRows, rowWords, paramOffset, bits, D);
        if (n > 1) addValue(or, f32x4.extract_lane(p, 1), pool, v1, k1 + vRows, rowWords, paramOffset, bits, D);
        if (n > 2) addValue(or, f32x4.extract_lane(p, 2), pool, v2, k2 + vRows, rowWords, paramOffset, bits, D);
        if (n > 3) addValue(or, f32x4.extract_lane(p, 3), pool, v3, k3 + vRows, rowWords, paramOffset, bits, D);
      }
    }
    endRow(or, D, lse + (<usize>r << 2));
  }
}

// The float pools: kdt 0 f32, 1 f16, 2 bf16.
export function pagedAttention(
  q: usize, pool: usize, kdt: i32, layout: i32, o: usize, lse: usize,
  qoIndptr: usize, kvIndptr: usize, kvIndices: usize, lastPageLen: usize, batch: i32,
  Hq: i32, Hk: i32, D: i32, P: i32, scale: f32, causal: i32, window: i32, softCap: f32,
  slopes: usize, mask: usize, maskIndptr: usize, ropeCs: usize, ropeRows: i32, qrot: usize, r0: i32, r1: i32,
): void {
  if (kdt == 0) attendRows<f32>(q, pool, 0, 0, layout, o, lse, qoIndptr, kvIndptr, kvIndices, lastPageLen, batch, Hq, Hk, D, P, scale, causal, window, softCap, slopes, mask, maskIndptr, ropeCs, ropeRows, qrot, 0, 0, r0, r1);
  else if (kdt == 2) attendRows<f32>(q, pool, 2, 0, layout, o, lse, qoIndptr, kvIndptr, kvIndices, lastPageLen, batch, Hq, Hk, D, P, scale, causal, window, softCap, slopes, mask, maskIndptr, ropeCs, ropeRows, qrot, 0, 0, r0, r1);
  else attendRows<f32>(q, pool, 1, 0, layout, o, lse, qoIndptr, kvIndptr, kvIndices, lastPageLen, batch, Hq, Hk, D, P, scale, causal, window, softCap, slopes, mask, maskIndptr, ropeCs, ropeRows, qrot, 0, 0, r0, r1);
}

// The quantized pools: `bits` 8 or 4, and the page geometry in u32 words.
export function pagedAttentionQuant(
  q: usize, pool: usize, bits: i32, layout: i32, o: usize, lse: usize,
  qoIndptr: usize, kvIndptr: usize, kvIndices: usize, lastPageLen: usize, batch: i32,
  Hq: i32, Hk: i32, D: i32, P: i32, scale: f32, causal: i32, window: i32, softCap: f32,
  slopes: usize, mask: usize, maskIndptr: usize, ropeCs: usize, ropeRows: i32, qrot: usize,
  pageWords: i32, paramOffset: i32, r0: i32, r1: i32,
): void {
  if (bits == 8) attendRows<u32>(q, pool, 0, 8, layout, o, lse, qoIndptr, kvIndptr, kvIndices, lastPageLen, batch, Hq, Hk, D, P, scale, causal, window, softCap, slopes, mask, maskIndptr, ropeCs, ropeRows, qrot, pageWords, paramOffset, r0, r1);
  else attendRows<u32>(q, pool, 0, 4, layout, o, lse, qoIndptr, kvIndptr, kvIndices, lastPageLen, batch, Hq, Hk, D, P, scale, causal, window, softCap, slopes, mask, maskIndptr, ropeCs, ropeRows, qrot, pageWords, paramOffset, r0, r1);
}
