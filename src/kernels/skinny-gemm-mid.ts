/**
 * WGSL of the output-tiled tensor-core skinny GEMM for M = 64–256 (parameters `SkinnyMidParams` in
 * skinny-gemm-params.ts): c [M, N] = a [M, K] · bᵀ with half operands, b [N, K], K a multiple of 8.
 *
 * A workgroup of WM×WN subgroups owns BM rows of M and BN weight rows; subgroup (wm, wn) keeps
 * TM×TN result matrices of that tile in registers for its whole K range. Unlike the K-split sets
 * (skinny-gemm-sgmat.ts), every subgroup multiplies the same K slice, so the result is not held S
 * times and needs no reduction across subgroups, and a is staged once per BN weight rows: the
 * activation bytes per weight byte are BM/BN instead of M/16.
 *
 * Each slice of BK along K is staged global → registers → workgroup memory in 16-byte chunks;
 * D register sets hold the next D slices, so D slices' loads are in flight while one is
 * multiplied, and workgroup memory is double-buffered so one barrier per slice separates the
 * stages. Loads are issued only for chunks inside M, N and the K range (no select on a loaded
 * value) and bf16 is re-rounded to f16 at the store, after the multiply, so nothing waits on a
 * load before the multiply that follows it (in-order issue stalls at the first use).
 *
 * Workgroups are numbered with the M tile fastest, so the workgroups reading the same weight rows
 * run together and the second read of a weight tile (M > BM) comes from L2. Grid z splits K
 * (`midSplit`): each split writes f32 partials to rows z·M + m of a scratch that the split-K GEMM's
 * reduction pass sums in a fixed order through the epilogue; without a split the epilogue runs here.
 * Staged matrix offsets are compile-time constants (stage unrolled, subgroup by a switch): Dawn
 * predicates a subgroup-matrix load whose offset it cannot check statically.
 */
import type { Capabilities, SubgroupMatrixConfig } from '../backends/webgpu/capabilities.js';
import type { DType } from '../tensor/dtype.js';
import { type MatmulPlan, outputWgsl } from './matmul-common.js';
import { rawPlan } from './matmul-sgmat-wgsl.js';
import { type SkinnyMidParams, midStagedRows } from './skinny-gemm-params.js';
import { type StagedSlice, stagedStoreWgsl, stagingRegsWgsl, stagingWalk } from './skinny-staging.js';
import { enables } from './wgsl-dtype.js';

const r = (n: number) => Array.from({ length: n }, (_, i) => i);

interface Layout {
  readonly t: SkinnyMidParams;
  readonly M: number;
  readonly SG: number;
  readonly T: number;
  readonly FM: number;
  readonly FN: number;
  readonly FK: number;
  readonly BM: number;
  readonly BN: number;
  /** M tiles: workgroups per weight tile. */
  readonly MB: number;
  /** Rows of a staged per slice. */
  readonly rowsA: number;
  /** Staged row stride in halves (padded against bank conflicts, a multiple of 8). */
  readonly LD: number;
  readonly aStage: number;
  readonly bStage: number;
  readonly split: boolean;
}

function layout(
  p: MatmulPlan,
  caps: Pick<Capabilities, 'subgroupMaxSize'>,
  cfg: SubgroupMatrixConfig,
  t: SkinnyMidParams,
  split: boolean,
): Layout {
  const SG = caps.subgroupMaxSize || 32;
  const BM = t.WM * t.TM * cfg.M;
  const rowsA = midStagedRows(t, p.g.M, cfg.M);
  const LD = t.BK + 8;
  const BN = t.WN * t.TN * cfg.N;
  return {
    t,
    M: p.g.M,
    SG,
    T: t.WM * t.WN * SG,
    FM: cfg.M,
    FN: cfg.N,
    FK: cfg.K,
    BM,
    BN,
    MB: Math.ceil(p.g.M / BM),
    rowsA,
    LD,
    aStage: rowsA * LD,
    bStage: BN * LD,
    split,
  };
}

/**
 * Whether result row-tile i of subgroup row wm can hold rows of M. With one M tile the rows past
 * M are known when generating, and their matrices are neither loaded nor multiplied.
 */
function live(L: Layout, wm: number, i: number): boolean {
  return L.MB > 1 || (wm * L.t.TM + i) * L.FM < L.M;
}

