/**
 * Weight-only quantized GEMM on f16 tensor cores for 16 ≤ M ≤ 256 (`quant_matmul` with
 * `f16Operands`): every format's weights are decoded (decode-wgsl.ts) a K step at a time into f16
 * tiles in workgroup memory — once per workgroup, shared by all of its activation rows — and
 * multiplied with f16 × f16 → f32 subgroup matrices of 16 × 16 × 16.
 *
 * A workgroup of S subgroups owns BN = 16 · TN · S weight rows and BM = 16 · MT activation rows; each K
 * step of 32 is staged (activations rounded f32 → f16, weights decoded and rounded to f16) into one
 * of two buffers while the subgroups multiply the other, so one barrier a step separates the stages.
 * Subgroup s multiplies its own 16 · TN weight rows by all BM rows, MT × TN f32 result matrices,
 * which at the end go through workgroup memory to y with the ragged edges cut. TN = 2 where the
 * workgroup storage takes it: each workgroup re-reads its BM activation rows (f32) for every step, so
 * twice the weight rows a workgroup halves those re-reads (Σ N·K · M / BN · 4 bytes a call, from L2). Where the matrix has few tiles,
 * K is split across workgroups and a second pass adds the slices (batchedSplitSumWgsl).
 *
 * Why f16 operands are an opt-in: the op's default contract is f32 accuracy (the kernels round a
 * decoded weight at most once); here x and the decoded weights are each rounded to f16 once more
 * (relative 2⁻¹¹ each, and f16's range), the same as the f16-weight matmul path does to its
 * activations. The integer codes themselves are exact in f16; the rounding is in x and in
 * scale · code.
 */
import type { Capabilities } from '../backends/capabilities.js';
import { f16MatrixConfig } from '../backends/webgpu/capabilities.js';
import { decodeWgsl } from './decode-wgsl.js';
import type { QuantFormat } from './formats.js';
import { tileSliceWgsl } from './tile-slice-wgsl.js';

const S = 4;
const F = 16;
/** K values of one step: every format's block is a multiple of 32. */
const KS = 32;
/** Staged row stride in vec4<u32> (8 halves each): KS halves and one 16-byte pad. */
const LD = KS / 8 + 1;
export const QUANT_SGMAT_MIN_M = 16;
export const QUANT_SGMAT_MAX_M = 256;
const TARGET_WORKGROUPS = 512;
/** The fewest K steps a slice keeps, so short K is not cut into slices that cost more to add than they save. */
const MIN_STEPS = 8;

export interface QuantSgmatTile {
  /** 16-row activation matrices per workgroup (BM = 16 · MT). */
  readonly MT: number;
  /** 16-row weight matrices per subgroup (BN = 16 · TN · S). */
  readonly TN: number;
  /** Lanes of a subgroup. */
  readonly SG: number;
}

/** Weight rows of a workgroup. */
export const quantSgmatBN = (t: Pick<QuantSgmatTile, 'TN'>): number => S * F * t.TN;
const sharedBytes = (MT: number, TN: number) => 2 * (F * MT + S * F * TN) * LD * 16 + S * F * F * 4;

/** The tile for M rows on this device, or why there is none. */
export function quantSgmatTile(m: number, caps: Capabilities): QuantSgmatTile | string {
  const cfg = f16MatrixConfig(caps, 'f32');
  if (!caps.f16 || !cfg || cfg.M !== F || cfg.N !== F || cfg.K !== F)
    return 'the device has no f16×f16→f32 16x16x16 subgroup matrices';
  if (m < QUANT_SGMAT_MIN_M || m > QUANT_SGMAT_MAX_M)
    return `the tensor-core GEMM takes ${QUANT_SGMAT_MIN_M}..${QUANT_SGMAT_MAX_M} rows, got ${m}`;
  const SG = caps.subgroupMaxSize;
  if (!SG || caps.subgroupMinSize !== SG || (F * F) % SG !== 0)
    return `subgroup size ${caps.subgroupMinSize}–${caps.subgroupMaxSize} is not one fixed divisor of 256`;
  if (S * SG > caps.maxComputeInvocationsPerWorkgroup) return `${S * SG} invocations exceed the device's limit`;
  const MT = Math.min(4, Math.ceil(m / F));
  for (const TN of [2, 1]) if (sharedBytes(MT, TN) <= caps.maxComputeWorkgroupStorageSize) return { MT, TN, SG };
  return `the tile needs ${sharedBytes(MT, 1)} bytes of workgroup storage`;
}

