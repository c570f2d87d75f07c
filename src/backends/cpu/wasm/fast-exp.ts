// exp on four f32 lanes at once, for the softmax-like loops (attention's online softmax, softmax,
// SiLU) where a scalar Mathf.exp per element costs more than the multiply-adds around it.
//
// Cody–Waite reduction x = n·ln2 + r with |r| ≤ ln2/2 (ln2 split in two so n·ln2 is exact), a
// degree-6 polynomial for e^r (Cephes expf's coefficients), and 2^n built in the exponent bits.
// Relative error against the exact exp: below 1.2e-7 (one f32 ulp) over [−87.3, 88.3]; a dense
// sweep in test/backends/cpu-fast-exp.test.ts measures 8.0e-8 and holds the bound. Below −87.33
// (where e^x leaves f32's normal range) the result is 0, and −∞ gives 0, which the online softmax
// relies on for masked keys; inputs above 88.37 are clamped there (e^88.37 ≈ 2.4e38, finite).
// NaN inputs are not handled (no caller produces them).

const EXP_LO: f32 = -87.33654;
const EXP_HI: f32 = 88.37626;

@inline export function exp4(x: v128): v128 {
  const lo = f32x4.splat(EXP_LO);
  const xc = f32x4.min(f32x4.max(x, lo), f32x4.splat(EXP_HI));
  const n = f32x4.nearest(f32x4.mul(xc, f32x4.splat(1.44269504088896341)));
  let r = f32x4.sub(xc, f32x4.mul(n, f32x4.splat(0.693359375)));
  r = f32x4.sub(r, f32x4.mul(n, f32x4.splat(-2.12194440e-4)));
  let p = f32x4.splat(1.9875691500e-4);
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.3981999507e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(8.3334519073e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(4.1665795894e-2));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.6666665459e-1));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(5.0000001201e-1));
  const y = f32x4.add(f32x4.add(f32x4.mul(p, f32x4.mul(r, r)), r), f32x4.splat(1));
  const scale = i32x4.shl(i32x4.add(i32x4.trunc_sat_f32x4_s(n), i32x4.splat(127)), 23);
  return v128.bitselect(f32x4.splat(0), f32x4.mul(y, scale), f32x4.lt(x, lo));
}

@inline export function exp1(x: f32): f32 {
  return f32x4.extract_lane(exp4(f32x4.splat(x)), 0);
}

/** dst[i] = exp(src[i]) (f32), i in [r0, r1): the approximation itself, for its accuracy test. */
export function expF32(src: usize, dst: usize, r0: i32, r1: i32): void {
  let i = r0;
  for (; i + 4 <= r1; i += 4) v128.store(dst + (<usize>i << 2), exp4(v128.load(src + (<usize>i << 2))));
  for (; i < r1; i++) store<f32>(dst + (<usize>i << 2), exp1(load<f32>(src + (<usize>i << 2))));
}
