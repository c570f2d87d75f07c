/**
 * WGSL of the SIMT skinny GEMM (parameters in `skinny-gemm-params.ts`): c [M, N] = a [M, K] · bᵀ
 * with half weights b [N, K] and K a multiple of 8.
 *
 * Lane (kl, mg, rg) — kl fastest, so consecutive lanes read consecutive 16-byte chunks of one weight
 * row (coalesced) — owns MT activation rows × RL weight rows for chunk kl of every K tile. A lane
 * needs every activation row of its chunk, so without register blocking each 16-byte weight chunk
 * would cost M 32-byte activation reads on chip; MT × RL blocking cuts that to (RL·16 + MT·32) bytes
 * per MT·RL·8 multiply-adds. The activation tile is staged once per tile as f32 (unpacked once, read
 * by all lane groups); lanes of different mg read the same weight chunks, which hit L1, so the
 * weights leave DRAM once. The KL lanes sharing outputs reduce with `subgroupAdd` (KL is a multiple
 * of the subgroup size, so a subgroup never spans two lane groups), then one slot per subgroup in
 * workgroup memory.
 */
import type { Capabilities } from '../backends/webgpu/capabilities.js';
import type { DType } from '../tensor/dtype.js';
import { type MatmulPlan, outputWgsl } from './matmul-common.js';
import type { SkinnySimtParams } from './skinny-gemm-params.js';
import { enables } from './wgsl-dtype.js';

const r = (n: number) => Array.from({ length: n }, (_, i) => i);

/** Four halves from two u32 words (vec2<u32> expression) as vec4<f32>. */
export function unpackHalves4(d: DType, w: string): string {
  if (d === 'f16') return `vec4<f32>(unpack2x16float(${w}.x), unpack2x16float(${w}.y))`;
  // bf16: the high half is already an f32 with a truncated mantissa; the low half moves up
  return `vec4<f32>(bitcast<f32>(${w}.x << 16u), bitcast<f32>(${w}.x & 0xffff0000u), bitcast<f32>(${w}.y << 16u), bitcast<f32>(${w}.y & 0xffff0000u))`;
}

/** Stages the activation tile starting at chunk c0: rows ≥ M and chunks past K as zeros. */
function stageActivations(p: MatmulPlan, t: SkinnySimtParams, mPad: number, lanes: number): string {
  const load =
    p.aDtype === 'f32'
      ? 'lo = a[2u * (m * chunks + c)]; hi = a[2u * (m * chunks + c) + 1u];'
      : `let w = a[m * chunks + c]; lo = ${unpackHalves4(p.aDtype, 'w.xy')}; hi = ${unpackHalves4(p.aDtype, 'w.zw')};`;
  return `    for (var e = lid; e < ${mPad * t.KL}u; e += ${lanes}u) {
      let m = e / ${t.KL}u; let c = c0 + e % ${t.KL}u;
      var lo = vec4<f32>(); var hi = vec4<f32>();
      if (m < ${p.g.M}u && c < chunks) { ${load} }
      xs[2u * e] = lo; xs[2u * e + 1u] = hi;
    }`;
}

/** One K tile of a lane: RL weight chunks from global, MT activation chunks from the staged tile. */
function tileProduct(p: MatmulPlan, t: SkinnySimtParams): string {
  const w = (j: number) =>
    `let ww${j} = b[rowc${j} + ch]; let w${j}lo = ${unpackHalves4(p.bDtype, `ww${j}.xy`)}; let w${j}hi = ${unpackHalves4(p.bDtype, `ww${j}.zw`)};`;
  return `    if (ch < chunks) {
${r(t.RL)
  .map((j) => `      ${w(j)}`)
  .join('\n')}
${r(t.MT)
  .map(
    (i) => `      { let xi = 2u * ((mg * ${t.MT}u + ${i}u) * ${t.KL}u + kl); let xlo = xs[xi]; let xhi = xs[xi + 1u];
${r(t.RL)
  .map((j) => `        acc${i}_${j} += dot(xlo, w${j}lo) + dot(xhi, w${j}hi);`)
  .join('\n')} }`,
  )
  .join('\n')}
    }`;
}

