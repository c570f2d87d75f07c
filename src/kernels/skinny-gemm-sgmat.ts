/**
 * WGSL of the tensor-core skinny GEMM (parameters in `skinny-gemm-params.ts`): c [M, N] = a [M, K]
 * · bᵀ with half operands, b [N, K], K a multiple of 8, M ≤ 128 padded to the matrix M.
 *
 * A workgroup owns TN·FN weight rows and all of M, so the weights leave DRAM once and there is no
 * split-K pass. Each slice of S·BK along K is staged global → registers → workgroup memory in
 * 16-byte chunks (bf16 re-rounded to f16, as in matmul-sgmat-wgsl.ts, whose notes on accuracy
 * apply). D register sets hold the next D slices, so D slices' loads are in flight while a slice
 * is multiplied; workgroup memory is double-buffered so one barrier per slice separates the
 * stages. Subgroup s multiplies columns [s·BK, (s+1)·BK) of the slice; the S partial results meet
 * in workgroup memory at the end, one result matrix at a time, and go out through `write_out`
 * (epilogue and any output dtype).
 * Staged matrix offsets are compile-time constants (stage unrolled, subgroup by a switch): Dawn
 * predicates a subgroup-matrix load whose offset it cannot check statically. With AG the activation
 * matrices are instead loaded in place from the f16 activation buffer (predicated loads, but no
 * staging, no workgroup memory for M, and no re-staging of all of M per slice per workgroup).
 */
import type { Capabilities, SubgroupMatrixConfig } from '../backends/webgpu/capabilities.js';
import type { DType } from '../tensor/dtype.js';
import { type MatmulPlan, outputWgsl } from './matmul-common.js';
import type { SkinnySgmatParams } from './skinny-gemm-params.js';
import { type StagedSlice, stagedStoreWgsl, stagingRegsWgsl, stagingWalk } from './skinny-staging.js';
import { enables } from './wgsl-dtype.js';

const r = (n: number) => Array.from({ length: n }, (_, i) => i);

interface Layout {
  SG: number;
  T: number;
  FM: number;
  FN: number;
  FK: number;
  MT: number;
  mPad: number;
  BN: number;
  KS: number;
  /** Staged row stride in halves (padded against bank conflicts, a multiple of 8). */
  LD: number;
  aStage: number;
  bStage: number;
  /** Register sets of slices in flight. */
  D: number;
  /** Activations loaded in place (not staged). */
  AG: boolean;
}

function layout(
  p: MatmulPlan,
  caps: Pick<Capabilities, 'subgroupMaxSize'>,
  cfg: SubgroupMatrixConfig,
  t: SkinnySgmatParams,
): Layout {
  const SG = caps.subgroupMaxSize || 32;
  const MT = Math.ceil(p.g.M / cfg.M);
  const mPad = MT * cfg.M;
  const BN = t.TN * cfg.N;
  const KS = t.S * t.BK;
  const LD = KS + 8;
  const AG = t.AG ?? false;
  return {
    SG,
    T: t.S * SG,
    FM: cfg.M,
    FN: cfg.N,
    FK: cfg.K,
    MT,
    mPad,
    BN,
    KS,
    LD,
    aStage: AG ? 0 : mPad * LD,
    bStage: BN * LD,
    D: t.D ?? 1,
    AG,
  };
}

/**
 * Loads of the slice at k0 into register set d (ra{d}_*, rb{d}_*), and their stores into stage
 * `stage`. Rows past M or N and columns past K load as zeros; a load the guard rules out is not
 * issued at all (no wasted bytes at the ragged edges).
 */
function staging(
  p: MatmulPlan,
  L: Layout,
): { regs: string; load: (k0: string, d: number) => string; store: (stage: number, d: number) => string } {
  const per = L.KS / 8;
  const slice: StagedSlice = {
    T: L.T,
    per,
    aChunks: L.AG ? 0 : L.mPad * per,
    bChunks: L.BN * per,
    D: L.D,
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
      `    ${guard(i, aChunks)}{ ${coord(i)} let k = k0 + cc; ra${d}_${i} = vec4<u32>(); if (rr < ${p.g.M}u && k < K) { ra${d}_${i} = a[(rr * K + k) / 8u]; } }`,
  )
  .join('\n')}