/** K values per slice (a multiple of KS) and the number of slices. */
export function quantSgmatSplit(t: QuantSgmatTile, m: number, n: number, k: number): { split: number; kc: number } {
  const tiles = Math.ceil(m / (F * t.MT)) * Math.ceil(n / quantSgmatBN(t));
  const steps = k / KS;
  const want = Math.max(1, Math.min(Math.ceil(TARGET_WORKGROUPS / tiles), Math.floor(steps / MIN_STEPS)));
  const kc = Math.ceil(steps / want) * KS;
  return { split: Math.ceil(k / kc), kc };
}

const r = (n: number) => Array.from({ length: n }, (_, i) => i);

/** The tile's sizes as the generated WGSL uses them. */
interface SgmatGeometry {
  readonly MT: number;
  readonly TN: number;
  readonly SG: number;
  readonly BM: number;
  readonly BN: number;
  /** Invocations per workgroup. */
  readonly T: number;
  /** Result elements per lane in the store. */
  readonly EPL: number;
  /** vec4<u32> of one activation stage and of one weight stage. */
  readonly X: number;
  readonly W: number;
}

function sgmatGeometry(t: QuantSgmatTile): SgmatGeometry {
  const BM = F * t.MT;
  const BN = quantSgmatBN(t);
  return { ...t, BM, BN, T: S * t.SG, EPL: (F * F) / t.SG, X: BM * LD, W: BN * LD };
}

/** The step starting at K offset kk: BM × KS activations and BN × KS decoded weights into stage st. */
function stageWgsl({ BM, BN, T, X, W }: SgmatGeometry): string {
  return `fn stage(st: u32, kk: u32, m0: u32, n0: u32, lid: u32) {
  for (var e = lid; e < ${BM * (KS / 8)}u; e += ${T}u) {
    let row = e / ${KS / 8}u;
    let c = e % ${KS / 8}u;
    var v = vec4<u32>(0u);
    if (m0 + row < u.m) {
      let i = ((m0 + row) * u.k + kk) / 4u + 2u * c;
      let a = x[i];
      let b = x[i + 1u];
      v = vec4<u32>(pack2x16float(a.xy), pack2x16float(a.zw), pack2x16float(b.xy), pack2x16float(b.zw));
    }
    Xs[st * ${X}u + row * ${LD}u + c] = v;
  }
  for (var e = lid; e < ${BN * (KS / 8)}u; e += ${T}u) {
    let row = e / ${KS / 8}u;
    let c = e % ${KS / 8}u;
    var v = vec4<u32>(0u);
    if (n0 + row < u.n) {
      let w = decode8(n0 + row, kk + c * 8u);
      v = vec4<u32>(pack2x16float(w[0].xy), pack2x16float(w[0].zw), pack2x16float(w[1].xy), pack2x16float(w[1].zw));
    }
    Ws[st * ${W}u + row * ${LD}u + c] = v;
  }
}`;
}

/**
 * A switch over the subgroups with `body(s)` in each case. Matrix offsets are compile-time
 * constants (the stage by unrolling two steps, the subgroup by this switch): Dawn predicates a
 * subgroup-matrix load or store whose offset it cannot check statically.
 */
function bySubgroup(body: (s: number) => string): string {
  return `  switch (sg) {
${r(S)
  .map((s) => `    case ${s}u: {\n${body(s)}\n    }`)
  .join('\n')}
    default: {}
  }`;
}

