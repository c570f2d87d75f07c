/**
 * f16 GEMM on tensor cores through `chromium_experimental_subgroup_matrix` (f16×f16→f32).
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
 */
import type { Attrs, TensorDesc } from '../backends/backend.js';
import { type Capabilities, type SubgroupMatrixConfig, f16MatrixConfig } from '../backends/webgpu/capabilities.js';
import type { MatmulAttrs } from '../ops/matmul.js';
import type { DType } from '../tensor/dtype.js';
import {
  type MatmulPlan,
  commonProblem,
  grid,
  matmulUniforms,
  outputAccess,
  outputTarget,
  outputWgsl,
  packScratch,
  planMatmul,
  weightRanges,
} from './matmul-common.js';
import type { GpuKernel } from '../backends/webgpu/kernel.js';
import { enables, loadF32, storageDecl } from './wgsl-dtype.js';

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

const r = (n: number) => Array.from({ length: n }, (_, i) => i);

/** Two f16 from one stored word (vec of u32): f16 pairs pass through, bf16 pairs are re-rounded to f16. */
function toF16Pair(d: DType, w: string): string {
  return d === 'bf16' ? `pack2x16float(vec2<f32>(bitcast<f32>(${w} << 16u), bitcast<f32>(${w} & 0xffff0000u)))` : w;
}

export function sgmatVectorised(p: MatmulPlan): boolean {
  return p.g.K % 8 === 0 && (p.attrs.transB || p.g.N % 8 === 0);
}

