/** Tile and split-K parameters of the subgroup-matrix GEMM (matmul-sgmat-wgsl.ts) and the choice per problem. */

export interface SgmatParams {
  /** Subgroups along M and N. */
  readonly WM: number;
  readonly WN: number;
  /** Result matrices per subgroup along M and N. */
  readonly TM: number;
  readonly TN: number;
  /** K depth of one staged slice (multiple of 8 and of the matrix K). */
  readonly BK: number;
  /** Padding (halves) per staged row, against bank conflicts. */
  readonly pad: number;
  /**
   * Element type of the staging arrays the matrices load from: scalar f16, vec4<f16> (8 bytes) or
   * vec4<u32> (16 bytes, 8 halves); wider elements mean fewer, wider workgroup-memory accesses.
   * Offsets and strides then count whole elements.
   */
  readonly smem: 'f16' | 'vec4f16' | 'vec4u32';
  /** `subgroupMatrixLoad<T, row_major>(p, off, stride)` (current) or the older bool-argument form. */
  readonly syntax: 'template' | 'bool';
  /** K is split over this many workgroups (grid z) writing f32 partials that a second pass sums; 1 = none. */
  readonly splitK: number;
  /** Diagnosis only (wrong results): drop the global loads, or all staging, to see what the loop costs without them. */
  readonly probe?: 'no-global' | 'compute-only';
}

export const DEFAULT_SGMAT: SgmatParams = {
  WM: 2,
  WN: 2,
  TM: 4,
  TN: 4,
  BK: 32,
  pad: 8,
  smem: 'vec4u32',
  syntax: 'template',
  splitK: 1,
};

/**
 * Tile choice, from H100 measurements (bench/gemm.ts --tune, robust mode): 256×128 (or 128×256)
 * tiles with BK 16 ran fastest on large products (≈134 TFLOP/s at 4096³ against ≈116 for 128×128
 * BK 32) — fewer bytes staged per multiply. Decode-like M (≤ 64) takes 16- or 32-row tiles with
 * deep (BK 64) slices, since the weights are what must stream. When the tiles cannot give every
 * SM two workgroups, K is split so they can (partials summed by a second pass).
 */
export function sgmatParams(
  M: number,
  N: number,
  K: number,
  batch: number,
  override?: Partial<SgmatParams>,
): SgmatParams {
  let base: SgmatParams;
  if (M <= 16) base = { ...DEFAULT_SGMAT, WM: 1, WN: 2, TM: 1, TN: 2, BK: 64 };
  else if (M <= 64) base = { ...DEFAULT_SGMAT, WM: 2, WN: 2, TM: 1, TN: 2, BK: 64 };
  else if (Math.ceil(M / 128) * Math.ceil(N / 128) < 264) base = { ...DEFAULT_SGMAT, TM: 2, TN: 2 };
  else if (M >= 512 && N >= 512)
    base = M >= N ? { ...DEFAULT_SGMAT, WM: 4, WN: 2, BK: 16 } : { ...DEFAULT_SGMAT, WM: 2, WN: 4, BK: 16 };
  else base = DEFAULT_SGMAT;
  const t = { ...base, ...override };
  if (override?.splitK === undefined && batch === 1) {
    const tiles = Math.ceil(M / (t.WM * t.TM * 16)) * Math.ceil(N / (t.WN * t.TN * 16));
    // at least 512 of K per split keeps the partials' traffic small against the operands'
    const split = Math.min(Math.ceil(264 / tiles), Math.floor(K / 512), 16);
    if (split > 1) return { ...t, splitK: split };
  }
  return t;
}

/** K per split: a multiple of the slice depth, so every split starts on a slice. */
export function splitLength(K: number, t: SgmatParams): number {
  return Math.ceil(K / t.splitK / t.BK) * t.BK;
}

/** Subgroup-matrix parameters the benchmarks may override (tuning); null keeps the defaults. */
export const sgmatTuning: { override: Partial<SgmatParams> | null } = { override: null };
