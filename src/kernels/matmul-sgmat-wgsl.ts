/**
 * WGSL of the f16 GEMM on tensor cores through `chromium_experimental_subgroup_matrix` (f16×f16→f32).
 *
 * A workgroup of WM×WN subgroups owns a BM×BN tile of c; each subgroup keeps TM×TN result
 * matrices (FM×FN each, from the device's configuration) in registers for the whole K loop. Each
 * BK-deep slice of a and b goes global → registers → workgroup memory in 16-byte chunks, the next
 * slice's loads issued before the current slice's multiplies (register prefetch) and workgroup
 * memory double-buffered, so one barrier per slice separates the stages. b is staged in its own
 * layout: [K, N] rows load as row-major right matrices, [N, K] rows (transB) as column-major ones.
 * Results go through a small per-subgroup workgroup buffer so the epilogue and any output dtype
 * reuse `write_out`.
 *
 * bf16 operands are converted to f16 while staging. That is exact for |x| in [2⁻¹⁴, 65504] (bf16's
 * 8-bit mantissa fits f16's 11 bits there) and for 0; below 2⁻¹⁴ values become f16 subnormals
 * (absolute error ≤ 2⁻²⁵, negligible against f32 accumulation of unit-scale data); above 65504
 * they would overflow, which LLM weights and activations do not reach — `precise: true` keeps bf16
 * on the tiled f32 path for data that might. f32 operands always use the tiled path.
 *
 * The generator is built from pieces: the tile layout and the tile loads (global → registers →
 * workgroup memory) in matmul-sgmat-staging.ts; here the MMA over one staged slice, the K loop,
 * split-K's K range, and the epilogue that writes the result matrices through `write_out`.
 */
import type { Capabilities, SubgroupMatrixConfig } from '../backends/webgpu/capabilities.js';
import { type MatmulPlan, outputWgsl } from './matmul-common.js';
import type { SgmatParams } from './matmul-sgmat-params.js';
import {
  type SgmatLayout,
  loadRegs,
  operandDecls,
  scalarLoaders,
  sgmatLayout,
  storeRegs,
} from './matmul-sgmat-staging.js';
import { enables } from './wgsl-dtype.js';

const r = (n: number) => Array.from({ length: n }, (_, i) => i);

function matrixLoad(L: SgmatLayout, kind: 'left' | 'right', buf: string, off: number, colMajor: boolean): string {
  const ty =
    kind === 'left' ? `subgroup_matrix_left<f16, ${L.FK}, ${L.FM}>` : `subgroup_matrix_right<f16, ${L.FN}, ${L.FK}>`;
  const stride = (kind === 'left' ? L.LDA : L.LDB) / L.div;
  return L.t.syntax === 'template'
    ? `subgroupMatrixLoad<${ty}, ${colMajor ? 'col_major' : 'row_major'}>(&${buf}, ${off}u, ${stride}u)`
    : `subgroupMatrixLoad<${ty}>(&${buf}, ${off}u, ${colMajor}, ${stride}u)`;
}

function matrixStore(L: SgmatLayout, buf: string, off: string, v: string, stride: number): string {
  return L.t.syntax === 'template'
    ? `subgroupMatrixStore<row_major>(&${buf}, ${off}, ${v}, ${stride}u);`
    : `subgroupMatrixStore(&${buf}, ${off}, ${v}, false, ${stride}u);`;
}

/**
 * Matrix offsets are compile-time constants: Dawn's robustness pass predicates a subgroup-matrix
 * load whose offset it cannot check statically (a select on offset and stride), and with a
 * run-time stride the driver's load path was 2.5× slower on the H100. So the stage is fixed by
 * unrolling the K loop twice, and each subgroup's tile position by a switch on its index.
 */
function leftOffset(L: SgmatLayout, stage: number, wm: number, i: number, kk: number): number {
  return (stage * L.aStage + (wm * L.t.TM * L.FM + i * L.FM) * L.LDA + kk) / L.div;
}

function rightOffset(L: SgmatLayout, stage: number, wn: number, j: number, kk: number): number {
  const col = wn * L.t.TN * L.FN + j * L.FN;
  return (L.transB ? stage * L.bStage + col * L.LDB + kk : stage * L.bStage + kk * L.LDB + col) / L.div;
}