/** Loads of the slice at k0 into register set d, and stores of a register set into a stage. */
function staging(p: MatmulPlan, L: Layout) {
  const per = L.t.BK / 8;
  const slice: StagedSlice = {
    T: L.T,
    per,
    aChunks: L.rowsA * per,
    bChunks: L.BN * per,
    D: L.t.D,
    aStage: L.aStage,
    bStage: L.bStage,
    LD: L.LD,
  };
  const walk = stagingWalk(slice);
  const { AP, BP, guard, coord } = walk;
  const { aChunks, bChunks } = slice;
  const load = (k0: string, d: number) => `{
    let k0 = ${k0};
${r(AP)
  .map(
    (i) =>
      `    ${guard(i, aChunks)}{ ${coord(i)} let m = m0 + rr; let k = k0 + cc; ra${d}_${i} = vec4<u32>(); if (m < ${L.M}u && k < kEnd) { ra${d}_${i} = a[(m * K + k) / 8u]; } }`,
  )
  .join('\n')}
${r(BP)
  .map(
    (i) =>
      `    ${guard(i, bChunks)}{ ${coord(i)} let n = nl0 + rr; let k = k0 + cc; rb${d}_${i} = vec4<u32>(); if (n < nCount && k < kEnd) { rb${d}_${i} = b[(n * K + k) / 8u]; } }`,
  )
  .join('\n')}
  }`;
  return { regs: stagingRegsWgsl(slice, walk), load, store: stagedStoreWgsl(p, slice, walk) };
}

/** Subgroup (wm, wn) multiplies stage `stage` into its TM × TN accumulators, one switch case each. */
function compute(L: Layout, stage: number): string {
  const { TM, TN, WM, WN, BK } = L.t;
  const left = `subgroup_matrix_left<f16, ${L.FK}, ${L.FM}>`;
  const right = `subgroup_matrix_right<f16, ${L.FN}, ${L.FK}>`;
  const stride = L.LD / 8;
  const step = (wm: number, wn: number, q: number) => {
    const kk = q * L.FK;
    const rows = r(TM).filter((i) => live(L, wm, i));
    return `        {
${rows
  .map(
    (i) =>
      `        let l${i} = subgroupMatrixLoad<${left}, row_major>(&As, ${(stage * L.aStage + (wm * TM + i) * L.FM * L.LD + kk) / 8}u, ${stride}u);`,
  )
  .join('\n')}
${r(TN)
  .map(
    (j) =>
      `        let q${j} = subgroupMatrixLoad<${right}, col_major>(&Bs, ${(stage * L.bStage + (wn * TN + j) * L.FN * L.LD + kk) / 8}u, ${stride}u);`,
  )
  .join('\n')}
${rows
  .map((i) =>
    r(TN)
      .map((j) => `        c${i}_${j} = subgroupMatrixMultiplyAccumulate(l${i}, q${j}, c${i}_${j});`)
      .join('\n'),
  )
  .join('\n')}
        }`;
  };
  const cases = r(WM * WN)
    .map((g) => {
      const wm = Math.floor(g / WN);
      const wn = g % WN;
      if (!r(TM).some((i) => live(L, wm, i))) return '';
      return `      case ${g}u: {\n${r(BK / L.FK)
        .map((q) => step(wm, wn, q))
        .join('\n')}\n      }`;
    })
    .filter((c) => c);
  return `    switch (sg) {
${cases.join('\n')}
      default: {}
    }`;
}

/** Result matrix (i, j) of every subgroup through its slot of Cs, two columns per lane into `write_out`. */
function writeResult(L: Layout, i: number, j: number): string {
  const F = L.FM * L.FN;
  const row = L.split ? `wg.z * ${L.M}u + m` : 'm';
  return `
  subgroupMatrixStore<row_major>(&Cs, sg * ${F}u, c${i}_${j}, ${L.FN}u);
  workgroupBarrier();
  for (var q = 0u; q < ${F / 2 / L.SG}u; q++) {
    let e = 2u * (lane + q * ${L.SG}u);
    let m = m0 + wm * ${L.t.TM * L.FM}u + ${i * L.FM}u + e / ${L.FN}u;
    let n = nl0 + wn * ${L.t.TN * L.FN}u + ${j * L.FN}u + e % ${L.FN}u;
    if (m < ${L.M}u && n < nCount) { write_out(${row}, uw(3u) + n, Cs[sg * ${F}u + e], Cs[sg * ${F}u + e + 1u], colEnd); }
  }
  workgroupBarrier();`;
}

