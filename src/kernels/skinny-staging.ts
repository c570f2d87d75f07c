/**
 * The register-staged slices shared by the skinny GEMM families (skinny-gemm-sgmat.ts for M ≤ 128,
 * skinny-gemm-mid.ts for 64–256 rows): each invocation loads 8-half chunks of the A and B slices
 * into register sets ra{d}_i / rb{d}_i, and stores a set into a workgroup-memory stage later. The
 * families differ in what they load (which rows, which K bound); the chunk walk, the guards and the
 * store are the same, and live here once.
 */
import type { DType } from '../tensor/dtype.js';

const r = (n: number) => Array.from({ length: n }, (_, i) => i);

/** vec4<u32> of 8 halves as f16: f16 passes through, bf16 pairs are re-rounded. */
export function toF16(d: DType, v: string): string {
  if (d !== 'bf16') return v;
  const pair = (q: number) =>
    `pack2x16float(vec2<f32>(bitcast<f32>(${v}[${q}] << 16u), bitcast<f32>(${v}[${q}] & 0xffff0000u)))`;
  return `vec4<u32>(${r(4).map(pair).join(', ')})`;
}

export interface StagedSlice {
  /** Invocations per workgroup. */
  readonly T: number;
  /** 8-half chunks per staged row (slice length / 8). */
  readonly per: number;
  /** Chunks of A and of B per slice. */
  readonly aChunks: number;
  readonly bChunks: number;
  /** Register sets (slices in flight). */
  readonly D: number;
  /** Halves of one A stage and one B stage, and the padded row stride in halves. */
  readonly aStage: number;
  readonly bStage: number;
  readonly LD: number;
}

export interface StagingWalk {
  /** Chunks of A and of B per invocation. */
  readonly AP: number;
  readonly BP: number;
  /** `if` that keeps invocation chunk i within n chunks (empty when every invocation has one). */
  guard(i: number, n: number): string;
  /** Chunk i's row `rr` and column `cc` (in halves) within the slice. */
  coord(i: number): string;
}

export function stagingWalk(s: StagedSlice): StagingWalk {
  return {
    AP: Math.ceil(s.aChunks / s.T),
    BP: Math.ceil(s.bChunks / s.T),
    guard: (i, n) => (s.T * (i + 1) > n ? `if (lid + ${s.T * i}u < ${n}u) ` : ''),
    coord: (i) => `let e = lid + ${s.T * i}u; let rr = e / ${s.per}u; let cc = (e % ${s.per}u) * 8u;`,
  };
}

/**
 * Register set d into stage `stage`. bf16 is re-rounded here, at the store, not at the load: a
 * conversion right after the load would make the subgroup wait for its prefetch before multiplying
 * (in-order issue stalls at the first use).
 */
export function stagedStoreWgsl(
  dtypes: { readonly aDtype: DType; readonly bDtype: DType },
  s: StagedSlice,
  w: StagingWalk,
): (stage: number, d: number) => string {
  return (stage, d) => `{
${r(w.AP)
  .map(
    (i) =>
      `    ${w.guard(i, s.aChunks)}{ ${w.coord(i)} As[(${stage * s.aStage}u + rr * ${s.LD}u + cc) / 8u] = ${toF16(dtypes.aDtype, `ra${d}_${i}`)}; }`,
  )
  .join('\n')}
${r(w.BP)
  .map(
    (i) =>
      `    ${w.guard(i, s.bChunks)}{ ${w.coord(i)} Bs[(${stage * s.bStage}u + rr * ${s.LD}u + cc) / 8u] = ${toF16(dtypes.bDtype, `rb${d}_${i}`)}; }`,
  )
  .join('\n')}
  }`;
}

/** The D register sets' declarations. */
export function stagingRegsWgsl(s: StagedSlice, w: StagingWalk): string {
  return r(s.D)
    .map((d) =>
      [
        ...r(w.AP).map((i) => `  var ra${d}_${i}: vec4<u32>;`),
        ...r(w.BP).map((i) => `  var rb${d}_${i}: vec4<u32>;`),
      ].join('\n'),
    )
    .join('\n');
}
