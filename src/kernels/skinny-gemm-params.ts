/**
 * Parameters of the skinny GEMM (`skinny-gemm.ts`), the per-M table lookup, the tuning hook the
 * benchmarks override, and the check that one parameter set fits a device (workgroup size and
 * workgroup memory) — shared by the kernel's `whyUnsupported` and the tuning sweep.
 */
import { type Capabilities, f16MatrixConfig } from '../backends/webgpu/capabilities.js';

/**
 * SIMT: lanes split K in runs of KL (one 16-byte weight chunk each per K tile of 8·KL), and
 * register-block MT activation rows × RL weight rows; ⌈M/MT⌉ lane groups cover M and RG groups
 * cover the R = RG·RL weight rows of a workgroup. The activation tile [M, 8·KL] is staged in
 * workgroup memory as f32 once per tile and read by every lane group.
 */
export interface SkinnySimtParams {
  readonly variant: 'simt';
  readonly KL: number;
  readonly MT: number;
  readonly RL: number;
  readonly RG: number;
}

/**
 * Tensor cores: S subgroups split each K slice of S·BK between them, each multiplying all of M
 * (padded to the matrix M) by TN weight tiles of the matrix N rows; the S partial results are
 * summed in workgroup memory, so the weights stream once with no second pass.
 *
 * D (default 1): slices of weights in flight in registers ahead of the one being multiplied — the
 * bytes a workgroup keeps in flight grow with D without more workgroup memory. AG (default false):
 * subgroups load the activation matrices straight from the f16 activation buffer (L2-resident)
 * instead of staging them in workgroup memory, so the workgroup memory holds weights only; it needs
 * f16 activations, M a multiple of the matrix M and K a multiple of S·BK (`skinnyShapeProblem`).
 */
export interface SkinnySgmatParams {
  readonly variant: 'sgmat';
  readonly S: number;
  readonly TN: number;
  readonly BK: number;
  readonly D?: number;
  readonly AG?: boolean;
}

/**
 * Tensor cores for M = 64–256 (`skinny-gemm-mid.ts`): a workgroup of WM×WN subgroups owns a BM×BN
 * tile (BM = WM·TM·16 rows of M, BN = WN·TN·16 weight rows), each subgroup TM×TN result matrices of
 * it, all subgroups multiplying the same staged K slice of BK; a and b are staged, double-buffered,
 * with D slices in flight in registers. M beyond BM takes further workgroups (BM ≥ M reads every
 * weight once). SK caps the split of K across workgroups (grid z, f32 partials summed in a fixed
 * order by a second pass); the split used fills about two workgroups per SM of a 132-SM card and
 * keeps ≥ 512 of K per split (`midSplit`).
 */
export interface SkinnyMidParams {
  readonly variant: 'mid';
  readonly WM: number;
  readonly WN: number;
  readonly TM: number;
  readonly TN: number;
  readonly BK: number;
  readonly D: number;
  readonly SK: number;
  /**
   * Diagnosis only (wrong results): the K loop skips its global loads and staging stores, so it
   * costs only its matrix loads, multiplies and barriers — the MMA ceiling of the same schedule.
   */
  readonly probe?: 'compute-only';
}

/** A tensor-core parameter set: K split inside the workgroup (sgmat) or output-tiled (mid). */
export type SkinnyTcParams = SkinnySgmatParams | SkinnyMidParams;

export type SkinnyParams = SkinnySimtParams | SkinnyTcParams;

export interface SkinnyBucket {
  readonly maxM: number;
  readonly simt: SkinnySimtParams | null;
  readonly sgmat: SkinnyTcParams | null;
}

export interface SkinnyTable {
  readonly source: string;
  readonly buckets: readonly SkinnyBucket[];
}

export const SKINNY_MAX_M = 256;

/** The sgmat sets keep all of M in every subgroup's registers (S copies of the result): M ≤ 128. */
export const SKINNY_SGMAT_MAX_M = 128;

/** Skinny parameters the benchmarks may force (tuning); null keeps the table. */
export const skinnyTuning: { override: SkinnyParams | null } = { override: null };

export type SkinnyCaps = Pick<
  Capabilities,
  | 'subgroups'
  | 'subgroupMinSize'
  | 'subgroupMaxSize'
  | 'subgroupMatrix'
  | 'maxComputeWorkgroupStorageSize'
  | 'maxComputeInvocationsPerWorkgroup'
  | 'maxComputeWorkgroupSizeX'
