// Prefill's GEMM, c [M, N] = a [M, K] · bᵀ with b [N, K] in f32/f16/bf16: a register tile of four
// rows of a by eight columns of c (eight f32x4 accumulators, each a broadcast element of a times
// eight packed weights), over K panels of KC.
//
// Packing: eight weight rows × KC columns are widened to f32 once and stored k-major ([KC][8]), so
// the inner loop reads them with two aligned loads and every conversion serves all M rows. The
// panel lives in a slot of the host's scratch that belongs to this thread: each instance takes a
// slot number once from an atomic counter word the host keeps, so concurrent chunks never share
// one. The host sets the slot size (KC·32 bytes of panel, then 32 of staging), so KC is its choice.

import { ld, ld4 } from './storage';

let mySlot: i32 = -1;

// Widens rows n … n + 7 (rows ≥ N as zeros), columns [k0, k0 + kc), into buf as [kc][8]: four
// rows × four columns at a time, loaded as rows and transposed in registers, so packing costs about
// one vector operation per weight and stays small beside the tile's M/4 multiply-adds per weight.
@inline function packPanel(b: usize, bdt: i32, N: i32, K: i32, n: i32, k0: i32, kc: i32, buf: usize): void {
  const full = n + 8 <= N;
  const kc4 = full ? kc & ~3 : 0;
  for (let half = 0; half < 8; half += 4) {
    const r0 = (n + half) * K + k0;
    for (let k = 0; k < kc4; k += 4) {
      const v0 = ld4(b, r0 + k, bdt);
      const v1 = ld4(b, r0 + K + k, bdt);
      const v2 = ld4(b, r0 + 2 * K + k, bdt);
      const v3 = ld4(b, r0 + 3 * K + k, bdt);
      const t0 = v128.shuffle<f32>(v0, v1, 0, 4, 1, 5);
      const t1 = v128.shuffle<f32>(v0, v1, 2, 6, 3, 7);
      const t2 = v128.shuffle<f32>(v2, v3, 0, 4, 1, 5);
      const t3 = v128.shuffle<f32>(v2, v3, 2, 6, 3, 7);
      const p = buf + (<usize>(k * 8 + half) << 2);
      v128.store(p, v128.shuffle<f32>(t0, t2, 0, 1, 4, 5));
      v128.store(p, v128.shuffle<f32>(t0, t2, 2, 3, 6, 7), 32);
      v128.store(p, v128.shuffle<f32>(t1, t3, 0, 1, 4, 5), 64);
      v128.store(p, v128.shuffle<f32>(t1, t3, 2, 3, 6, 7), 96);
    }
  }
  // the columns past the last group of four, and every column of a panel that runs past N
  for (let j = 0; j < 8; j++) {
    const row = n + j;
    const base = row * K + k0;
    for (let k = kc4; k < kc; k++) store<f32>(buf + (<usize>(k * 8 + j) << 2), row < N ? ld(b, base + k, bdt) : 0);
  }
}

// Adds four rows of a (from arow, aStride bytes apart) times the packed panel into the eight-wide
// tiles at crow (cStride bytes apart); `first` starts them from zero.
@inline function tile4x8(arow: usize, aStride: usize, buf: usize, kc: i32, crow: usize, cStride: usize, first: bool): void {
  const z = f32x4.splat(0);
  let c00 = first ? z : v128.load(crow);
  let c01 = first ? z : v128.load(crow, 16);
  let c10 = first ? z : v128.load(crow + cStride);
  let c11 = first ? z : v128.load(crow + cStride, 16);
  let c20 = first ? z : v128.load(crow + 2 * cStride);
  let c21 = first ? z : v128.load(crow + 2 * cStride, 16);
  let c30 = first ? z : v128.load(crow + 3 * cStride);
  let c31 = first ? z : v128.load(crow + 3 * cStride, 16);
  for (let k = 0; k < kc; k++) {
    const p = buf + (<usize>k << 5);
    const b0 = v128.load(p);
    const b1 = v128.load(p, 16);
    const ak = arow + (<usize>k << 2);
    const a0 = v128.load32_splat(ak);
    c00 = f32x4.add(c00, f32x4.mul(a0, b0));
    c01 = f32x4.add(c01, f32x4.mul(a0, b1));
    const a1 = v128.load32_splat(ak + aStride);
    c10 = f32x4.add(c10, f32x4.mul(a1, b0));
    c11 = f32x4.add(c11, f32x4.mul(a1, b1));
    const a2 = v128.load32_splat(ak + 2 * aStride);
    c20 = f32x4.add(c20, f32x4.mul(a2, b0));
    c21 = f32x4.add(c21, f32x4.mul(a2, b1));
    const a3 = v128.load32_splat(ak + 3 * aStride);
    c30 = f32x4.add(c30, f32x4.mul(a3, b0));
    c31 = f32x4.add(c31, f32x4.mul(a3, b1));
  }
  v128.store(crow, c00);
  v128.store(crow, c01, 16);
  v128.store(crow + cStride, c10);
  v128.store(crow + cStride, c11, 16);
  v128.store(crow + 2 * cStride, c20);
  v128.store(crow + 2 * cStride, c21, 16);
  v128.store(crow + 3 * cStride, c30);
  v128.store(crow + 3 * cStride, c31, 16);
}

