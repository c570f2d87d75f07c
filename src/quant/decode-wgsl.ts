/**
 * WGSL that decodes stored weights in registers: `fn decode8(row, k) -> array<vec4<f32>, 2>` gives
 * W[row, k .. k+8) (k a multiple of 8) from the raw bytes bound as `wq: array<u32>`. Every format
 * reads whole u32 words and takes bytes apart with shifts (WGSL has no 8- or 16-bit storage); the
 * ggml blocks of 34, 18 and 210 bytes put their fields at any byte offset, so `word_at` funnels two
 * words together, while Q4_K (144-byte blocks) and our w8/w4 planes read aligned words.
 *
 * The arithmetic follows the reference dequantizer step for step (src/io/gguf-dequantize.ts,
 * weight-only.ts): the f16 scale times a small integer is exact in f32, so the decoded weight is
 * the stored value rounded at most once, as in ggml.
 */
import type { QuantFormat } from './formats.js';
import { WEIGHT_ONLY_GROUP, quantLayout } from './formats.js';

const COMMON = /* wgsl */ `
fn byte_at(o: u32) -> u32 { return (wq[o >> 2u] >> ((o & 3u) * 8u)) & 0xffu; }
fn half_at(o: u32) -> f32 { return unpack2x16float((wq[o >> 2u] >> ((o & 2u) * 8u)) & 0xffffu).x; }
fn word_at(o: u32) -> u32 {
  let s = (o & 3u) * 8u;
  let i = o >> 2u;
  if (s == 0u) { return wq[i]; }
  return (wq[i] >> s) | (wq[i + 1u] << (32u - s));
}
fn i8x4(w: u32) -> vec4<f32> {
  return vec4<f32>(vec4<i32>(bitcast<i32>(w << 24u), bitcast<i32>(w << 16u), bitcast<i32>(w << 8u), bitcast<i32>(w)) >> vec4<u32>(24u));
}
fn u8x4(w: u32) -> vec4<f32> {
  return vec4<f32>(vec4<u32>(w, w >> 8u, w >> 16u, w >> 24u) & vec4<u32>(0xffu));
}
fn nib4(w: u32) -> vec4<f32> {
  return vec4<f32>(vec4<u32>(w, w >> 8u, w >> 16u, w >> 24u) & vec4<u32>(15u));
}
`;