>;

/**
 * The table's choice for M on this device, or null (another kernel serves M). `halfOperands`:
 * whether the operands may go through f16 tensor cores (not f32 activations, not `precise` bf16).
 */
export function skinnyParams(
  table: SkinnyTable,
  M: number,
  caps: SkinnyCaps,
  halfOperands = true,
): SkinnyParams | null {
  if (skinnyTuning.override) return skinnyTuning.override;
  const b = table.buckets.find((x) => M <= x.maxM);
  if (!b) return null;
  return (halfOperands && sgmatConfig(caps) ? b.sgmat : null) ?? b.simt;
}

export function sgmatConfig(caps: Pick<Capabilities, 'subgroupMatrix'>) {
  return f16MatrixConfig(caps as Capabilities, 'f32');
}

/** Invocations per workgroup. */
export function skinnyLanes(t: SkinnyParams, M: number, caps: Pick<Capabilities, 'subgroupMaxSize'>): number {
  if (t.variant === 'mid') return t.WM * t.WN * (caps.subgroupMaxSize || 32);
  return t.variant === 'simt' ? t.KL * Math.ceil(M / t.MT) * t.RG : t.S * (caps.subgroupMaxSize || 32);
}

/** Weight rows (output columns) per workgroup. */
export function skinnyRows(t: SkinnyParams, caps: SkinnyCaps): number {
  if (t.variant === 'mid') return t.WN * t.TN * (sgmatConfig(caps)?.N ?? 16);
  return t.variant === 'simt' ? t.RG * t.RL : t.TN * (sgmatConfig(caps)?.N ?? 16);
}

/**
 * Rows of a the mid kernel stages per slice: its whole M tile, or only M rounded up to the matrix
 * M when one tile covers M (the matrices past M are never multiplied).
 */
export function midStagedRows(t: SkinnyMidParams, M: number, fm: number): number {
  const BM = t.WM * t.TM * fm;
  return M <= BM ? Math.ceil(M / fm) * fm : BM;
}

/** Workgroups the split K aims for: two per SM of a 132-SM card (as the split-K GEMM). */
export const MID_TARGET_WORKGROUPS = 264;

/**
 * K splits of the mid kernel for one product: enough for `MID_TARGET_WORKGROUPS` when the tiles
 * alone fall short, at most SK, at least 512 of K per split (the f32 partials then cost
 * 8·split·M / (2·K) ≤ M/128 of the weight bytes, mostly in L2); every split starts on a slice and
 * none is empty. Returns the split and the K length per split.
 */
export function midSplit(t: SkinnyMidParams, M: number, N: number, K: number, fm: number, fn: number) {
  const tiles = Math.ceil(M / (t.WM * t.TM * fm)) * Math.ceil(N / (t.WN * t.TN * fn));
  const want = Math.max(1, Math.min(t.SK, Math.ceil(MID_TARGET_WORKGROUPS / tiles), Math.floor(K / 512)));
  const kLen = Math.ceil(K / want / t.BK) * t.BK;
  return { split: Math.ceil(K / kLen), kLen };
}

/** Workgroup memory of one parameter set at M, in bytes (the layouts of the two generators). */
export function skinnySharedBytes(t: SkinnyParams, M: number, caps: SkinnyCaps): number {
  if (t.variant === 'simt') {
    const mPad = Math.ceil(M / t.MT) * t.MT;
    const staged = mPad * t.KL * 32;
    const slots = t.KL / Math.max(1, caps.subgroupMinSize);
    return staged + slots * mPad * t.RG * t.RL * 4;
  }
  const cfg = sgmatConfig(caps);
  if (!cfg) return Infinity;
  if (t.variant === 'mid') {
    const ld = t.BK + 8;
    const subgroups = t.WM * t.WN;
    return 2 * (midStagedRows(t, M, cfg.M) + t.WN * t.TN * cfg.N) * ld * 2 + subgroups * cfg.M * cfg.N * 4;
  }
  const mPad = t.AG ? 0 : Math.ceil(M / cfg.M) * cfg.M;
  const ld = t.S * t.BK + 8;
  return 2 * (mPad + t.TN * cfg.N) * ld * 2 + t.S * cfg.M * cfg.N * 4;
}

const pow2 = (x: number) => x > 0 && (x & (x - 1)) === 0;

