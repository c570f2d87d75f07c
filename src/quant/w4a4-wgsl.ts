/**
 * WGSL of the Atom W4A4 kernels (layout in w4a4-format.ts). The integer products use WGSL's
 * `dot4I8Packed` (language feature `packed_4x8_integer_dot_product`, shipped in Dawn): four int8
 * lanes of a u32 times four, summed into an i32. 4-bit weights are widened to int8 lanes in
 * registers: a stored word holds 8 values (low nibbles: values 0..3, high nibbles: 4..7), so one
 * mask gives each half and `v | ((v & 0x08080808) * 0x1e)` sign-extends all four nibbles at once
 * (0x08 · 0x1e = 0xf0 fills the high nibble; no carry crosses a byte).
 */
import type { AtomPrologue } from './w4a4-ops.js';
import { GEMM_TILE_STORE_WGSL, gemmTileEntryWgsl } from './gemm-tile-wgsl.js';

export const ATOM_QUANT_THREADS = 128;
export const ATOM_GEMV_THREADS = 64;
export const ATOM_GEMV_MAX_M = 8;
export const ATOM_GEMM_TILE = 16;

const WIDEN = /* wgsl */ `
fn sext4(v: u32) -> u32 { return v | ((v & 0x08080808u) * 0x1eu); }
fn lo4(w: u32) -> u32 { return sext4(w & 0x0f0f0f0fu); }
fn hi4(w: u32) -> u32 { return sext4((w >> 4u) & 0x0f0f0f0fu); }
`;

/**
 * Per-token quantizer: one workgroup per row, four groups of 128 channels at a time, 32 threads per
 * group and 4 channels per thread, so each thread writes one u32 of four int8 codes. The prologue
 * (RMSNorm, SiLU·mul) is computed on the fly from the producer's inputs, and `perm` gathers the
 * channels into the calibrated order, so the reordered activation is never stored in f32.
 */
export function atomQuantizeWgsl(prologue: AtomPrologue, reordered: boolean): string {
  const T = ATOM_QUANT_THREADS;
  const bindings = ['var<storage, read> x: array<f32>;'];
  if (prologue === 'rmsnorm') bindings.push('var<storage, read> nw: array<f32>;');
  if (prologue === 'silu_mul') bindings.push('var<storage, read> up: array<f32>;');
  if (reordered) bindings.push('var<storage, read> perm: array<i32>;');
  bindings.push(
    'var<storage, read_write> q: array<u32>;',
    'var<storage, read_write> s: array<f32>;',
    'var<uniform> u: U;',
  );
  const value =
    prologue === 'rmsnorm'
      ? 'x[row * u.k + c] * inv * nw[c]'
      : prologue === 'silu_mul'
        ? 'x[row * u.k + c] / (1.0 + exp(-x[row * u.k + c])) * up[row * u.k + c]'
        : 'x[row * u.k + c]';
  const rms =
    prologue === 'rmsnorm'
      ? `
  var ss = 0.0;
  for (var c = t; c < u.k; c += ${T}u) { let a = x[row * u.k + c]; ss += a * a; }
  red[t] = ss;
  workgroupBarrier();
  for (var st = ${T / 2}u; st > 0u; st >>= 1u) {
    if (t < st) { red[t] += red[t + st]; }
    workgroupBarrier();
  }
  let inv = 1.0 / sqrt(red[0] / f32(u.k) + u.eps);
  workgroupBarrier();`
      : `
  let inv = 1.0;`;
  return /* wgsl */ `
struct U { m: u32, k: u32, eps: f32, gx: u32 }
${bindings.map((b, i) => `@group(0) @binding(${i}) ${b}`).join('\n')}
var<workgroup> red: array<f32, ${T}>;

fn value(row: u32, j: u32, inv: f32) -> f32 {
  let c = ${reordered ? 'u32(perm[j])' : 'j'};
  return ${value};
}

@compute @workgroup_size(${T})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let row = wid.x + wid.y * u.gx;
  if (row >= u.m) { return; }
${rms}
  let G = u.k / 128u;
  let seg = t / 32u;
  let lane = t % 32u;
  for (var g0 = 0u; g0 < G; g0 += ${T / 32}u) {
    let g = g0 + seg;
    var v = vec4<f32>(0.0);
    if (g < G) {
      let j = g * 128u + lane * 4u;
      v = vec4<f32>(value(row, j, inv), value(row, j + 1u, inv), value(row, j + 2u, inv), value(row, j + 3u, inv));
    }
    let a = abs(v);
    red[t] = max(max(a.x, a.y), max(a.z, a.w));
    workgroupBarrier();
    for (var st = 16u; st > 0u; st >>= 1u) {
      if (lane < st) { red[t] = max(red[t], red[t + st]); }
      workgroupBarrier();
    }
    let amax = red[seg * 32u];
    workgroupBarrier();
    if (g < G) {
      let qmax = select(7.0, 127.0, g == G - 1u);
      let scale = amax / qmax;
      var c = vec4<i32>(0);
      if (scale > 0.0) { c = vec4<i32>(clamp(round(v / scale), vec4<f32>(-qmax), vec4<f32>(qmax))); }
      q[(row * u.k + g * 128u) / 4u + lane] = pack4xI8(c);
      if (lane == 0u) { s[row * G + g] = scale; }
    }
  }
}
`;
}

