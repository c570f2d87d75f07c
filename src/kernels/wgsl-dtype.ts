/**
 * How each dtype is stored in a WGSL storage buffer and read as f32.
 *
 * WGSL has no 8/16-bit storage except f16 (with `shader-f16`), so bf16, i8 and u8 — and f16 when
 * the device failed the f16 self-test — live packed in `array<u32>` and are unpacked on load.
 * Stores of packed types write whole words, so kernels producing them handle two (or four)
 * elements per invocation.
 */
import type { DType } from '../tensor/dtype.js';
import type { Capabilities } from '../backends/webgpu/capabilities.js';

export function storageElem(dtype: DType, caps: Pick<Capabilities, 'f16'>): 'f32' | 'f16' | 'u32' | 'i32' {
  if (dtype === 'f32') return 'f32';
  if (dtype === 'i32') return 'i32';
  if (dtype === 'f16' && caps.f16) return 'f16';
  return 'u32';
}

/** Elements one stored word holds when a kernel must write whole words (1 for directly addressable types). */
export function elemsPerWord(dtype: DType, caps: Pick<Capabilities, 'f16'>): number {
  if (dtype === 'f16' && caps.f16) return 1;
  if (dtype === 'f16' || dtype === 'bf16') return 2;
  if (dtype === 'i8' || dtype === 'u8') return 4;
  return 1;
}

/** `enable f16;` when the shader touches native f16. */
export function enables(dtypes: readonly DType[], caps: Pick<Capabilities, 'f16'>): string {
  return dtypes.some((d) => d === 'f16') && caps.f16 ? 'enable f16;\n' : '';
}

/** WGSL expression reading element `idx` (a u32 expression) of buffer `buf` as f32. */
export function loadF32(dtype: DType, caps: Pick<Capabilities, 'f16'>, buf: string, idx: string): string {
  switch (dtype) {
    case 'f32':
      return `${buf}[${idx}]`;
    case 'f16':
      return caps.f16 ? `f32(${buf}[${idx}])` : `unpack2x16float(${buf}[(${idx}) >> 1u])[(${idx}) & 1u]`;
    case 'bf16':
      return `bitcast<f32>(((${buf}[(${idx}) >> 1u] >> (((${idx}) & 1u) * 16u)) & 0xffffu) << 16u)`;
    case 'i32':
      return `f32(${buf}[${idx}])`;
    case 'u32':
      return `f32(${buf}[${idx}])`;
    case 'i8':
      return `f32(extractBits(bitcast<i32>(${buf}[(${idx}) >> 2u]), ((${idx}) & 3u) * 8u, 8u))`;
    case 'u8':
      return `f32(extractBits(${buf}[(${idx}) >> 2u], ((${idx}) & 3u) * 8u, 8u))`;
  }
}

/** WGSL helper functions for packing f32 values into stored words (round to nearest even). */
export const PACK_WGSL = /* wgsl */ `
fn tess_bf16_bits(x: f32) -> u32 {
  let b = bitcast<u32>(x);
  if ((b & 0x7f800000u) == 0x7f800000u && (b & 0x7fffffu) != 0u) { return (b >> 16u) | 0x40u; }
  return ((b + 0x7fffu + ((b >> 16u) & 1u)) >> 16u) & 0xffffu;
}
fn tess_pack_bf16(lo: f32, hi: f32) -> u32 { return tess_bf16_bits(lo) | (tess_bf16_bits(hi) << 16u); }
`;

/**
 * WGSL statement storing `vals` (f32 expressions, `elemsPerWord` of them) as the word `word` of `buf`.
 * For types addressed per element, `word` is the element index.
 */
export function storeWord(
  dtype: DType,
  caps: Pick<Capabilities, 'f16'>,
  buf: string,
  word: string,
  vals: readonly string[],
): string {
  switch (dtype) {
    case 'f32':
      return `${buf}[${word}] = ${vals[0]};`;
    case 'i32':
      return `${buf}[${word}] = i32(${vals[0]});`;
    case 'u32':
      return `${buf}[${word}] = u32(${vals[0]});`;
    case 'f16':
      return caps.f16
        ? `${buf}[${word}] = f16(${vals[0]});`
        : `${buf}[${word}] = pack2x16float(vec2<f32>(${vals[0]}, ${vals[1]}));`;
    case 'bf16':
      return `${buf}[${word}] = tess_pack_bf16(${vals[0]}, ${vals[1]});`;
    case 'i8':
      return `${buf}[${word}] = pack4xI8Clamp(vec4<i32>(i32(round(${vals[0]})), i32(round(${vals[1]})), i32(round(${vals[2]})), i32(round(${vals[3]}))));`;
    case 'u8':
      return `${buf}[${word}] = pack4xU8Clamp(vec4<u32>(u32(round(${vals[0]})), u32(round(${vals[1]})), u32(round(${vals[2]})), u32(round(${vals[3]}))));`;
  }
}

/** `var<storage, read> name: array<T>;` with the storage element type of `dtype`. */
export function storageDecl(
  binding: number,
  name: string,
  dtype: DType,
  caps: Pick<Capabilities, 'f16'>,
  access: 'read' | 'read_write',
): string {
  return `@group(0) @binding(${binding}) var<storage, ${access}> ${name}: array<${storageElem(dtype, caps)}>;`;
}

/** Declares uniform words `u.w[i]` readable as `uw(i)`: an array of vec4<u32> (uniform arrays need 16-byte strides). */
export function uniformDecl(binding: number, words: number): string {
  const vecs = Math.max(1, Math.ceil(words / 4));
  return `struct TessUniforms { w: array<vec4<u32>, ${vecs}> }
@group(0) @binding(${binding}) var<uniform> tess_u: TessUniforms;
fn uw(i: u32) -> u32 { return tess_u.w[i >> 2u][i & 3u]; }
fn uf(i: u32) -> f32 { return bitcast<f32>(uw(i)); }`;
}
