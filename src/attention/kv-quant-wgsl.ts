/**
 * WGSL for reading and writing quantized KV pages (kv-quant.ts has the format). The attention
 * templates bind the pool as `array<vec4<u32>>` whatever it holds; a 16-byte word of a quantized
 * row holds 16 (8-bit) or 32 (4-bit) codes, which `kvQuads` turns into vec4<f32> quads with the
 * row's (scale, zero), so the templates' lane and tile geometry is that of a float pool with more
 * elements per word.
 */
import type { KvLayout } from './kv-layout.js';
import { type KvDtype, type KvQuantSpec, isQuantKv, kvBits, quantPage } from './kv-quant.js';
import { elemsPerVec, kvRowFn, unpackFns } from './wgsl-kv.js';

/** The parameters of a quantized pool's kernels take from the attention params. */
export function specOf(p: {
  readonly kvDtype: KvDtype;
  readonly numKvHeads: number;
  readonly pageSize: number;
  readonly headDim: number;
}): KvQuantSpec | null {
  return isQuantKv(p.kvDtype)
    ? { dtype: p.kvDtype, numKvHeads: p.numKvHeads, pageSize: p.pageSize, headDim: p.headDim }
    : null;
}

/** Row index inside a page, WGSL (slot, head → the float pool's row order). */
const rowExpr = (layout: KvLayout, s: KvQuantSpec) =>
  layout === 'NHD' ? `slot * ${s.numKvHeads}u + head` : `head * ${s.pageSize}u + slot`;

/**
 * The read side of a quantized pool bound as an array of `word` named `pool` (16-byte words, or
 * 8-byte ones where a 4-bit row must spread over more lanes: `streamWord`):
 * `kv_row(page, kv, slot, head)` in the float templates' units (so `/ epv` gives the row's first
 * word), `kv_param(page, kv, slot, head) -> vec2<f32>` (scale, zero), `kvq_quad(w, c, sz)`.
 */
export function quantReadFns(layout: KvLayout, s: KvQuantSpec, word: KvWord = 'vec4<u32>'): string {
  const g = quantPage(s);
  const bits = kvBits(s.dtype);
  const ph = s.pageSize * s.numKvHeads;
  const lanes = word === 'vec4<u32>' ? 4 : 2;
  const quad =
    bits === 8
      ? `let x = w[c]; return vec4<f32>((vec4<u32>(x) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(255u)) * sz.x + sz.y;`
      : `let x = w[c >> 1u]; return vec4<f32>((vec4<u32>(x) >> (vec4<u32>(0u, 4u, 8u, 12u) + (c & 1u) * 16u)) & vec4<u32>(15u)) * sz.x + sz.y;`;
  return `// KV pool: ${s.dtype} codes, (scale, zero) f16 pair per (token, head) row
fn kv_row(page: u32, kv: u32, slot: u32, head: u32) -> u32 { return (page * ${g.pageWords}u + (kv * ${ph}u + ${rowExpr(layout, s)}) * ${g.rowWords}u) * ${32 / bits}u; }
fn kv_param(page: u32, kv: u32, slot: u32, head: u32) -> vec2<f32> {
  let i = page * ${g.pageWords}u + ${g.paramOffset}u + kv * ${ph}u + ${rowExpr(layout, s)};
  return unpack2x16float(pool[i / ${lanes}u][i % ${lanes}u]);
}
/** Codes 4c … 4c+3 of the word w, dequantized. */
fn kvq_quad(w: ${word}, c: u32, sz: vec2<f32>) -> vec4<f32> { ${quad} }`;
}

/** The word a template loads K/V in. */
export type KvWord = 'vec4<u32>' | 'vec2<u32>';

/**
 * The streaming template's word: 16 bytes, except 8 for 4-bit rows, so a 4-bit row spreads over
 * as many lanes as an 8-bit one and a lane holds 16 dims per word of every query row, not 32
 * (which would put Llama's 4-row GQA tiles over the template's register budget).
 */