${r(BP)
  .map(
    (i) =>
      `    ${guard(i, bChunks)}{ ${coord(i)} let n = nl0 + rr; let k = k0 + cc; rb${d}_${i} = vec4<u32>(); if (n < nCount && k < K) { rb${d}_${i} = b[(n * K + k) / 8u]; } }`,
  )
  .join('\n')}
  }`;
  return { regs: stagingRegsWgsl(slice, walk), load, store: stagedStoreWgsl(p, slice, walk) };
}

/** Subgroup s multiplies its BK columns of stage `stage` into its MT × TN accumulators. */
function compute(L: Layout, t: SkinnySgmatParams, stage: number): string {
  const left = `subgroup_matrix_left<f16, ${L.FK}, ${L.FM}>`;
  const right = `subgroup_matrix_right<f16, ${L.FN}, ${L.FK}>`;
  const stride = L.LD / 8;
  const step = (s: number, q: number) => {
    const kk = s * t.BK + q * L.FK;
    return `        {
${r(L.MT)
  .map((i) =>
    L.AG
      ? `        let l${i} = subgroupMatrixLoad<${left}, row_major>(&a, ${i * L.FM}u * K + k0 + ${kk}u, K);`
      : `        let l${i} = subgroupMatrixLoad<${left}, row_major>(&As, ${(stage * L.aStage + i * L.FM * L.LD + kk) / 8}u, ${stride}u);`,
  )
  .join('\n')}
${r(t.TN)
  .map(
    (j) =>
      `        let q${j} = subgroupMatrixLoad<${right}, col_major>(&Bs, ${(stage * L.bStage + j * L.FN * L.LD + kk) / 8}u, ${stride}u);`,
  )
  .join('\n')}
${r(L.MT)
  .map((i) =>
    r(t.TN)
      .map((j) => `        c${i}_${j} = subgroupMatrixMultiplyAccumulate(l${i}, q${j}, c${i}_${j});`)
      .join('\n'),
  )
  .join('\n')}
        }`;
  };
  return `    switch (sg) {
${r(t.S)
  .map(
    (s) =>
      `      case ${s}u: {\n${r(t.BK / L.FK)
        .map((q) => step(s, q))
        .join('\n')}\n      }`,
  )
  .join('\n')}
      default: {}
    }`;
}

/** Sums the S subgroups' result matrix (i, j) in workgroup memory and writes it in pairs. */
function writeResult(p: MatmulPlan, L: Layout, t: SkinnySgmatParams, i: number, j: number): string {
  const F = L.FM * L.FN;
  return `
  subgroupMatrixStore<row_major>(&Cs, sg * ${F}u, c${i}_${j}, ${L.FN}u);
  workgroupBarrier();
  for (var q = lid; q < ${F / 2}u; q += ${L.T}u) {
    let e = 2u * q;
    let m = ${i * L.FM}u + e / ${L.FN}u;
    let n = nl0 + ${j * L.FN}u + e % ${L.FN}u;
    var v0 = 0.0; var v1 = 0.0;
    for (var s = 0u; s < ${t.S}u; s++) { v0 += Cs[s * ${F}u + e]; v1 += Cs[s * ${F}u + e + 1u]; }
    if (m < ${p.g.M}u && n < nCount) { write_out(m, uw(3u) + n, v0, v1, uw(3u) + nCount); }
  }
  workgroupBarrier();`;
}

export function skinnySgmatWgsl(
  p: MatmulPlan,
  caps: Pick<Capabilities, 'f16' | 'subgroupMaxSize'>,
  cfg: SubgroupMatrixConfig,
  t: SkinnySgmatParams,
): string {
  const L = layout(p, caps, cfg, t);
  const st = staging(p, L);
  const D = L.D;
  // the loop body unrolls to lcm(2, D) slices so stage and register set are compile-time constants
  const U = D === 4 ? 4 : 2;
  // slice u of the body: multiply stage u % 2; stage the next slice from its register set, which then
  // takes the loads of the slice D further on; the other D - 1 sets stay in flight throughout
  const slice = (u: number) => {
    const next = (u + 1) % D;
    return `${compute(L, t, u % 2)}
    if (k0 + ${L.KS}u < K) {
      ${st.store((u + 1) % 2, next)}
      if (k0 + ${(D + 1) * L.KS}u < K) ${st.load(`k0 + ${(D + 1) * L.KS}u`, next)}
    }
    workgroupBarrier();
    k0 += ${L.KS}u;
    if (k0 >= K) { break; }`;
  };
  const prefetch = r(D)
    .map((d) => `  if (${(d + 1) * L.KS}u < K) ${st.load(`${(d + 1) * L.KS}u`, (d + 1) % D)}`)
    .join('\n');
  return `${enables(['f16', p.outDtype, ...p.extraDtypes], caps)}enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium.subgroup_matrix_uniformity);
@group(0) @binding(0) var<storage, read> a: array<${L.AG ? 'f16' : 'vec4<u32>'}>;
@group(0) @binding(1) var<storage, read> b: array<vec4<u32>>;
${outputWgsl(p, caps, 2)}
${L.AG ? '' : `var<workgroup> As: array<vec4<u32>, ${(2 * L.aStage) / 8}>;`}
var<workgroup> Bs: array<vec4<u32>, ${(2 * L.bStage) / 8}>;
var<workgroup> Cs: array<f32, ${t.S * L.FM * L.FN}>;
@compute @workgroup_size(${L.T})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let K = uw(2u); let nCount = uw(4u);
  let nl0 = (wg.x + wg.y * nwg.x) * ${L.BN}u;
  let sg = lid / ${L.SG}u;
${r(L.MT)
  .map((i) =>
    r(t.TN)
      .map((j) => `  var c${i}_${j} = subgroup_matrix_result<f32, ${L.FN}, ${L.FM}>();`)
      .join('\n'),
  )
  .join('\n')}
${st.regs}
  ${st.load('0u', 0)}
  ${st.store(0, 0)}
${prefetch}
  workgroupBarrier();
  var k0 = 0u;
  loop {
${r(U).map(slice).join('\n')}
  }
${r(L.MT)
  .map((i) =>
    r(t.TN)
      .map((j) => writeResult(p, L, t, i, j))
      .join('\n'),
  )
  .join('\n')}
}`;
}
