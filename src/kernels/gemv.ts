/**
 * GEMV for decode: c [M, N] = a [M, K] · bᵀ with M ≤ 16 and weights b [N, K] (HF `Linear` layout).
 * Decode is bound by reading the weights once, so each workgroup owns R weight rows and streams
 * them with 16-byte loads (one `vec4<u32>` = 8 halves, two `vec4<f32>` for f32 weights), all lanes
 * striding over K so consecutive lanes read consecutive 16-byte chunks (coalesced). The few
 * activation rows are re-read from cache for each chunk and used R times. Partial sums are reduced
 * with `subgroupAdd` and one workgroup-memory step across subgroups (one tree over all sums in
 * workgroup memory where subgroups are absent). When K is not a multiple of 8 the same plan runs with scalar loads.
 */
import type { Attrs, TensorDesc } from '../backends/backend.js';
import type { Capabilities } from '../backends/webgpu/capabilities.js';
import type { MatmulAttrs } from '../ops/matmul.js';
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
import { type DType } from '../tensor/dtype.js';
import { enables, loadF32, storageDecl } from './wgsl-dtype.js';

export const GEMV_MAX_M = 16;

export interface GemvParams {
  /** Weight rows per workgroup (even: outputs are written in adjacent pairs). */
  readonly R: number;
  /** Invocations per workgroup. */
  readonly W: number;
}

export function gemvParams(M: number): GemvParams {
  // measured on the H100 (bench/gemm.ts --gemv-tune): 2 rows × 128 lanes beat 4–8 rows and 64/256
  // lanes at M = 1 (4096², 28672×4096, 4096×14336) and M = 16 alike
  void M;
  return { R: 2, W: 128, ...gemvTuning.override };
}

/** GEMV parameters the benchmarks may override (tuning); null keeps the defaults. */
export const gemvTuning: { override: Partial<GemvParams> | null } = { override: null };

/** The vector path needs rows that start on 16-byte boundaries in both operands. */
export function gemvVectorised(K: number): boolean {
  return K % 8 === 0;
}

const r = (n: number) => Array.from({ length: n }, (_, i) => i);

/** WGSL for 8 consecutive activations of row `m` from chunk `ch` as two vec4<f32> named `${name}lo/hi`. */
function actChunk(d: DType, name: string, idx: string): string {
  if (d === 'f32') return `let ${name}lo = a[2u * (${idx})]; let ${name}hi = a[2u * (${idx}) + 1u];`;
  return `let ${name}w = a[${idx}]; let ${name}lo = ${unpack4(d, `${name}w.xy`)}; let ${name}hi = ${unpack4(d, `${name}w.zw`)};`;
}

/** Four halves from two u32 words (vec2<u32> expression) as vec4<f32>. */
function unpack4(d: DType, w: string): string {
  if (d === 'f16') return `vec4<f32>(unpack2x16float(${w}.x), unpack2x16float(${w}.y))`;
  // bf16: the high half is already an f32 with a truncated mantissa; the low half moves up
  return `vec4<f32>(bitcast<f32>(${w}.x << 16u), bitcast<f32>(${w}.x & 0xffff0000u), bitcast<f32>(${w}.y << 16u), bitcast<f32>(${w}.y & 0xffff0000u))`;
}