/** Why this parameter set cannot run at M on this device, or null. */
export function skinnyParamsProblem(t: SkinnyParams, M: number, caps: SkinnyCaps): string | null {
  if (t.variant === 'simt') {
    if (!caps.subgroups) return 'the SIMT skinny GEMM reduces with subgroups, which this device lacks';
    if (!pow2(t.KL) || t.KL % caps.subgroupMaxSize !== 0)
      return `KL ${t.KL} must be a power of two and a multiple of the subgroup size ${caps.subgroupMaxSize}`;
    if ((t.RG * t.RL) % 2) return `RG·RL (${t.RG * t.RL}) must be even: outputs are written in pairs`;
    if (t.MT < 1 || t.RL < 1 || t.RG < 1) return 'MT, RL and RG must be ≥ 1';
  } else if (t.variant === 'mid') {
    const cfg = sgmatConfig(caps);
    if (!cfg) return 'no f16→f32 subgroup-matrix configuration on this device';
    if (t.BK % cfg.K || t.BK % 8) return `BK ${t.BK} must be a multiple of the matrix K (${cfg.K}) and of 8`;
    if (t.TN % 2 && cfg.N % 2) return 'weight tiles must hold an even number of rows';
    if (![1, 2, 4].includes(t.D)) return `D ${t.D} must be 1, 2 or 4 (the slice loop unrolls to lcm(2, D))`;
    if ([t.WM, t.WN, t.TM, t.TN, t.SK].some((x) => !Number.isInteger(x) || x < 1))
      return 'WM, WN, TM, TN and SK must be integers ≥ 1';
  } else {
    if (M > SKINNY_SGMAT_MAX_M)
      return `the K-split tensor-core sets hold all of M per subgroup: M ≤ ${SKINNY_SGMAT_MAX_M} (got ${M})`;
    const cfg = sgmatConfig(caps);
    if (!cfg) return 'no f16→f32 subgroup-matrix configuration on this device';
    if (t.BK % cfg.K || t.BK % 8) return `BK ${t.BK} must be a multiple of the matrix K (${cfg.K}) and of 8`;
    if (t.TN % 2 && cfg.N % 2) return 'weight tiles must hold an even number of rows';
    if (![1, 2, 4].includes(t.D ?? 1)) return `D ${t.D} must be 1, 2 or 4 (the slice loop unrolls to lcm(2, D))`;
  }
  const lanes = skinnyLanes(t, M, caps);
  if (lanes > caps.maxComputeInvocationsPerWorkgroup || lanes > caps.maxComputeWorkgroupSizeX)
    return `${lanes} invocations per workgroup exceed the device's ${caps.maxComputeInvocationsPerWorkgroup}`;
  const bytes = skinnySharedBytes(t, M, caps);
  if (bytes > caps.maxComputeWorkgroupStorageSize)
    return `${bytes} bytes of workgroup memory exceed the device's ${caps.maxComputeWorkgroupStorageSize}`;
  return null;
}

/**
 * Why a parameter set cannot serve these operands (beyond `skinnyParamsProblem`), or null: the
 * in-place activation loads (AG) read whole matrix tiles from the activation buffer, so a partial
 * last tile of M or of a K slice would read past the tensor.
 */
export function skinnyShapeProblem(
  t: SkinnyParams,
  M: number,
  K: number,
  aDtype: string,
  caps: Pick<Capabilities, 'subgroupMatrix'>,
): string | null {
  if (t.variant !== 'sgmat' || !t.AG) return null;
  const cfg = sgmatConfig(caps);
  if (!cfg) return 'no f16→f32 subgroup-matrix configuration on this device';
  if (aDtype !== 'f16') return `in-place activation loads need f16 activations (got ${aDtype})`;
  if (M % cfg.M) return `in-place activation loads need M a multiple of ${cfg.M} (got ${M})`;
  if (K % (t.S * t.BK)) return `in-place activation loads need K a multiple of S·BK = ${t.S * t.BK} (got ${K})`;
  return null;
}

/**
 * Staged tensor-core sets for an M or K the table's in-place set cannot serve, in order of
 * preference (the first fits M ≤ 64 in 48 KB of workgroup memory, the others M ≤ 128).
 */
export const SKINNY_STAGED_FALLBACKS: readonly SkinnySgmatParams[] = [
  { variant: 'sgmat', S: 4, TN: 1, BK: 32 },
  { variant: 'sgmat', S: 2, TN: 1, BK: 32 },
  { variant: 'sgmat', S: 2, TN: 1, BK: 16 },
];