@inline function tile1x8(arow: usize, buf: usize, kc: i32, crow: usize, first: bool): void {
  let c0 = first ? f32x4.splat(0) : v128.load(crow);
  let c1 = first ? f32x4.splat(0) : v128.load(crow, 16);
  for (let k = 0; k < kc; k++) {
    const p = buf + (<usize>k << 5);
    const a = v128.load32_splat(arow + (<usize>k << 2));
    c0 = f32x4.add(c0, f32x4.mul(a, v128.load(p)));
    c1 = f32x4.add(c1, f32x4.mul(a, v128.load(p, 16)));
  }
  v128.store(crow, c0);
  v128.store(crow, c1, 16);
}

// Columns [n0, n1) of c (n0 a multiple of 8): `pack` holds one slot of slotBytes per thread,
// `slots` is the host's counter word that hands them out.
@inline function gemmPackedFor(
  a: usize, b: usize, bdt: i32, c: usize, M: i32, N: i32, K: i32, pack: usize, slots: usize, slotBytes: i32,
  n0: i32, n1: i32,
): void {
  if (mySlot < 0) mySlot = atomic.add<i32>(slots, 1);
  const buf = pack + <usize>mySlot * <usize>slotBytes;
  const KC = (slotBytes - 32) >> 5;
  // an eight-wide staging row for the last, partial panel (its columns past N are not c's)
  const edge = buf + <usize>(KC << 5);
  const aStride = <usize>K << 2;
  const cStride = <usize>N << 2;
  for (let n = n0; n < n1; n += 8) {
    const full = n + 8 <= N;
    for (let k0 = 0; k0 < K; k0 += KC) {
      const kc = min(KC, K - k0);
      const first = k0 == 0;
      packPanel(b, bdt, N, K, n, k0, kc, buf);
      const aCol = a + (<usize>k0 << 2);
      let m = 0;
      if (full) for (; m + 4 <= M; m += 4) tile4x8(aCol + <usize>m * aStride, aStride, buf, kc, c + <usize>m * cStride + (<usize>n << 2), cStride, first);
      for (; m < M; m++) {
        const crow = c + <usize>m * cStride + (<usize>n << 2);
        if (full) tile1x8(aCol + <usize>m * aStride, buf, kc, crow, first);
        else {
          for (let j = 0; j < 8; j++) store<f32>(edge + (<usize>j << 2), n + j < N && !first ? load<f32>(crow + (<usize>j << 2)) : 0);
          tile1x8(aCol + <usize>m * aStride, buf, kc, edge, false);
          for (let j = 0; n + j < N; j++) store<f32>(crow + (<usize>j << 2), load<f32>(edge + (<usize>j << 2)));
        }
      }
    }
  }
}

export function gemmPackedNT(
  a: usize, b: usize, bdt: i32, c: usize, M: i32, N: i32, K: i32, pack: usize, slots: usize, slotBytes: i32,
  n0: i32, n1: i32,
): void {
  if (bdt == 0) gemmPackedFor(a, b, 0, c, M, N, K, pack, slots, slotBytes, n0, n1);
  else if (bdt == 2) gemmPackedFor(a, b, 2, c, M, N, K, pack, slots, slotBytes, n0, n1);
  else gemmPackedFor(a, b, 1, c, M, N, K, pack, slots, slotBytes, n0, n1);
}