/** Sums the KL lanes of each lane group and writes the workgroup's outputs in adjacent pairs. */
function reduceAndWrite(p: MatmulPlan, t: SkinnySimtParams, mPad: number, lanes: number): string {
  const R = t.RG * t.RL;
  const slot = (i: number, j: number) =>
    `(kl / sgs) * ${mPad * R}u + (mg * ${t.MT}u + ${i}u) * ${R}u + rg * ${t.RL}u + ${j}u`;
  return `${r(t.MT)
    .map((i) =>
      r(t.RL)
        .map((j) => `  let s${i}_${j} = subgroupAdd(acc${i}_${j});`)
        .join('\n'),
    )
    .join('\n')}
  if (sgi == 0u) {
${r(t.MT)
  .map((i) =>
    r(t.RL)
      .map((j) => `    red[${slot(i, j)}] = s${i}_${j};`)
      .join('\n'),
  )
  .join('\n')}
  }
  workgroupBarrier();
  for (var o = lid; o < ${(p.g.M * R) / 2}u; o += ${lanes}u) {
    let m = o / ${R / 2}u;
    let j = (o % ${R / 2}u) * 2u;
    let v0 = slot_sum(m, j); let v1 = slot_sum(m, j + 1u);
    if (nl0 + j < nCount) { write_out(m, uw(3u) + nl0 + j, v0, v1, uw(3u) + nCount); }
  }`;
}

/** fn slot_sum(m, col): the sum of output (m, col)'s per-subgroup partials. */
function slotSumFn(t: SkinnySimtParams, mPad: number): string {
  const R = t.RG * t.RL;
  return `fn slot_sum(m: u32, col: u32) -> f32 {
  var v = 0.0;
  for (var s = 0u; s < ${t.KL}u / sgs; s++) { v += red[s * ${mPad * R}u + m * ${R}u + col]; }
  return v;
}`;
}

export function skinnySimtWgsl(
  p: MatmulPlan,
  caps: Pick<Capabilities, 'f16' | 'subgroupMinSize'>,
  t: SkinnySimtParams,
): string {
  const MG = Math.ceil(p.g.M / t.MT);
  const mPad = MG * t.MT;
  const lanes = t.KL * MG * t.RG;
  const R = t.RG * t.RL;
  const slots = t.KL / Math.max(1, caps.subgroupMinSize);
  const aElem = p.aDtype === 'f32' ? 'vec4<f32>' : 'vec4<u32>';
  return `${enables([p.outDtype, ...p.extraDtypes], caps)}enable subgroups;
@group(0) @binding(0) var<storage, read> a: array<${aElem}>;
@group(0) @binding(1) var<storage, read> b: array<vec4<u32>>;
${outputWgsl(p, caps, 2)}
var<workgroup> xs: array<vec4<f32>, ${2 * mPad * t.KL}>;
var<workgroup> red: array<f32, ${slots * mPad * R}>;
var<private> sgs: u32;
${slotSumFn(t, mPad)}
@compute @workgroup_size(${lanes})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32, @builtin(subgroup_invocation_id) sgi: u32, @builtin(subgroup_size) sgsize: u32) {
  sgs = sgsize;
  let K = uw(2u); let nCount = uw(4u);
  let chunks = K / 8u;
  let nl0 = (wg.x + wg.y * nwg.x) * ${R}u;
  let kl = lid % ${t.KL}u;
  let mg = (lid / ${t.KL}u) % ${MG}u;
  let rg = lid / ${t.KL * MG}u;
${r(t.RL)
  .map((j) => `  let rowc${j} = min(nl0 + rg * ${t.RL}u + ${j}u, nCount - 1u) * chunks;`)
  .join('\n')}
${r(t.MT)
  .map((i) =>
    r(t.RL)
      .map((j) => `  var acc${i}_${j} = 0.0;`)
      .join(' '),
  )
  .join('\n')}
  for (var c0 = 0u; c0 < chunks; c0 += ${t.KL}u) {
${stageActivations(p, t, mPad, lanes)}
    workgroupBarrier();
    let ch = c0 + kl;
${tileProduct(p, t)}
    workgroupBarrier();
  }
${reduceAndWrite(p, t, mPad, lanes)}
}`;
}