export function gemvWgsl(p: MatmulPlan, caps: Pick<Capabilities, 'f16' | 'subgroups'>, t: GemvParams): string {
  const { R, W } = t;
  const M = p.g.M;
  const vec = gemvVectorised(p.g.K);
  const sg = caps.subgroups;
  const acc = (m: number, j: number) => `acc${m}_${j}`;
  const aDecl = vec
    ? `@group(0) @binding(0) var<storage, read> a: array<${p.aDtype === 'f32' ? 'vec4<f32>' : 'vec4<u32>'}>;`
    : storageDecl(0, 'a', p.aDtype, caps, 'read');
  const bDecl = vec
    ? `@group(0) @binding(1) var<storage, read> b: array<${p.bDtype === 'f32' ? 'vec4<f32>' : 'vec4<u32>'}>;`
    : storageDecl(1, 'b', p.bDtype, caps, 'read');
  const weightChunk = (j: number) =>
    p.bDtype === 'f32'
      ? `let w${j}lo = b[2u * (rowc${j} + ch)]; let w${j}hi = b[2u * (rowc${j} + ch) + 1u];`
      : `let w${j}w = b[rowc${j} + ch]; let w${j}lo = ${unpack4(p.bDtype, `w${j}w.xy`)}; let w${j}hi = ${unpack4(p.bDtype, `w${j}w.zw`)};`;
  const vecLoop = `
  let chunks = K / 8u;
${r(R)
  .map((j) => `  let rowc${j} = min(nl0 + ${j}u, nCount - 1u) * chunks;`)
  .join('\n')}
  for (var ch = lid; ch < chunks; ch += ${W}u) {
${r(R)
  .map((j) => `    ${weightChunk(j)}`)
  .join('\n')}
${r(M)
  .map(
    (m) => `    { ${actChunk(p.aDtype, 'x', `${m}u * chunks + ch`)}
${r(R)
  .map((j) => `      ${acc(m, j)} += dot(xlo, w${j}lo) + dot(xhi, w${j}hi);`)
  .join('\n')} }`,
  )
  .join('\n')}
  }`;
  const scalarLoop = `
${r(R)
  .map((j) => `  let rowk${j} = min(nl0 + ${j}u, nCount - 1u) * K;`)
  .join('\n')}
  for (var k = lid; k < K; k += ${W}u) {
${r(R)
  .map((j) => `    let w${j} = ${loadF32(p.bDtype, caps, 'b', `rowk${j} + k`)};`)
  .join('\n')}
${r(M)
  .map(
    (m) => `    { let x = ${loadF32(p.aDtype, caps, 'a', `${m}u * K + k`)};
${r(R)
  .map((j) => `      ${acc(m, j)} = fma(x, w${j}, ${acc(m, j)});`)
  .join('\n')} }`,
  )
  .join('\n')}
  }`;
  const n = M * R;
  // reduction: subgroupAdd, then one slot per subgroup in workgroup memory (subgroups of a 1-D
  // workgroup are runs of consecutive invocations on Vulkan and Metal); otherwise a tree
  const reduce = sg
    ? `
${r(M)
  .map((m) =>
    r(R)
      .map((j) => `  let s${m}_${j} = subgroupAdd(${acc(m, j)});`)
      .join('\n'),
  )
  .join('\n')}
  if (sgi == 0u) {
${r(M)
  .map((m) =>
    r(R)
      .map((j) => `    red[(lid / sgs) * ${n}u + ${m * R + j}u] = s${m}_${j};`)
      .join('\n'),
  )
  .join('\n')}
  }
  workgroupBarrier();
  let nsg = ${W}u / sgs;
  if (lid < ${n / 2}u) {
    let m = lid / ${R / 2}u;
    let j = (lid % ${R / 2}u) * 2u;
    var v0 = 0.0; var v1 = 0.0;
    for (var s = 0u; s < nsg; s++) { v0 += red[s * ${n}u + m * ${R}u + j]; v1 += red[s * ${n}u + m * ${R}u + j + 1u]; }
    if (nl0 + j < nCount) { write_out(m, uw(3u) + nl0 + j, v0, v1, uw(3u) + nCount); }
  }`
    : `
${r(M)
  .map((m) =>
    r(R)
      .map((j) => `  red[lid * ${n}u + ${m * R + j}u] = ${acc(m, j)};`)
      .join('\n'),
  )
  .join('\n')}
  workgroupBarrier();
  for (var s = ${W / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) { for (var j = 0u; j < ${n}u; j++) { red[lid * ${n}u + j] += red[(lid + s) * ${n}u + j]; } }
    workgroupBarrier();
  }
  if (lid < ${n / 2}u) {
    let m = lid / ${R / 2}u;
    let j = (lid % ${R / 2}u) * 2u;
    if (nl0 + j < nCount) { write_out(m, uw(3u) + nl0 + j, red[m * ${R}u + j], red[m * ${R}u + j + 1u], uw(3u) + nCount); }
  }`;
  return `${enables([p.aDtype, p.bDtype, p.outDtype, ...p.extraDtypes], caps)}${sg ? 'enable subgroups;\n' : ''}
${aDecl}
${bDecl}
${outputWgsl(p, caps, 2)}
var<workgroup> red: array<f32, ${sg ? n * (W / 4) : n * W}>;
@compute @workgroup_size(${W})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32${sg ? ', @builtin(subgroup_invocation_id) sgi: u32, @builtin(subgroup_size) sgs: u32' : ''}) {
  let K = uw(2u); let nCount = uw(4u);
  let nl0 = (wg.x + wg.y * nwg.x) * ${R}u;
${r(M)
  .map((m) =>
    r(R)
      .map((j) => `  var ${acc(m, j)} = 0.0;`)
      .join(' '),
  )
  .join('\n')}
${vec ? vecLoop : scalarLoop}
${reduce}
}`;
}

export const gemvKernel: GpuKernel = {
  op: 'matmul',
  whyUnsupported(caps: Capabilities, attrs: Attrs, inputs: readonly TensorDesc[]) {
    const a = attrs as MatmulAttrs;
    if (a.path && a.path !== 'auto' && a.path !== 'gemv') return `path '${a.path}' requested`;
    if (!a.transB) return 'GEMV reads weights as [N, K] (transB)';
    if (inputs.length < 2 || inputs[1]!.shape.length !== 2) return 'GEMV needs a 2-D weight';
    const M = inputs[0]!.shape.slice(0, -1).reduce((x, y) => x * y, 1);
    if (M > GEMV_MAX_M) return `GEMV serves M ≤ ${GEMV_MAX_M} (got ${M})`;
    return commonProblem(caps, a, inputs);
  },
  encode(ctx, rawAttrs, inputs, outputs) {
    const attrs = rawAttrs as MatmulAttrs;
    const c = outputs[0]!;
    const p = planMatmul(attrs, inputs, c.dtype, ctx.caps);
    const t = gemvParams(p.g.M);
    const ranges = weightRanges(inputs[1]!, p, ctx.caps, 8);
    if (typeof ranges === 'string') throw new Error(`matmul: ${ranges}`);
    const wgsl = gemvWgsl(p, ctx.caps, t);
    const target = outputTarget(ctx, p, c);
    const label = `matmul.gemv.${p.aDtype}.${p.bDtype}.m${p.g.M}${gemvVectorised(p.g.K) ? '.v' : ''}`;
    for (const r of ranges) {
      ctx.dispatch(
        { label, wgsl, access: ['read', 'read', ...outputAccess(p)] },
        [inputs[0]!, r.range, target, ...inputs.slice(2)],
        matmulUniforms(p, r.n0, r.nCount),
        grid(Math.ceil(r.nCount / t.R), ctx.caps.maxComputeWorkgroupsPerDimension),
      );
    }
    packScratch(ctx, p, target, c);
  },
};