/** Every subgroup's MT × TN result tiles times stage st. */
function multiplyWgsl({ MT, TN, X, W }: SgmatGeometry, st: number): string {
  const left = `subgroup_matrix_left<f16, ${F}, ${F}>`;
  const right = `subgroup_matrix_right<f16, ${F}, ${F}>`;
  return bySubgroup((s) =>
    r(KS / F)
      .map(
        (q) => `      {
${r(TN)
  .map(
    (j) =>
      `        let rq${j} = subgroupMatrixLoad<${right}, col_major>(&Ws, ${st * W + (s * TN + j) * F * LD + q * 2}u, ${LD}u);`,
  )
  .join('\n')}
${r(MT)
  .map(
    (i) =>
      `        { let l = subgroupMatrixLoad<${left}, row_major>(&Xs, ${st * X + i * F * LD + q * 2}u, ${LD}u);\n${r(TN)
        .map((j) => `          c${i}_${j} = subgroupMatrixMultiplyAccumulate(l, rq${j}, c${i}_${j});`)
        .join('\n')} }`,
  )
  .join('\n')}
      }`,
      )
      .join('\n'),
  );
}

/** Step on stage st while the next step goes to the other stage, last read before the previous barrier. */
function stepWgsl(g: SgmatGeometry, st: number): string {
  return `    if (kk + ${KS}u < ke) { stage(${1 - st}u, kk + ${KS}u, m0, n0, lid); }
  ${multiplyWgsl(g, st)}
    workgroupBarrier();
    kk += ${KS}u;
    if (kk >= ke) { break; }`;
}

/** Each result tile through workgroup memory into this slice's plane of y. */
function storeWgsl({ MT, TN, EPL }: SgmatGeometry): string {
  return r(MT * TN)
    .map(
      (
        ij,
      ) => `${bySubgroup((s) => `      subgroupMatrixStore<row_major>(&Cs, ${s * F * F}u, c${Math.floor(ij / TN)}_${ij % TN}, ${F}u);`)}
  workgroupBarrier();
  for (var e = 0u; e < ${EPL}u; e++) {
    let el = lane * ${EPL}u + e;
    let m = m0 + ${Math.floor(ij / TN) * F}u + el / ${F}u;
    let n = n0 + (sg * ${TN}u + ${ij % TN}u) * ${F}u + el % ${F}u;
    if (m < u.m && n < u.n) { y[(slice * u.m + m) * u.n + n] = Cs[sg * ${F * F}u + el]; }
  }
  workgroupBarrier();`,
    )
    .join('\n');
}

/** The entry point: this workgroup's tile and K slice, the double-buffered loop, the store. */
function mainWgsl(g: SgmatGeometry): string {
  const { MT, TN, SG, BM, BN, T } = g;
  const result = `subgroup_matrix_result<f32, ${F}, ${F}>`;
  return `@compute @workgroup_size(${T})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
${tileSliceWgsl(BM, BN)}
  let sg = lid / ${SG}u;
  let lane = lid % ${SG}u;
${r(MT)
  .map((i) =>
    r(TN)
      .map((j) => `  var c${i}_${j} = ${result}();`)
      .join('\n'),
  )
  .join('\n')}
  stage(0u, kb, m0, n0, lid);
  workgroupBarrier();
  var kk = kb;
  loop {
${stepWgsl(g, 0)}
${stepWgsl(g, 1)}
  }
${storeWgsl(g)}
}
`;
}

export function quantSgmatWgsl(format: QuantFormat, t: QuantSgmatTile): string {
  const g = sgmatGeometry(t);
  return /* wgsl */ `enable f16;
enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium.subgroup_matrix_uniformity);
// tiles: row tiles × column tiles of y; kc: K values per slice
struct U { m: u32, n: u32, k: u32, gx: u32, tiles: u32, kc: u32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> wq: array<u32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> u: U;
${decodeWgsl(format, 'u.k', 'u.n')}
// two stages of f16 tiles, 8 halves a vec4<u32>
var<workgroup> Xs: array<vec4<u32>, ${2 * g.X}>;
var<workgroup> Ws: array<vec4<u32>, ${2 * g.W}>;
var<workgroup> Cs: array<f32, ${S * F * F}>;

${stageWgsl(g)}

${mainWgsl(g)}`;
}