/** One FK-deep step of subgroup (wm, wn): load its TM left and TN right matrices, multiply-accumulate TM×TN. */
function mmaStep(L: SgmatLayout, stage: number, wm: number, wn: number, q: number): string {
  const { TM, TN } = L.t;
  const left = r(TM).map(
    (i) => `        let l${i} = ${matrixLoad(L, 'left', 'As', leftOffset(L, stage, wm, i, q * L.FK), false)};`,
  );
  const right = r(TN).map(
    (j) => `        let q${j} = ${matrixLoad(L, 'right', 'Bs', rightOffset(L, stage, wn, j, q * L.FK), L.transB)};`,
  );
  const mma = r(TM).map((i) =>
    r(TN)
      .map((j) => `        c${i}_${j} = subgroupMatrixMultiplyAccumulate(l${i}, q${j}, c${i}_${j});`)
      .join('\n'),
  );
  return `        {
${left.join('\n')}
${right.join('\n')}
${mma.join('\n')}
        }`;
}

/** The MMA over staged slice `stage`, one switch case per subgroup so every offset is a constant. */
function mmaSlice(L: SgmatLayout, stage: number): string {
  const { WM, WN, BK } = L.t;
  const cases = r(WM * WN).map((g) => {
    const wm = Math.floor(g / WN),
      wn = g % WN;
    return `      case ${g}u: {
${r(BK / L.FK)
  .map((q) => mmaStep(L, stage, wm, wn, q))
  .join('\n')}
      }`;
  });
  return `    switch (sg) {
${cases.join('\n')}
      default: {}
    }`;
}

/** One K slice: prefetch the next slice into registers, multiply this stage, stage the next. */
function kSlice(L: SgmatLayout, p: MatmulPlan, stage: number): string {
  const { BK, probe } = L.t;
  return `    ${probe ? '' : `if (k0 + ${BK}u < kEnd) ${loadRegs(L, p, `k0 + ${BK}u`)}`}
${mmaSlice(L, stage)}
    ${probe === 'compute-only' ? '' : `if (k0 + ${BK}u < kEnd) ${storeRegs(L, 1 - stage)}`}
    workgroupBarrier();
    k0 += ${BK}u;
    if (k0 >= kEnd) { break; }`;
}

/** The K range of this workgroup; with split K, grid z picks a range and partial sums go to rows z·M + m of the f32 scratch. */
function kRange(L: SgmatLayout): string {
  return L.split
    ? `  // split K: grid z picks a K range; partial sums go to rows z·M + m of the f32 scratch
  let aBase = 0u;
  let bBase = 0u;
  let kBeg = wg.z * uw(7u);
  let kEnd = min(K, kBeg + uw(7u));`
    : `  let aBase = wg.z * uw(5u);
  let bBase = wg.z * uw(6u);
  let kBeg = 0u;
  let kEnd = K;`;
}

/** Epilogue of result matrix (i, j): through the subgroup's slot of Cs, two columns per lane into `write_out`. */
function writeResult(L: SgmatLayout, i: number, j: number): string {
  const { FM, FN, SG } = L;
  return `
  ${matrixStore(L, 'Cs', `sg * ${FM * FN}u`, `c${i}_${j}`, FN)}
  workgroupBarrier();
  for (var q = 0u; q < ${(FM * FN) / 2 / SG}u; q++) {
    let e = 2u * (lane + q * ${SG}u);
    let m = m0 + wm * ${L.t.TM * FM}u + ${i * FM}u + e / ${FN}u;
    let n = nl0 + wn * ${L.t.TN * FN}u + ${j * FN}u + e % ${FN}u;
    if (m < M && n < nCount) { write_out(wg.z * M + m, uw(3u) + n, Cs[sg * ${FM * FN}u + e], Cs[sg * ${FM * FN}u + e + 1u], colEnd); }
  }
  workgroupBarrier();`;
}