/** Bindings and plane readers shared by the GEMV and the GEMM (wq: the stored bytes as vec4<u32>). */
const MATMUL_COMMON = /* wgsl */ `
struct U { m: u32, n: u32, k: u32, gx: u32 }
@group(0) @binding(0) var<storage, read> xq: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read> xs: array<f32>;
@group(0) @binding(2) var<storage, read> wq: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> u: U;
${WIDEN}
fn word(i: u32) -> u32 { return wq[i >> 2u][i & 3u]; }
fn xword(i: u32) -> u32 { return xq[i >> 2u][i & 3u]; }
/** Byte offsets of the INT8 plane and the scale plane. */
fn codes8At() -> u32 { return u.n * (u.k - 128u) / 2u; }
fn scaleW(row: u32, g: u32) -> f32 {
  let b = codes8At() + u.n * 128u + 2u * (row * (u.k / 128u) + g);
  let h = unpack2x16float(word(b >> 2u));
  return select(h.x, h.y, (b & 2u) != 0u);
}
`;

/**
 * Decode GEMV (M ≤ 8): one workgroup per weight row; a thread takes 32 channels at a time (one
 * 16-byte load of 4-bit codes, or two of INT8 outlier codes), widens them to 8 words of int8 lanes
 * once and multiplies them with each activation row: 8 dot4I8Packed into an i32, scaled in f32 by
 * scale_x · scale_w of the group. A tree over the workgroup sums the partial dot products.
 */
export function atomGemvWgsl(m: number): string {
  const W = ATOM_GEMV_THREADS;
  return /* wgsl */ `${MATMUL_COMMON}
const MR = ${m}u;
var<workgroup> part: array<f32, ${W * m}>;

fn strip(row: u32, s: u32, G: u32) -> array<vec4<u32>, 2> {
  if (s / 4u < G - 1u) {
    let w = wq[row * ((u.k - 128u) / 32u) + s];
    return array<vec4<u32>, 2>(vec4<u32>(lo4(w.x), hi4(w.x), lo4(w.y), hi4(w.y)), vec4<u32>(lo4(w.z), hi4(w.z), lo4(w.w), hi4(w.w)));
  }
  let o = codes8At() / 16u + row * 8u + (s - 4u * (G - 1u)) * 2u;
  return array<vec4<u32>, 2>(wq[o], wq[o + 1u]);
}

fn dot8(a: vec4<u32>, b: vec4<u32>) -> i32 {
  return dot4I8Packed(a.x, b.x) + dot4I8Packed(a.y, b.y) + dot4I8Packed(a.z, b.z) + dot4I8Packed(a.w, b.w);
}

@compute @workgroup_size(${W})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let row = wid.x + wid.y * u.gx;
  if (row >= u.n) { return; }
  let G = u.k / 128u;
  var acc: array<f32, ${m}>;
  for (var s = t; s < u.k / 32u; s += ${W}u) {
    let w = strip(row, s, G);
    let g = s / 4u;
    let sw = scaleW(row, g);
    for (var i = 0u; i < MR; i++) {
      let a = i * (u.k / 16u) + 2u * s;
      let d = dot8(xq[a], w[0]) + dot8(xq[a + 1u], w[1]);
      acc[i] += f32(d) * (xs[i * G + g] * sw);
    }
  }
  for (var i = 0u; i < MR; i++) { part[i * ${W}u + t] = acc[i]; }
  workgroupBarrier();
  for (var st = ${W / 2}u; st > 0u; st >>= 1u) {
    if (t < st) {
      for (var i = 0u; i < MR; i++) { part[i * ${W}u + t] += part[i * ${W}u + t + st]; }
    }
    workgroupBarrier();
  }
  if (t < MR) { y[t * u.n + row] = part[t * ${W}u]; }
}
`;
}

/**
 * Prefill GEMM: a workgroup owns a 16 × 16 tile of y and walks K one group of 128 at a time. The
 * tile loader widens the weights to int8 lanes in workgroup memory beside the activation codes;
 * each thread then sums its group in an i32 (32 dot4I8Packed) and adds it, scaled by
 * scale_x · scale_w, to its f32 accumulator.
 */
export function atomGemmWgsl(): string {
  const T = ATOM_GEMM_TILE;
  return /* wgsl */ `${MATMUL_COMMON}
var<workgroup> wt: array<u32, ${T * 32}>;
var<workgroup> xt: array<u32, ${T * 32}>;
var<workgroup> swt: array<f32, ${T}>;
var<workgroup> sxt: array<f32, ${T}>;

${gemmTileEntryWgsl(T)}
  let G = u.k / 128u;
  var acc = 0.0;
  for (var g = 0u; g < G; g++) {
    for (var e = t; e < ${T * 32}u; e += ${T * T}u) {
      let r = e / 32u;
      let c = e % 32u;
      let n = min(n0 + r, u.n - 1u);
      var w: u32;
      if (g < G - 1u) {
        let packed = word(n * ((u.k - 128u) / 8u) + g * 16u + c / 2u);
        w = select(lo4(packed), hi4(packed), (c & 1u) != 0u);
      } else {
        w = word(codes8At() / 4u + n * 32u + c);
      }
      wt[e] = w;
      xt[e] = xword(min(m0 + r, u.m - 1u) * (u.k / 4u) + g * 32u + c);
    }
    if (t < ${T}u) {
      swt[t] = scaleW(min(n0 + t, u.n - 1u), g);
      sxt[t] = xs[min(m0 + t, u.m - 1u) * G + g];
    }
    workgroupBarrier();
    var d = 0;
    for (var c = 0u; c < 32u; c++) { d += dot4I8Packed(xt[lid.y * 32u + c], wt[lid.x * 32u + c]); }
    acc += f32(d) * (sxt[lid.y] * swt[lid.x]);
    workgroupBarrier();
  }
${GEMM_TILE_STORE_WGSL}
`;
}
