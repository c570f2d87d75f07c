// Batch-1 GEMV over bf16 weights, the decode step's main cost: a model reads every weight once per
// token, nearly all of it through here, so the loop is paced by how fast one core streams memory.
//
// Widening: a v128 of eight bf16 read as four i32 lanes holds the odd elements in the high halves
// (lane & 0xffff0000 is their f32) and the even ones in the low halves (lane << 16), so two bit
// operations widen eight weights. The activation row is stored once per call in the matching order
// (`evenOddX`: per block of eight, the four even elements then the four odd ones), so the inner
// loop has no shuffles.
//
// Order: one weight row at a time, so a thread's weights are read as one sequential stream, which
// the hardware prefetcher follows across rows and pages (interleaving four rows' streams measured
// about half the bandwidth on a 2-core EPYC). Four accumulators over 32 weights per iteration hide
// the add latency. For K > 4096 the activations (16 KiB and up) no longer stay in L1 beside the
// streamed weights, and reloading them per row costs more than the extra streams: there, eight
// rows share each activation load.

import { hsum } from './storage';

/** xp = x with each block of eight reordered even-then-odd, the K mod 8 tail copied as is; [r0, r1) are blocks. */
export function evenOddX(x: usize, xp: usize, K: i32, r0: i32, r1: i32): void {
  const blocks = K >> 3;
  for (let b = r0; b < r1; b++) {
    const o = <usize>b << 5;
    if (b < blocks) {
      const xa = v128.load(x + o);
      const xb = v128.load(x + o, 16);
      v128.store(xp + o, v128.shuffle<f32>(xa, xb, 0, 2, 4, 6));
      v128.store(xp + o, v128.shuffle<f32>(xa, xb, 1, 3, 5, 7), 16);
    } else for (let k = blocks << 3; k < K; k++) store<f32>(xp + (<usize>k << 2), load<f32>(x + (<usize>k << 2)));
  }
}

// s + (eight weights of v) · (the block's activations xe, xd), widened in place.
@inline function acc8(s: v128, xe: v128, xd: v128, v: v128): v128 {
  const hi = i32x4.splat(0xffff0000);
  return f32x4.add(s, f32x4.add(f32x4.mul(xe, i32x4.shl(v, 16)), f32x4.mul(xd, v128.and(v, hi))));
}

@inline function bf16At(w: usize, k: i32): f32 {
  return reinterpret<f32>(<u32>load<u16>(w + (<usize>k << 1)) << 16);
}

// The elements k ≥ K & ~7 of one row (scalar; at most seven).
@inline function tail(xp: usize, wr: usize, K: i32): f32 {
  let t: f32 = 0;
  for (let k = K & ~7; k < K; k++) t += load<f32>(xp + (<usize>k << 2)) * bf16At(wr, k);
  return t;
}

@inline function dotRow(xp: usize, wr: usize, K: i32): f32 {
  const K32 = K & ~31;
  const K8 = K & ~7;
  let s0 = f32x4.splat(0);
  let s1 = f32x4.splat(0);
  let s2 = f32x4.splat(0);
  let s3 = f32x4.splat(0);
  for (let k = 0; k < K32; k += 32) {
    const x = xp + (<usize>k << 2);
    const p = wr + (<usize>k << 1);
    s0 = acc8(s0, v128.load(x), v128.load(x, 16), v128.load(p));
    s1 = acc8(s1, v128.load(x, 32), v128.load(x, 48), v128.load(p, 16));
    s2 = acc8(s2, v128.load(x, 64), v128.load(x, 80), v128.load(p, 32));
    s3 = acc8(s3, v128.load(x, 96), v128.load(x, 112), v128.load(p, 48));
  }
  for (let k = K32; k < K8; k += 8) {
    const x = xp + (<usize>k << 2);
    s0 = acc8(s0, v128.load(x), v128.load(x, 16), v128.load(wr + (<usize>k << 1)));
  }
  return hsum(f32x4.add(f32x4.add(s0, s1), f32x4.add(s2, s3))) + tail(xp, wr, K);
}

// Eight rows from w0 (rows rowBytes apart) sharing each activation load; results at out[0..8).
@inline function dot8(xp: usize, w0: usize, rowBytes: usize, K: i32, out: usize): void {
  const K8 = K & ~7;
  let s0 = f32x4.splat(0);
  let s1 = f32x4.splat(0);
  let s2 = f32x4.splat(0);
  let s3 = f32x4.splat(0);
  let s4 = f32x4.splat(0);
  let s5 = f32x4.splat(0);
  let s6 = f32x4.splat(0);
  let s7 = f32x4.splat(0);
  for (let k = 0; k < K8; k += 8) {
    const xe = v128.load(xp + (<usize>k << 2));
    const xd = v128.load(xp + (<usize>k << 2), 16);
    const p = w0 + (<usize>k << 1);
    s0 = acc8(s0, xe, xd, v128.load(p));
    s1 = acc8(s1, xe, xd, v128.load(p + rowBytes));
    s2 = acc8(s2, xe, xd, v128.load(p + 2 * rowBytes));
    s3 = acc8(s3, xe, xd, v128.load(p + 3 * rowBytes));
    s4 = acc8(s4, xe, xd, v128.load(p + 4 * rowBytes));
    s5 = acc8(s5, xe, xd, v128.load(p + 5 * rowBytes));
    s6 = acc8(s6, xe, xd, v128.load(p + 6 * rowBytes));
    s7 = acc8(s7, xe, xd, v128.load(p + 7 * rowBytes));
  }
  store<f32>(out, hsum(s0) + tail(xp, w0, K));
  store<f32>(out, hsum(s1) + tail(xp, w0 + rowBytes, K), 4);
  store<f32>(out, hsum(s2) + tail(xp, w0 + 2 * rowBytes, K), 8);
  store<f32>(out, hsum(s3) + tail(xp, w0 + 3 * rowBytes, K), 12);
  store<f32>(out, hsum(s4) + tail(xp, w0 + 4 * rowBytes, K), 16);
  store<f32>(out, hsum(s5) + tail(xp, w0 + 5 * rowBytes, K), 20);
  store<f32>(out, hsum(s6) + tail(xp, w0 + 6 * rowBytes, K), 24);
  store<f32>(out, hsum(s7) + tail(xp, w0 + 7 * rowBytes, K), 28);
}

// y[n] = Σ_k x[k] · w[n, k] for rows n in [n0, n1): xp from `evenOddX`, w bf16 [N, K], y f32.
export function gemvBf16(xp: usize, w: usize, y: usize, K: i32, n0: i32, n1: i32): void {
  const rowBytes = <usize>K << 1;
  let n = n0;
  if (K > 4096) for (; n + 8 <= n1; n += 8) dot8(xp, w + <usize>n * rowBytes, rowBytes, K, y + (<usize>n << 2));
  for (; n < n1; n++) store<f32>(y + (<usize>n << 2), dotRow(xp, w + <usize>n * rowBytes, K));
}