/** For each (i, j) of the TM×TN result matrices, in row-major order. */
function perResult(L: SgmatLayout, f: (i: number, j: number) => string): string {
  return r(L.t.TM)
    .map((i) =>
      r(L.t.TN)
        .map((j) => f(i, j))
        .join('\n'),
    )
    .join('\n');
}

function registerDecls(L: SgmatLayout): string {
  return `${perResult(L, (i, j) => `  var c${i}_${j} = subgroup_matrix_result<f32, ${L.FN}, ${L.FM}>();`)}
${r(L.AP)
  .map((i) => `  var ra${i}: vec4<u32>;`)
  .join('\n')}
${r(L.BP)
  .map((i) => `  var rb${i}: vec4<u32>;`)
  .join('\n')}`;
}

function mainWgsl(L: SgmatLayout, p: MatmulPlan): string {
  return `@compute @workgroup_size(${L.T})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let M = uw(0u); let K = uw(2u); let nCount = uw(4u);
  let m0 = wg.y * ${L.BM}u;
  let nl0 = wg.x * ${L.BN}u;
${kRange(L)}
${L.vec ? '' : '  g_aBase = aBase; g_bBase = bBase;'}
  let sg = lid / ${L.SG}u;
  let lane = lid % ${L.SG}u;
  let wm = sg / ${L.t.WN}u;
  let wn = sg % ${L.t.WN}u;
${registerDecls(L)}
  ${loadRegs(L, p, 'kBeg')}
  ${storeRegs(L, 0)}
  workgroupBarrier();
  var k0 = kBeg;
  loop {
${kSlice(L, p, 0)}
${kSlice(L, p, 1)}
  }
  let colEnd = uw(3u) + nCount;
${perResult(L, (i, j) => writeResult(L, i, j))}
}`;
}

export function sgmatWgsl(p: MatmulPlan, caps: Capabilities, cfg: SubgroupMatrixConfig, t: SgmatParams): string {
  const L = sgmatLayout(p, caps, cfg, t);
  if (L.LDA % L.div || L.LDB % L.div)
    throw new Error(`${L.elem} staging needs row strides that are multiples of ${L.div} halves`);
  return `${enables(['f16'], caps)}enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium.subgroup_matrix_uniformity);
${operandDecls(L, p, caps)}
${outputWgsl(L.split ? rawPlan(p) : p, { f16: caps.f16 }, 2)}
var<workgroup> As: array<${L.elem}, ${(2 * L.aStage) / L.div}>;
var<workgroup> Bs: array<${L.elem}, ${(2 * L.bStage) / L.div}>;
var<workgroup> Cs: array<f32, ${t.WM * t.WN * L.FM * L.FN}>;
${scalarLoaders(L, p, caps)}
${mainWgsl(L, p)}`;
}

/** The plan a split-K pass writes with: plain f32 partial sums, no epilogue (the reduction applies it). */
export function rawPlan(p: MatmulPlan): MatmulPlan {
  return {
    ...p,
    attrs: { ...p.attrs, epilogue: undefined },
    outDtype: 'f32',
    extraDtypes: [],
    extraStrides: [],
    viaScratch: false,
  };
}

/** Sums split-K partials [splits, M, N] and stores through the real plan's epilogue and dtype. */
export function splitReduceWgsl(p: MatmulPlan, caps: Pick<Capabilities, 'f16'>): string {
  return `${enables([p.outDtype, ...p.extraDtypes], caps)}@group(0) @binding(0) var<storage, read> part: array<f32>;
${outputWgsl(p, caps, 1)}
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let M = uw(0u); let N = uw(1u); let splits = uw(7u);
  let pairsPerRow = (N + 1u) / 2u;
  let idx = gid.x + gid.y * nwg.x * 256u;
  let row = idx / pairsPerRow;
  if (row >= M) { return; }
  let col = (idx % pairsPerRow) * 2u;
  let has1 = col + 1u < N;
  var v0 = 0.0; var v1 = 0.0;
  for (var s = 0u; s < splits; s++) {
    let o = (s * M + row) * N + col;
    v0 += part[o];
    if (has1) { v1 += part[o + 1u]; }
  }
  write_out(row, col, v0, v1, N);
}`;
}
