/**
 * The subgroup-matrix GEMM's tile layout and operand staging (matmul-sgmat-wgsl.ts has the kernel's
 * design): a and b are declared as 16-byte chunks when the problem allows, else in their stored
 * dtype behind bounds-checked loaders; each slice moves global → registers (`loadRegs`) → workgroup
 * memory (`storeRegs`) in chunks of 8 halves, bf16 re-rounded to f16 on the way.
 */
import type { Capabilities, SubgroupMatrixConfig } from '../backends/webgpu/capabilities.js';
import type { DType } from '../tensor/dtype.js';
import type { MatmulPlan } from './matmul-common.js';
import type { SgmatParams } from './matmul-sgmat-params.js';
import { loadF32, storageDecl } from './wgsl-dtype.js';

const r = (n: number) => Array.from({ length: n }, (_, i) => i);

/** Sizes derived from the plan, the device's matrix shape and the tile parameters, read by every piece. */
export interface SgmatLayout {
  readonly t: SgmatParams;
  /** Subgroup size and invocations per workgroup. */
  readonly SG: number;
  readonly T: number;
  /** One result matrix is FM×FN, multiplied FK deep. */
  readonly FM: number;
  readonly FN: number;
  readonly FK: number;
  readonly BM: number;
  readonly BN: number;
  readonly transB: boolean;
  readonly vec: boolean;
  readonly split: boolean;
  /** Staged row strides (halves): a [BM][LDA]; b transB [BN][LDB] else [BK][LDB]. */
  readonly LDA: number;
  readonly LDB: number;
  /** Halves per staging buffer (two of each, double-buffered). */
  readonly aStage: number;
  readonly bStage: number;
  /** 8-half chunks per slice, and chunks per invocation (the last round guarded where uneven). */
  readonly aChunks: number;
  readonly bChunks: number;
  readonly AP: number;
  readonly BP: number;
  /** Staging element type and the halves it holds. */
  readonly elem: string;
  readonly div: number;
}

export function sgmatLayout(p: MatmulPlan, caps: Capabilities, cfg: SubgroupMatrixConfig, t: SgmatParams): SgmatLayout {
  const { WM, WN, TM, TN, BK, pad } = t;
  const SG = caps.subgroupMaxSize || 32;
  const T = WM * WN * SG;
  const transB = !!p.attrs.transB;
  const BN = WN * TN * cfg.N;
  const LDA = BK + pad;
  const LDB = transB ? BK + pad : BN + pad;
  const elem = t.smem === 'vec4u32' ? 'vec4<u32>' : t.smem === 'vec4f16' ? 'vec4<f16>' : 'f16';
  const div = t.smem === 'vec4u32' ? 8 : t.smem === 'vec4f16' ? 4 : 1;
  const BM = WM * TM * cfg.M;
  const aChunks = (BM * BK) / 8;
  const bChunks = (BN * BK) / 8;
  return {
    t,
    SG,
    T,
    FM: cfg.M,
    FN: cfg.N,
    FK: cfg.K,
    BM,
    BN,
    transB,
    vec: sgmatVectorised(p),
    split: t.splitK > 1,
    LDA,
    LDB,
    aStage: BM * LDA,
    bStage: transB ? BN * LDB : BK * LDB,
    aChunks,
    bChunks,
    AP: Math.ceil(aChunks / T),
    BP: Math.ceil(bChunks / T),
    elem,
    div,
  };
}

export function sgmatVectorised(p: MatmulPlan): boolean {
  return p.g.K % 8 === 0 && (p.attrs.transB || p.g.N % 8 === 0);
}

/** Two f16 from one stored word (vec of u32): f16 pairs pass through, bf16 pairs are re-rounded to f16. */
function toF16Pair(d: DType, w: string): string {
  return d === 'bf16' ? `pack2x16float(vec2<f32>(bitcast<f32>(${w} << 16u), bitcast<f32>(${w} & 0xffff0000u)))` : w;
}

/** Declarations of a and b: whole 16-byte chunks when vectorised, else the stored dtype with bounds-checked loaders. */
export function operandDecls(L: SgmatLayout, p: MatmulPlan, caps: Capabilities): string {
  const aDecl = L.vec
    ? '@group(0) @binding(0) var<storage, read> a: array<vec4<u32>>;'
    : storageDecl(0, 'a', p.aDtype, caps, 'read');
  const bDecl = L.vec
    ? '@group(0) @binding(1) var<storage, read> b: array<vec4<u32>>;'
    : storageDecl(1, 'b', p.bDtype, caps, 'read');
  return `${aDecl}\n${bDecl}`;
}

export function scalarLoaders(L: SgmatLayout, p: MatmulPlan, caps: Capabilities): string {
  if (L.vec) return '';
  const bIndex = L.transB ? 'g_bBase + n * uw(2u) + k' : 'g_bBase + k * uw(4u) + n';
  return `
fn ldA(m: u32, k: u32, ke: u32) -> f32 { if (m < uw(0u) && k < ke) { return ${loadF32(p.aDtype, caps, 'a', 'g_aBase + m * uw(2u) + k')}; } return 0.0; }
fn ldB(n: u32, k: u32, ke: u32) -> f32 { if (n < uw(4u) && k < ke) { return ${loadF32(p.bDtype, caps, 'b', bIndex)}; } return 0.0; }
var<private> g_aBase: u32;
var<private> g_bBase: u32;`;
}