export function sgmatWgsl(p: MatmulPlan, caps: Capabilities, cfg: SubgroupMatrixConfig, t: SgmatParams): string {
  const { WM, WN, TM, TN, BK, pad } = t;
  const SG = caps.subgroupMaxSize || 32;
  const T = WM * WN * SG;
  const FM = cfg.M,
    FN = cfg.N,
    FK = cfg.K;
  const BM = WM * TM * FM;
  const BN = WN * TN * FN;
  const transB = !!p.attrs.transB;
  const vec = sgmatVectorised(p);
  const split = t.splitK > 1;
  // staged layouts (in halves): a [BM][LDA]; b transB [BN][LDB] else [BK][LDB]
  const LDA = BK + pad;
  const LDB = transB ? BK + pad : BN + pad;
  const aStage = BM * LDA;
  const bStage = transB ? BN * LDB : BK * LDB;
  const aChunks = (BM * BK) / 8;
  const bChunks = (BN * BK) / 8;
  // chunks per invocation; the last round is guarded where the chunks do not divide evenly
  const AP = Math.ceil(aChunks / T),
    BP = Math.ceil(bChunks / T);
  const guardA = (i: number) => (T * (i + 1) > aChunks ? `if (lid + ${T * i}u < ${aChunks}u) ` : '');
  const guardB = (i: number) => (T * (i + 1) > bChunks ? `if (lid + ${T * i}u < ${bChunks}u) ` : '');
  const tmpl = t.syntax === 'template';
  const ld = (kind: 'left' | 'right', buf: string, off: string, colMajor: boolean, stride: number) => {
    const ty = kind === 'left' ? `subgroup_matrix_left<f16, ${FK}, ${FM}>` : `subgroup_matrix_right<f16, ${FN}, ${FK}>`;
    return tmpl
      ? `subgroupMatrixLoad<${ty}, ${colMajor ? 'col_major' : 'row_major'}>(&${buf}, ${off}, ${stride}u)`
      : `subgroupMatrixLoad<${ty}>(&${buf}, ${off}, ${colMajor}, ${stride}u)`;
  };
  const st = (buf: string, off: string, v: string, stride: number) =>
    tmpl
      ? `subgroupMatrixStore<row_major>(&${buf}, ${off}, ${v}, ${stride}u);`
      : `subgroupMatrixStore(&${buf}, ${off}, ${v}, false, ${stride}u);`;
  const elem = t.smem === 'vec4u32' ? 'vec4<u32>' : t.smem === 'vec4f16' ? 'vec4<f16>' : 'f16';
  const div = t.smem === 'vec4u32' ? 8 : t.smem === 'vec4f16' ? 4 : 1;
  const smemStore = (buf: string, idx: string, v: string) =>
    t.smem === 'vec4u32'
      ? `${buf}[(${idx}) / 8u] = ${v};`
      : t.smem === 'vec4f16'
        ? `${buf}[(${idx}) / 4u] = bitcast<vec4<f16>>(${v}.xy); ${buf}[(${idx}) / 4u + 1u] = bitcast<vec4<f16>>(${v}.zw);`
        : r(4)
            .map(
              (q) =>
                `{ let h = bitcast<vec2<f16>>(${v}[${q}]); ${buf}[${idx} + ${2 * q}u] = h.x; ${buf}[${idx} + ${2 * q + 1}u] = h.y; }`,
            )
            .join(' ');
  // one chunk = 8 consecutive halves along a stored row, as vec4<u32> of f16 pairs
  const chunkA = vec
    ? `select(vec4<u32>(), a[(aBase + m * K + k) / 8u], m < M && k < kEnd)`
    : `vec4<u32>(${r(4)
        .map((q) => `pack2x16float(vec2<f32>(ldA(m, k + ${2 * q}u, kEnd), ldA(m, k + ${2 * q + 1}u, kEnd)))`)
        .join(', ')})`;
  const chunkB = transB
    ? vec
      ? `select(vec4<u32>(), b[(bBase + n * K + k) / 8u], n < nCount && k < kEnd)`
      : `vec4<u32>(${r(4)
          .map((q) => `pack2x16float(vec2<f32>(ldB(n, k + ${2 * q}u, kEnd), ldB(n, k + ${2 * q + 1}u, kEnd)))`)
          .join(', ')})`
    : vec
      ? `select(vec4<u32>(), b[(bBase + k * nCount + n) / 8u], n < nCount && k < kEnd)`
      : `vec4<u32>(${r(4)
          .map((q) => `pack2x16float(vec2<f32>(ldB(n + ${2 * q}u, k, kEnd), ldB(n + ${2 * q + 1}u, k, kEnd)))`)
          .join(', ')})`;
  const conv = (d: DType, v: string) =>
    vec && d === 'bf16'
      ? `vec4<u32>(${r(4)
          .map((q) => toF16Pair(d, `${v}[${q}]`))
          .join(', ')})`
      : v;
  const aDecl = vec
    ? '@group(0) @binding(0) var<storage, read> a: array<vec4<u32>>;'
    : storageDecl(0, 'a', p.aDtype, caps, 'read');
  const bDecl = vec
    ? '@group(0) @binding(1) var<storage, read> b: array<vec4<u32>>;'
    : storageDecl(1, 'b', p.bDtype, caps, 'read');
  const scalarLoads = vec
    ? ''
    : `
fn ldA(m: u32, k: u32, ke: u32) -> f32 { if (m < uw(0u) && k < ke) { return ${loadF32(p.aDtype, caps, 'a', 'g_aBase + m * uw(2u) + k')}; } return 0.0; }
fn ldB(n: u32, k: u32, ke: u32) -> f32 { if (n < uw(4u) && k < ke) { return ${loadF32(p.bDtype, caps, 'b', transB ? 'g_bBase + n * uw(2u) + k' : 'g_bBase + k * uw(4u) + n')}; } return 0.0; }
var<private> g_aBase: u32;
var<private> g_bBase: u32;`;
  // chunk e of a slice: a row r = e / (BK/8) at column (e % (BK/8))·8; b likewise along its stored rows
  const aCoord = (i: number) =>
    `let e = lid + ${T * i}u; let rr = e / ${BK / 8}u; let cc = (e % ${BK / 8}u) * 8u; let m = m0 + rr; let k = k0 + cc;`;
  const bCoord = (i: number) =>
    transB
      ? `let e = lid + ${T * i}u; let rr = e / ${BK / 8}u; let cc = (e % ${BK / 8}u) * 8u; let n = nl0 + rr; let k = k0 + cc;`
      : `let e = lid + ${T * i}u; let rr = e / ${BN / 8}u; let cc = (e % ${BN / 8}u) * 8u; let n = nl0 + cc; let k = k0 + rr;`;
  const loadRegs = (k0: string) => `{
    let k0 = ${k0};
${r(AP)
  .map((i) => `    ${guardA(i)}{ ${aCoord(i)} let v = ${chunkA}; ra${i} = ${conv(p.aDtype, 'v')}; }`)
  .join('\n')}
${r(BP)
  .map((i) => `    ${guardB(i)}{ ${bCoord(i)} let v = ${chunkB}; rb${i} = ${conv(p.bDtype, 'v')}; }`)
  .join('\n')}
  }`;
  const storeRegs = (stage: number) => `{
${r(AP)
  .map(
    (i) =>
      `    ${guardA(i)}{ let e = lid + ${T * i}u; let rr = e / ${BK / 8}u; let cc = (e % ${BK / 8}u) * 8u; ${smemStore('As', `${stage * aStage}u + rr * ${LDA}u + cc`, `ra${i}`)} }`,
  )
  .join('\n')}
${r(BP)
  .map(
    (i) =>
      `    ${guardB(i)}{ let e = lid + ${T * i}u; ${transB ? `let rr = e / ${BK / 8}u; let cc = (e % ${BK / 8}u) * 8u;` : `let rr = e / ${BN / 8}u; let cc = (e % ${BN / 8}u) * 8u;`} ${smemStore('Bs', `${stage * bStage}u + rr * ${LDB}u + cc`, `rb${i}`)} }`,
  )
  .join('\n')}
  }`;
  if (LDA % div || LDB % div) throw new Error(`${elem} staging needs row strides that are multiples of ${div} halves`);
  // Matrix offsets are compile-time constants: Dawn's robustness pass predicates a subgroup-matrix
  // load whose offset it cannot check statically (a select on offset and stride), and with a
  // run-time stride the driver's load path was 2.5× slower on the H100. So the stage is fixed by
  // unrolling the K loop twice, and each subgroup's tile position by a switch on its index.
  const leftOff = (stage: number, wm: number, i: number, kk: number) =>
    (stage * aStage + (wm * TM * FM + i * FM) * LDA + kk) / div;
  const rightOff = (stage: number, wn: number, j: number, kk: number) =>
    (transB ? stage * bStage + (wn * TN * FN + j * FN) * LDB + kk : stage * bStage + kk * LDB + wn * TN * FN + j * FN) /
    div;
  const strideA = LDA / div,
    strideB = LDB / div;
  const compute = (stage: number) => `    switch (sg) {
${r(WM * WN)
  .map((g) => {
    const wm = Math.floor(g / WN),
      wn = g % WN;
    return `      case ${g}u: {
${r(BK / FK)
  .map(
    (q) => `        {
${r(TM)
  .map((i) => `        let l${i} = ${ld('left', 'As', `${leftOff(stage, wm, i, q * FK)}u`, false, strideA)};`)
  .join('\n')}
${r(TN)
  .map((j) => `        let q${j} = ${ld('right', 'Bs', `${rightOff(stage, wn, j, q * FK)}u`, transB, strideB)};`)
  .join('\n')}
${r(TM)
  .map((i) =>
    r(TN)
      .map((j) => `        c${i}_${j} = subgroupMatrixMultiplyAccumulate(l${i}, q${j}, c${i}_${j});`)
      .join('\n'),
  )
  .join('\n')}
        }`,
  )
  .join('\n')}
      }`;
  })
  .join('\n')}
      default: {}
    }`;
  // one K slice: prefetch the next slice into registers, multiply this stage, stage the next
  const slice = (stage: number) => `    ${t.probe ? '' : `if (k0 + ${BK}u < kEnd) ${loadRegs(`k0 + ${BK}u`)}`}
${compute(stage)}
    ${t.probe === 'compute-only' ? '' : `if (k0 + ${BK}u < kEnd) ${storeRegs(1 - stage)}`}
    workgroupBarrier();
    k0 += ${BK}u;
    if (k0 >= kEnd) { break; }`;
  const writeFrag = (i: number, j: number) => `
  ${st('Cs', `sg * ${FM * FN}u`, `c${i}_${j}`, FN)}
  workgroupBarrier();
  for (var q = 0u; q < ${(FM * FN) / 2 / SG}u; q++) {
    let e = 2u * (lane + q * ${SG}u);
    let m = m0 + wm * ${TM * FM}u + ${i * FM}u + e / ${FN}u;
    let n = nl0 + wn * ${TN * FN}u + ${j * FN}u + e % ${FN}u;
    if (m < M && n < nCount) { write_out(wg.z * M + m, uw(3u) + n, Cs[sg * ${FM * FN}u + e], Cs[sg * ${FM * FN}u + e + 1u], colEnd); }
  }
  workgroupBarrier();`;
  return `${enables(['f16'], caps)}enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium.subgroup_matrix_uniformity);
${aDecl}
${bDecl}
${outputWgsl(split ? rawPlan(p) : p, { f16: caps.f16 }, 2)}
var<workgroup> As: array<${elem}, ${(2 * aStage) / div}>;
var<workgroup> Bs: array<${elem}, ${(2 * bStage) / div}>;
var<workgroup> Cs: array<f32, ${WM * WN * FM * FN}>;
${scalarLoads}
@compute @workgroup_size(${T})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let M = uw(0u); let K = uw(2u); let nCount = uw(4u);
  let m0 = wg.y * ${BM}u;
  let nl0 = wg.x * ${BN}u;
${
  split
    ? `  // split K: grid z picks a K range; partial sums go to rows z·M + m of the f32 scratch
  let aBase = 0u;
  let bBase = 0u;
  let kBeg = wg.z * uw(7u);
  let kEnd = min(K, kBeg + uw(7u));`
    : `  let aBase = wg.z * uw(5u);
  let bBase = wg.z * uw(6u);
  let kBeg = 0u;
  let kEnd = K;`
}
${vec ? '' : '  g_aBase = aBase; g_bBase = bBase;'}
  let sg = lid / ${SG}u;
  let lane = lid % ${SG}u;
  let wm = sg / ${WN}u;
  let wn = sg % ${WN}u;
${r(TM)
  .map((i) =>
    r(TN)
      .map((j) => `  var c${i}_${j} = subgroup_matrix_result<f32, ${FN}, ${FM}>();`)
      .join('\n'),
  )
  .join('\n')}
${r(AP)
  .map((i) => `  var ra${i}: vec4<u32>;`)
  .join('\n')}
${r(BP)
  .map((i) => `  var rb${i}: vec4<u32>;`)
  .join('\n')}
  ${loadRegs('kBeg')}
  ${storeRegs(0)}
  workgroupBarrier();
  var k0 = kBeg;
  loop {
${slice(0)}
${slice(1)}
  }
  let colEnd = uw(3u) + nCount;
${r(TM)
  .map((i) =>
    r(TN)
      .map((j) => writeFrag(i, j))
      .join('\n'),
  )
  .join('\n')}
}`;
}