/**
 * The K loop over this workgroup's range [kBeg, kEnd): the first slice staged, the next D loaded,
 * then one multiply, one stage and one barrier per slice.
 */
function kLoop(L: Layout, st: ReturnType<typeof staging>): string {
  const { D, BK: KS, probe } = L.t;
  // the loop body unrolls to lcm(2, D) slices so stage and register set are compile-time constants
  const U = D === 4 ? 4 : 2;
  // slice u of the body: multiply stage u % 2; stage the next slice from its register set, which then
  // takes the loads of the slice D further on; the other D - 1 sets stay in flight throughout
  const slice = (u: number) => {
    const next = (u + 1) % D;
    const stage = probe
      ? ''
      : `if (k0 + ${KS}u < kEnd) {
      ${st.store((u + 1) % 2, next)}
      if (k0 + ${(D + 1) * KS}u < kEnd) ${st.load(`k0 + ${(D + 1) * KS}u`, next)}
    }`;
    return `${compute(L, u % 2)}
    ${stage}
    workgroupBarrier();
    k0 += ${KS}u;
    if (k0 >= kEnd) { break; }`;
  };
  const prefetch = r(D)
    .map((d) => `  if (kBeg + ${(d + 1) * KS}u < kEnd) ${st.load(`kBeg + ${(d + 1) * KS}u`, (d + 1) % D)}`)
    .join('\n');
  return `  ${st.load('kBeg', 0)}
  ${st.store(0, 0)}
${prefetch}
  workgroupBarrier();
  var k0 = kBeg;
  loop {
${r(U).map(slice).join('\n')}
  }`;
}

/**
 * The kernel; `split` says whether grid z splits K (then it writes raw f32 partials, `rawPlan`).
 * Uniform word 7 holds the K length of one split (K itself without a split).
 */
export function skinnyMidWgsl(
  p: MatmulPlan,
  caps: Pick<Capabilities, 'f16' | 'subgroupMaxSize'>,
  cfg: SubgroupMatrixConfig,
  t: SkinnyMidParams,
  split: boolean,
): string {
  const L = layout(p, caps, cfg, t, split);
  if ((L.FM * L.FN) % (2 * L.SG)) throw new Error('a result matrix must split into pairs over the subgroup');
  const st = staging(p, L);
  const acc = r(t.TM)
    .map((i) =>
      r(t.TN)
        .map((j) => `  var c${i}_${j} = subgroup_matrix_result<f32, ${L.FN}, ${L.FM}>();`)
        .join('\n'),
    )
    .join('\n');
  const out = split ? rawPlan(p) : p;
  return `${enables(['f16', out.outDtype, ...out.extraDtypes], caps)}enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium.subgroup_matrix_uniformity);
@group(0) @binding(0) var<storage, read> a: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read> b: array<vec4<u32>>;
${outputWgsl(out, caps, 2)}
var<workgroup> As: array<vec4<u32>, ${(2 * L.aStage) / 8}>;
var<workgroup> Bs: array<vec4<u32>, ${(2 * L.bStage) / 8}>;
var<workgroup> Cs: array<f32, ${t.WM * t.WN * L.FM * L.FN}>;
@compute @workgroup_size(${L.T})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let K = uw(2u); let nCount = uw(4u);
  // the M tile varies fastest: the workgroups sharing a weight tile are neighbours in launch order
  let lin = wg.x + wg.y * nwg.x;
  let m0 = (lin % ${L.MB}u) * ${L.BM}u;
  let nl0 = (lin / ${L.MB}u) * ${L.BN}u;
  if (nl0 >= nCount) { return; }
  let kBeg = wg.z * uw(7u);
  let kEnd = min(K, kBeg + uw(7u));
  let sg = lid / ${L.SG}u;
  let lane = lid % ${L.SG}u;
  let wm = sg / ${t.WN}u;
  let wn = sg % ${t.WN}u;
${acc}
${st.regs}
${kLoop(L, st)}
  let colEnd = uw(3u) + nCount;
${r(t.TM)
  .map((i) =>
    r(t.TN)
      .map((j) => writeResult(L, i, j))
      .join('\n'),
  )
  .join('\n')}
}`;
}