/** 8 halves from four scalar loads, `at(q)` giving the two loader calls of pair q. */
function packedChunk(at: (q: number) => [string, string]): string {
  return `vec4<u32>(${r(4)
    .map((q) => `pack2x16float(vec2<f32>(${at(q)[0]}, ${at(q)[1]}))`)
    .join(', ')})`;
}

/** One chunk of a: 8 consecutive halves along row m from column k, as vec4<u32> of f16 pairs. */
function chunkA(L: SgmatLayout): string {
  return L.vec
    ? `select(vec4<u32>(), a[(aBase + m * K + k) / 8u], m < M && k < kEnd)`
    : packedChunk((q) => [`ldA(m, k + ${2 * q}u, kEnd)`, `ldA(m, k + ${2 * q + 1}u, kEnd)`]);
}

/** One chunk of b along its stored rows: n-major with transB, else k-major. */
function chunkB(L: SgmatLayout): string {
  if (L.transB)
    return L.vec
      ? `select(vec4<u32>(), b[(bBase + n * K + k) / 8u], n < nCount && k < kEnd)`
      : packedChunk((q) => [`ldB(n, k + ${2 * q}u, kEnd)`, `ldB(n, k + ${2 * q + 1}u, kEnd)`]);
  return L.vec
    ? `select(vec4<u32>(), b[(bBase + k * nCount + n) / 8u], n < nCount && k < kEnd)`
    : packedChunk((q) => [`ldB(n + ${2 * q}u, k, kEnd)`, `ldB(n + ${2 * q + 1}u, k, kEnd)`]);
}

/** A loaded chunk as f16 pairs (vectorised bf16 is re-rounded here; the scalar loaders already packed f16). */
function toF16Chunk(L: SgmatLayout, d: DType, v: string): string {
  return L.vec && d === 'bf16'
    ? `vec4<u32>(${r(4)
        .map((q) => toF16Pair(d, `${v}[${q}]`))
        .join(', ')})`
    : v;
}

/** Stores chunk v (vec4<u32>) at half index idx of a staging array of the configured element type. */
function smemStore(L: SgmatLayout, buf: string, idx: string, v: string): string {
  if (L.t.smem === 'vec4u32') return `${buf}[(${idx}) / 8u] = ${v};`;
  if (L.t.smem === 'vec4f16')
    return `${buf}[(${idx}) / 4u] = bitcast<vec4<f16>>(${v}.xy); ${buf}[(${idx}) / 4u + 1u] = bitcast<vec4<f16>>(${v}.zw);`;
  return r(4)
    .map(
      (q) =>
        `{ let h = bitcast<vec2<f16>>(${v}[${q}]); ${buf}[${idx} + ${2 * q}u] = h.x; ${buf}[${idx} + ${2 * q + 1}u] = h.y; }`,
    )
    .join(' ');
}

/** Guards round i of an operand's chunks where the chunks do not divide evenly among the invocations. */
function guard(L: SgmatLayout, chunks: number, i: number): string {
  return L.T * (i + 1) > chunks ? `if (lid + ${L.T * i}u < ${chunks}u) ` : '';
}

/** Chunk e of a slice of a: row rr = e / (BK/8) at column (e % (BK/8))·8. */
function aChunkPos(L: SgmatLayout, i: number): string {
  const per = L.t.BK / 8;
  return `let e = lid + ${L.T * i}u; let rr = e / ${per}u; let cc = (e % ${per}u) * 8u;`;
}

/** Chunk e of a slice of b, along its stored rows (BK/8 chunks per row with transB, BN/8 without). */
function bChunkPos(L: SgmatLayout, i: number): string {
  const per = (L.transB ? L.t.BK : L.BN) / 8;
  return `let e = lid + ${L.T * i}u; let rr = e / ${per}u; let cc = (e % ${per}u) * 8u;`;
}

/** Global → registers: the slice from k0 into ra*, rb*. */
export function loadRegs(L: SgmatLayout, p: MatmulPlan, k0: string): string {
  const bCoord = L.transB ? 'let n = nl0 + rr; let k = k0 + cc;' : 'let n = nl0 + cc; let k = k0 + rr;';
  const a = r(L.AP).map(
    (i) =>
      `    ${guard(L, L.aChunks, i)}{ ${aChunkPos(L, i)} let m = m0 + rr; let k = k0 + cc; let v = ${chunkA(L)}; ra${i} = ${toF16Chunk(L, p.aDtype, 'v')}; }`,
  );
  const b = r(L.BP).map(
    (i) =>
      `    ${guard(L, L.bChunks, i)}{ ${bChunkPos(L, i)} ${bCoord} let v = ${chunkB(L)}; rb${i} = ${toF16Chunk(L, p.bDtype, 'v')}; }`,
  );
  return `{
    let k0 = ${k0};
${a.join('\n')}
${b.join('\n')}
  }`;
}

/** Registers → workgroup memory: ra*, rb* into staging buffer `stage` (0 or 1). */
export function storeRegs(L: SgmatLayout, stage: number): string {
  const a = r(L.AP).map(
    (i) =>
      `    ${guard(L, L.aChunks, i)}{ ${aChunkPos(L, i)} ${smemStore(L, 'As', `${stage * L.aStage}u + rr * ${L.LDA}u + cc`, `ra${i}`)} }`,
  );
  const b = r(L.BP).map(
    (i) =>
      `    ${guard(L, L.bChunks, i)}{ ${bChunkPos(L, i)} ${smemStore(L, 'Bs', `${stage * L.bStage}u + rr * ${L.LDB}u + cc`, `rb${i}`)} }`,
  );
  return `{
${a.join('\n')}
${b.join('\n')}
  }`;
}