export const streamWord = (dtype: KvDtype): KvWord => (dtype === 'int4' ? 'vec2<u32>' : 'vec4<u32>');

/** Elements one streaming-template word holds. */
export const streamElemsPerWord = (dtype: KvDtype): number => (dtype === 'int4' ? 16 : elemsPerVec(dtype));

/** The float pool's unpackers (`ldkv_lo/_hi`); a quantized pool's reads are all in `kvRowDecls`. */
export function kvUnpackDecls(p: Parameters<typeof specOf>[0]): string {
  return specOf(p) ? '' : unpackFns('ldkv', p.kvDtype as 'f32');
}

/** `kv_row` (and, for a quantized pool, `kv_param` and `kvq_quad`), where the templates declare `kv_row`. */
export function kvRowDecls(layout: KvLayout, p: Parameters<typeof specOf>[0], word: KvWord = 'vec4<u32>'): string {
  const s = specOf(p);
  return s ? quantReadFns(layout, s, word) : kvRowFn(layout, p.pageSize, p.numKvHeads, p.headDim);
}

/** The vec4<f32> quads of pool word `w` of `epv` elements (`sz`: its row's (scale, zero), quantized pools only). */
export function kvQuads(dtype: KvDtype, w: string, sz: string, epv = elemsPerVec(dtype)): string[] {
  const n = epv / 4;
  if (isQuantKv(dtype)) return Array.from({ length: n }, (_, c) => `kvq_quad(${w}, ${c}u, ${sz})`);
  return n === 1 ? [`ldkv_lo(${w})`] : [`ldkv_lo(${w})`, `ldkv_hi(${w})`];
}

/**
 * append into a quantized pool bound as `array<u32>` named `pool`: `fn store_qrow(page, kv, slot,
 * head, src)` quantizes row `src` (D elements of the f32 function `ld_src(i)`) with the format's
 * rounding (scale up, zero down to f16) and writes its codes and parameter word.
 */
export function quantStoreFns(layout: KvLayout, s: KvQuantSpec): string {
  const g = quantPage(s);
  const bits = kvBits(s.dtype);
  const levels = (1 << bits) - 1;
  const per = 32 / bits;
  const ph = s.pageSize * s.numKvHeads;
  return `// f16 bits of x rounded towards +∞ (up) or −∞ (down)
fn f16_up(x: f32) -> u32 {
  var b = pack2x16float(vec2<f32>(x, 0.0)) & 0xffffu;
  if (unpack2x16float(b).x < x) { if (x < 0.0) { b -= 1u; } else { b += 1u; } }
  return b;
}
fn f16_down(x: f32) -> u32 {
  var b = pack2x16float(vec2<f32>(x, 0.0)) & 0xffffu;
  if (unpack2x16float(b).x > x) { if (x <= 0.0) { b += 1u; } else { b -= 1u; } }
  return b;
}
fn store_qrow(page: u32, kv: u32, slot: u32, head: u32, src: u32) {
  var lo = ld_src(src);
  var hi = lo;
  for (var e = 1u; e < ${s.headDim}u; e++) { let x = ld_src(src + e); lo = min(lo, x); hi = max(hi, x); }
  let zb = f16_down(lo);
  let zero = unpack2x16float(zb).x;
  let sb = f16_up((hi - zero) / ${levels}.0);
  let scale = unpack2x16float(sb).x;
  let row = kv * ${ph}u + ${rowExpr(layout, s)};
  let base = page * ${g.pageWords}u + row * ${g.rowWords}u;
  for (var w = 0u; w < ${g.rowWords}u; w++) {
    var word = 0u;
    for (var i = 0u; i < ${per}u; i++) {
      let x = ld_src(src + w * ${per}u + i);
      var q = 0.0;
      if (scale > 0.0) { q = clamp(round((x - zero) / scale), 0.0, ${levels}.0); }
      word |= u32(q) << (i * ${bits}u);
    }
    pool[base + w] = word;
  }
  pool[page * ${g.pageWords}u + ${g.paramOffset}u + row] = (zb << 16u) | sb;
}`;
}