/** The body of decode8 per format; `base` is the byte offset of the row, K the uniform `K`. */
function body(format: QuantFormat): string {
  const { blockBytes } = quantLayout(format);
  switch (format) {
    case 'q8_0':
      return `
  let o = rowBase(row) + (k / 32u) * ${blockBytes}u;
  let d = half_at(o);
  let j = o + 2u + (k % 32u);
  return array<vec4<f32>, 2>(d * i8x4(word_at(j)), d * i8x4(word_at(j + 4u)));`;
    case 'q4_0':
      return `
  let o = rowBase(row) + (k / 32u) * ${blockBytes}u;
  let d = half_at(o);
  let r = k % 32u;
  // values j and j + 16 share byte j: low nibble, high nibble
  let s = select(0u, 4u, r >= 16u);
  let j = o + 2u + (r % 16u);
  return array<vec4<f32>, 2>(d * (nib4(word_at(j) >> s) - 8.0), d * (nib4(word_at(j + 4u) >> s) - 8.0));`;
    case 'q4_k':
      return `
  let o = rowBase(row) + (k / 256u) * ${blockBytes}u;
  let d = half_at(o);
  let dmin = half_at(o + 2u);
  let e = k % 256u;
  let sub = e / 32u;
  // 6-bit scale and min of the sub-block (unpackScaleMinK4 in gguf-dequantize.ts)
  var sc: u32;
  var mn: u32;
  if (sub < 4u) {
    sc = byte_at(o + 4u + sub) & 63u;
    mn = byte_at(o + 8u + sub) & 63u;
  } else {
    sc = (byte_at(o + 8u + sub) & 15u) | ((byte_at(o + sub) >> 6u) << 4u);
    mn = (byte_at(o + 8u + sub) >> 4u) | ((byte_at(o + 4u + sub) >> 6u) << 4u);
  }
  let d1 = d * f32(sc);
  let m1 = dmin * f32(mn);
  let s = (sub & 1u) * 4u;
  let q = (o + 16u + (e / 64u) * 32u + (e % 32u)) >> 2u;
  return array<vec4<f32>, 2>(d1 * nib4(wq[q] >> s) - m1, d1 * nib4(wq[q + 1u] >> s) - m1);`;
    case 'q6_k':
      return `
  let o = rowBase(row) + (k / 256u) * ${blockBytes}u;
  let d = half_at(o + 208u);
  let e = k % 256u;
  let h = e / 128u;
  let quarter = (e / 32u) % 4u;
  let l = e % 32u;
  let ls = select(0u, 4u, quarter >= 2u);
  let ql0 = word_at(o + h * 64u + l + (quarter % 2u) * 32u) >> ls;
  let ql1 = word_at(o + h * 64u + l + (quarter % 2u) * 32u + 4u) >> ls;
  let qh0 = word_at(o + 128u + h * 32u + l) >> (2u * quarter);
  let qh1 = word_at(o + 128u + h * 32u + l + 4u) >> (2u * quarter);
  let lo = (vec4<u32>(ql0, ql0 >> 8u, ql0 >> 16u, ql0 >> 24u) & vec4<u32>(15u)) | ((vec4<u32>(qh0, qh0 >> 8u, qh0 >> 16u, qh0 >> 24u) & vec4<u32>(3u)) << vec4<u32>(4u));
  let hi = (vec4<u32>(ql1, ql1 >> 8u, ql1 >> 16u, ql1 >> 24u) & vec4<u32>(15u)) | ((vec4<u32>(qh1, qh1 >> 8u, qh1 >> 16u, qh1 >> 24u) & vec4<u32>(3u)) << vec4<u32>(4u));
  let sc = f32((bitcast<i32>(byte_at(o + 192u + h * 8u + l / 16u + 2u * quarter) << 24u)) >> 24u);
  let ds = d * sc;
  return array<vec4<f32>, 2>(ds * (vec4<f32>(lo) - 32.0), ds * (vec4<f32>(hi) - 32.0));`;
    case 'w8':
    case 'w4': {
      const w8 = format === 'w8';
      const codes = w8
        ? `let j = (row * K + k) >> 2u;
  let c0 = u8x4(wq[j]);
  let c1 = u8x4(wq[j + 1u]);`
        : `let w = wq[(row * K + k) >> 3u];
  let c0 = vec4<f32>(vec4<u32>(w, w >> 4u, w >> 8u, w >> 12u) & vec4<u32>(15u));
  let c1 = vec4<f32>(vec4<u32>(w >> 16u, w >> 20u, w >> 24u, w >> 28u) & vec4<u32>(15u));`;
      return `
  ${codes}
  let sz = unpack2x16float(wq[(scalePlane() >> 2u) + row * (K / ${WEIGHT_ONLY_GROUP}u) + k / ${WEIGHT_ONLY_GROUP}u]);
  return array<vec4<f32>, 2>(sz.x * (c0 - sz.y), sz.x * (c1 - sz.y));`;
    }
  }
}

/**
 * decode8 and its helpers for `format`. The including shader declares `wq` and the u32 values `K`
 * (columns) and `N` (rows) through the functions `rowBase`/`scalePlane` generated here from them.
 */
export function decodeWgsl(format: QuantFormat, kExpr: string, nExpr: string): string {
  const { block, blockBytes } = quantLayout(format);
  const rowBytes =
    format === 'w8' ? `${kExpr}` : format === 'w4' ? `(${kExpr} / 2u)` : `(${kExpr} / ${block}u) * ${blockBytes}u`;
  return `${COMMON}
fn rowBase(row: u32) -> u32 { return row * ${rowBytes}; }
fn scalePlane() -> u32 { return ${nExpr} * ${rowBytes}; }
fn decode8(row: u32, k: u32) -> array<vec4<f32>, 2> {
  let K = ${kExpr};${body(format)}
}
`;
}
