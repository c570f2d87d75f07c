// Storage dtypes of the CPU kernels: loads and stores of f32, f16 and bf16 elements as f32, one
// element or four at a time. Codes (see ../cpu-tensor.ts): 0 f32, 1 f16, 2 bf16.

// f16 bits → f32: the exponent is rebased by a multiply (2^112), which also makes subnormals exact;
// infinities and NaNs (exponent 31) get the f32 exponent 255 back.
@inline export function f16ToF32(h: u32): f32 {
  const e = h & 0x7c00;
  const mag = reinterpret<f32>((h & 0x7fff) << 13) * reinterpret<f32>(0x77800000);
  let bits = reinterpret<u32>(mag) | ((h & 0x8000) << 16);
  if (e == 0x7c00) bits |= 0x7f800000;
  return reinterpret<f32>(bits);
}

@inline export function f32ToBf16(x: f32): u32 {
  const b = reinterpret<u32>(x);
  if ((b & 0x7fffffff) > 0x7f800000) return (b >> 16) | 0x40; // NaN stays NaN
  return (b + 0x7fff + ((b >> 16) & 1)) >> 16; // round to nearest even
}

@inline export function f32ToF16(x: f32): u32 {
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

@inline export function ld(p: usize, i: i32, dt: i32): f32 {
  if (dt == 0) return load<f32>(p + (<usize>i << 2));
  const h = <u32>load<u16>(p + (<usize>i << 1));
  return dt == 2 ? reinterpret<f32>(h << 16) : f16ToF32(h);
}

@inline export function st(p: usize, i: i32, dt: i32, v: f32): void {
  if (dt == 0) store<f32>(p + (<usize>i << 2), v);
  else store<u16>(p + (<usize>i << 1), <u16>(dt == 2 ? f32ToBf16(v) : f32ToF16(v)));
}

// Four consecutive elements as f32x4.
@inline export function ld4(p: usize, i: i32, dt: i32): v128 {
  if (dt == 0) return v128.load(p + (<usize>i << 2));
  const h = i32x4.extend_low_i16x8_u(v128.load64_zero(p + (<usize>i << 1)));
  if (dt == 2) return i32x4.shl(h, 16);
  const mag = f32x4.mul(i32x4.shl(v128.and(h, i32x4.splat(0x7fff)), 13), f32x4.splat(reinterpret<f32>(0x77800000)));
  const sign = i32x4.shl(v128.and(h, i32x4.splat(0x8000)), 16);
  const special = v128.and(i32x4.eq(v128.and(h, i32x4.splat(0x7c00)), i32x4.splat(0x7c00)), i32x4.splat(0x7f800000));
  return v128.or(v128.or(mag, sign), special);
}

@inline export function hsum(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
}