/** The plan a split-K pass writes with: plain f32 partial sums, no epilogue (the reduction applies it). */
function rawPlan(p: MatmulPlan): MatmulPlan {
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

/** Subgroup-matrix parameters the benchmarks may override (tuning); null keeps the defaults. */
export const sgmatTuning: { override: Partial<SgmatParams> | null } = { override: null };

export const matmulSubgroupMatrixKernel: GpuKernel = {
  op: 'matmul',
  whyUnsupported(caps: Capabilities, attrs: Attrs, inputs: readonly TensorDesc[]) {
    const a = attrs as MatmulAttrs;
    if (a.path && a.path !== 'auto' && a.path !== 'subgroup-matrix') return `path '${a.path}' requested`;
    if (!f16MatrixConfig(caps, 'f32')) return 'no f16→f32 subgroup-matrix configuration on this device';
    const [x, w] = inputs;
    if (!x || !w) return 'needs a and b';
    for (const d of [x.dtype, w.dtype]) {
      if (d === 'f32') return 'f32 operands use the f32 path';
      if (d === 'bf16' && a.precise) return 'precise: bf16 stays on the f32 path';
      if (d !== 'f16' && d !== 'bf16') return `operand dtype ${d}`;
    }
    return commonProblem(caps, a, inputs);
  },
  encode(ctx, rawAttrs, inputs, outputs) {
    const attrs = rawAttrs as MatmulAttrs;
    const c = outputs[0]!;
    const p = planMatmul(attrs, inputs, c.dtype, ctx.caps);
    const cfg = f16MatrixConfig(ctx.caps, 'f32')!;
    const t = sgmatParams(p.g.M, p.g.N, p.g.K, p.g.batch, sgmatTuning.override ?? undefined);
    const ranges = weightRanges(inputs[1]!, p, ctx.caps, 8);
    if (typeof ranges === 'string') throw new Error(`matmul: ${ranges}`);
    const split = t.splitK > 1 && p.g.batch === 1 ? t.splitK : 1;
    const tt = { ...t, splitK: split };
    const wgsl = sgmatWgsl(p, ctx.caps, cfg, tt);
    const target = outputTarget(ctx, p, c);
    const BM = t.WM * t.TM * cfg.M,
      BN = t.WN * t.TN * cfg.N;
    const label = `matmul.sgmat.${p.aDtype}.${p.bDtype}${attrs.transB ? '.tB' : ''}.${BM}x${BN}x${t.BK}${split > 1 ? `.k${split}` : ''}`;
    const kLen = splitLength(p.g.K, tt);
    const part = split > 1 ? ctx.scratch(split * p.g.M * p.g.N * 4, 'matmul.splitk') : null;
    const raw = part ? rawPlan(p) : p;
    for (const r of ranges) {
      const u = matmulUniforms(raw, r.n0, r.nCount);
      u[7] = kLen;
      ctx.dispatch(
        { label, wgsl, access: ['read', 'read', ...outputAccess(raw)] },
        [inputs[0]!, r.range, part ?? target, ...(part ? [] : inputs.slice(2))],
        u,
        [Math.ceil(r.nCount / BN), Math.ceil(p.g.M / BM), part ? split : p.g.batch],
      );
    }
    if (part) {
      const u = matmulUniforms(p, 0, p.g.N);
      u[7] = split;
      const groups = Math.ceil((p.g.M * Math.ceil(p.g.N / 2)) / 256);
      ctx.dispatch(
        {
          label: `matmul.splitk-sum.${p.outDtype}`,
          wgsl: splitReduceWgsl(p, ctx.caps),
          access: ['read', ...outputAccess(p)],
        },
        [part, target, ...inputs.slice(2)],
        u,
        grid(groups, ctx.caps.maxComputeWorkgroupsPerDimension),
      );
    }
    packScratch(ctx, p, target, c);
  },
};
