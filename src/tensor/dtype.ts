/**
 * Element types and their host representations.
 *
 * Half-precision values (f16, bf16) are held on the host as raw 16-bit patterns in a
 * `Uint16Array`: JavaScript has no 16-bit float array everywhere we run, and keeping bits
 * means the GPU's packed-`u32` layout is a plain byte copy.
 */
export type DType = 'f32' | 'f16' | 'bf16' | 'i32' | 'u32' | 'i8' | 'u8';

export type HostArray = Float32Array | Uint16Array | Int32Array | Uint32Array | Int8Array | Uint8Array;

export const DTYPES: readonly DType[] = ['f32', 'f16', 'bf16', 'i32', 'u32', 'i8', 'u8'];

export function bytesPerElement(dtype: DType): number {
  switch (dtype) {
    case 'f32':
    case 'i32':
    case 'u32':
      return 4;
    case 'f16':
    case 'bf16':
      return 2;
    case 'i8':
    case 'u8':
      return 1;
  }
}

export function isFloat(dtype: DType): boolean {
  return dtype === 'f32' || dtype === 'f16' || dtype === 'bf16';
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Bytes of tensors' elements as stored (shape × element size), e.g. weights on a device. */
export function storedBytes(tensors: readonly { readonly dtype: DType; readonly shape: readonly number[] }[]): number {
  return tensors.reduce((n, t) => n + numel(t.shape) * bytesPerElement(t.dtype), 0);
}

/** Bytes a tensor takes on the GPU: rounded up to whole `u32` words, since WGSL has no 8/16-bit storage. */
export function paddedByteSize(dtype: DType, shape: readonly number[]): number {
  return Math.max(4, Math.ceil((numel(shape) * bytesPerElement(dtype)) / 4) * 4);
}

export function allocHost(dtype: DType, n: number): HostArray {
  switch (dtype) {
    case 'f32':
      return new Float32Array(n);
    case 'f16':
    case 'bf16':
      return new Uint16Array(n);
    case 'i32':
      return new Int32Array(n);
    case 'u32':
      return new Uint32Array(n);
    case 'i8':
      return new Int8Array(n);
    case 'u8':
      return new Uint8Array(n);
  }
}

/** Wraps raw bytes as the host array of `dtype` (copying, so alignment never matters). */
export function hostFromBytes(dtype: DType, bytes: Uint8Array, n: number): HostArray {
  const out = allocHost(dtype, n);
  new Uint8Array(out.buffer, out.byteOffset, n * bytesPerElement(dtype)).set(
    bytes.subarray(0, n * bytesPerElement(dtype)),
  );
  return out;
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** IEEE binary16 bits from a number, rounding to nearest even (handles subnormals, inf, NaN). */
export function f16Bits(x: number): number {
  f32Scratch[0] = x;
  const b = u32Scratch[0]!;
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  let mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  return sign | half;
}

export function f16ToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** bfloat16 bits from a number, rounding to nearest even. */
export function bf16Bits(x: number): number {
  f32Scratch[0] = x;
  const b = u32Scratch[0]!;
  if ((b & 0x7f800000) === 0x7f800000 && b & 0x7fffff) return (b >>> 16) | 0x40;
  const rounded = b + 0x7fff + ((b >>> 16) & 1);
  return (rounded >>> 16) & 0xffff;
}

export function bf16ToNumber(h: number): number {
  u32Scratch[0] = h << 16;
  return f32Scratch[0]!;
}

/** Converts float64 values into the host array of `dtype` (rounding as the dtype demands). */
export function toHost(dtype: DType, values: ArrayLike<number>): HostArray {
  const n = values.length;
  const out = allocHost(dtype, n);
  if (dtype === 'f16') for (let i = 0; i < n; i++) out[i] = f16Bits(values[i]!);
  else if (dtype === 'bf16') for (let i = 0; i < n; i++) out[i] = bf16Bits(values[i]!);
  else for (let i = 0; i < n; i++) out[i] = values[i]!;
  return out;
}

/** Reads any host array as float64 values (decoding half-precision bits). */
export function toFloat64(dtype: DType, data: HostArray): Float64Array {
  const n = data.length;
  const out = new Float64Array(n);
  if (dtype === 'f16') for (let i = 0; i < n; i++) out[i] = f16ToNumber(data[i]!);
  else if (dtype === 'bf16') for (let i = 0; i < n; i++) out[i] = bf16ToNumber(data[i]!);
  else for (let i = 0; i < n; i++) out[i] = data[i]!;
  return out;
}

/** Rounds a float64 value to what `dtype` can hold (used so oracles see the stored inputs). */
export function roundTo(dtype: DType, x: number): number {
  switch (dtype) {
    case 'f32':
      return Math.fround(x);
    case 'f16':
      return f16ToNumber(f16Bits(x));
    case 'bf16':
      return bf16ToNumber(bf16Bits(x));
    case 'i32':
      return x | 0;
    case 'u32':
      return x >>> 0;
    case 'i8':
      return (x << 24) >> 24;
    case 'u8':
      return x & 0xff;
  }
}
