/**
 * f32 arrays to IEEE binary16 bits in bulk, rounding to nearest even (subnormals, inf and NaN as
 * `f16Bits` in dtype.ts). Reads the f32 bits through one Uint32Array view instead of a scratch
 * write per element: converting an 8B-shape rank-64 adapter (168 M values) is an upload's cost,
 * so the per-element work is kept to integer operations.
 */
export function f16FromF32(src: Float32Array, out: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  if (out.length < src.length) throw new RangeError(`f16FromF32: ${out.length} outputs for ${src.length} inputs`);
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < bits.length; i++) {
    const b = bits[i]!;
    const sign = (b >>> 16) & 0x8000;
    const exp = (b >>> 23) & 0xff;
    let mant = b & 0x7fffff;
    const e = exp - 112; // rebias 127 → 15
    if (exp === 0xff) out[i] = sign | 0x7c00 | (mant ? 0x200 : 0);
    else if (e >= 0x1f) out[i] = sign | 0x7c00;
    else if (e > 0) {
      let half = (e << 10) | (mant >>> 13);
      const rem = mant & 0x1fff;
      if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
      out[i] = sign | half;
    } else if (e < -10) out[i] = sign;
    else {
      mant |= 0x800000;
      const shift = 14 - e;
      let half = mant >>> shift;
      const rem = mant & ((1 << shift) - 1);
      const mid = 1 << (shift - 1);
      if (rem > mid || (rem === mid && half & 1)) half++;
      out[i] = sign | half;
    }
  }
  return out;
}
