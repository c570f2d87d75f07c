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
  packScratch,
  planMatmul,
  tailWord,
  weightRanges,
} from './matmul-common.js';
import { type GpuKernel, shaderKey } from '../backends/webgpu/kernel.js';
import {
  type GemvFusion,
  type GemvParams,
  declarations,
  gemvVectorised,
  kLoop,
  normScaleWgsl,
  range,
  ropeTurnsWgsl,
  slots,
} from './gemv-wgsl.js';

export type { GemvParams } from './gemv-wgsl.js';
export { gemvVectorised } from './gemv-wgsl.js';

export const GEMV_MAX_M = 16;

/**
 * Rows up to which the fused GEMVs (`linear` with its norm/pair/RoPE, `linear_group`, `qkv_append`)
 * run; above it the same steps run as separate kernels, the projections on the skinny GEMM. On the
 * H100 at M = 16 (decode b16 profile, commit a108385) the fused GEMVs streamed their weights at
 * 445–700 GB/s — the paired gate/up GEMV holds 2·R·M accumulators per lane — while the skinny
 * tensor-core GEMM read the same shapes at 1.24–1.43 TB/s; at M ≤ 8 the plain GEMV beat every
 * skinny set on every 8B shape (bench/tuning/skinny-tune-2026-12-07-h100.json).
 */
export const FUSED_GEMV_MAX_M = 8;

export function gemvParams(M: number): GemvParams {
  // measured on the H100 (bench/gemm.ts --gemv-tune): 2 rows × 128 lanes beat 4–8 rows and 64/256
  // lanes at M = 1 (4096², 28672×4096, 4096×14336) and M = 16 alike
  void M;
  return { R: 2, W: 128, ...gemvTuning.override };
}

/** GEMV parameters the benchmarks may override (tuning); null keeps the defaults. */
export const gemvTuning: { override: Partial<GemvParams> | null } = { override: null };

/** Per-row sums of the workgroup's accumulators: subgroupAdd, then one slot per subgroup in workgroup memory (subgroups of a 1-D workgroup are runs of consecutive invocations on Vulkan and Metal); otherwise a tree. */
export function reduceToRed(M: number, R: number, W: number, sg: boolean): string {
  const n = M * R;
  const all = (f: (m: number, j: number) => string) =>
    range(M)
      .map((m) =>
        range(R)
          .map((j) => f(m, j))
          .join('\n'),
      )
      .join('\n');
  if (sg)
    return `
${all((m, j) => `  let s${m}_${j} = subgroupAdd(acc${m}_${j});`)}
  if (sgi == 0u) {
${all((m, j) => `    red[(lid / sgs) * ${n}u + ${m * R + j}u] = s${m}_${j};`)}
  }
  workgroupBarrier();
  let nsg = ${W}u / sgs;`;
  return `
${all((m, j) => `  red[lid * ${n}u + ${m * R + j}u] = acc${m}_${j};`)}
  workgroupBarrier();
  for (var s = ${W / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) { for (var j = 0u; j < ${n}u; j++) { red[lid * ${n}u + j] += red[(lid + s) * ${n}u + j]; } }
    workgroupBarrier();
  }
  let nsg = 1u;`;
}

/**
 * The store: adjacent pairs through `write_out` (with a paired weight, both accumulators of each
 * column through `write_out2`), or with RoPE each row's two rotate-half pairs at once. Values are
 * `S` per row in `red` (accumulators, then Σx² when `normWord` gives the eps uniform).
 */
function store(M: number, R: number, S: number, ropeHalf: number | undefined, normWord: number | undefined): string {
  const A = normWord === undefined ? S : S - 1;
  const sum = (j: string) => `red_sum(m * ${S}u + ${j}, nsg)${normWord === undefined ? '' : ' * rs'}`;
  const sumFn = `fn red_sum(i: u32, nsg: u32) -> f32 { var v = 0.0; for (var s = 0u; s < nsg; s++) { v += red[s * ${M * S}u + i]; } return v; }`;
  const norm = normWord === undefined ? '' : normScaleWgsl(S, A, normWord);
  const write =
    A === R
      ? `write_out(m, uw(3u) + nl0 + j, ${sum('j')}, ${sum('j + 1u')}, uw(3u) + nCount);`
      : `write_out2(m, uw(3u) + nl0 + j, ${sum('j')}, ${sum('j + 1u')}, ${sum(`j + ${R}u`)}, ${sum(`j + ${R + 1}u`)}, uw(3u) + nCount);`;
  if (ropeHalf === undefined)
    return `
  if (lid < ${(M * R) / 2}u) {
    let m = lid / ${R / 2}u;
    let j = (lid % ${R / 2}u) * 2u;
    ${norm}
    if (nl0 + j < nCount) { ${write} }
  }
}
${sumFn}`;
  return `
  if (lid < ${M}u) {
    let m = lid;
    ${norm}
    write_rope(m, rbase, ${sum('0u')}, ${sum('1u')}, ${sum('2u')}, ${sum('3u')});
  }
}
${sumFn}`;
}

/** Rotates the two pairs (o, o+1) and (o+D/2, o+D/2+1) of one head after the epilogue, then stores them. */
function ropeStoreWgsl(p: MatmulPlan, half: number): string {
  const base = tailWord(p) + 4;
  return `
${ropeTurnsWgsl(base)}
fn write_rope(m: u32, col: u32, l0: f32, l1: f32, h0: f32, h1: f32) {
  let e0 = epi(m, col, l0); let e1 = epi(m, col + 1u, l1);
  let f0 = epi(m, col + ${half}u, h0); let f1 = epi(m, col + ${half + 1}u, h1);
  let i = col % ${2 * half}u;
  let q = pos[m];
  let a0 = turns(u32(abs(q)), i) * select(1.0, -1.0, q < 0) * 6.28318530717958647;
  let a1 = turns(u32(abs(q)), i + 1u) * select(1.0, -1.0, q < 0) * 6.28318530717958647;
  let c0 = cos(a0); let s0 = sin(a0); let c1 = cos(a1); let s1 = sin(a1);
  store_out(m, col, e0 * c0 - f0 * s0, e1 * c1 - f1 * s1, uw(1u));
  store_out(m, col + ${half}u, f0 * c0 + e0 * s0, f1 * c1 + e1 * s1, uw(1u));
}`;
}

export function gemvWgsl(
  p: MatmulPlan,
  caps: Pick<Capabilities, 'f16' | 'subgroups'>,
  t: GemvParams,
  f: GemvFusion = {},
): string {
  const M = p.g.M;
  const S = slots(t, f);
  const vec = gemvVectorised(p.g.K);
  const sg = caps.subgroups;
  const half = f.ropeHeadDim ? f.ropeHeadDim / 2 : undefined;
  // with RoPE a workgroup owns rows {o, o+1, o+D/2, o+D/2+1} of head h (R = 4)
  const rowOf = (j: number) => (half === undefined ? `nl0 + ${j}u` : `rbase + ${(j & 1) + (j >> 1) * half}u`);
  const rows =
    half === undefined ? '' : `  let rbase = (wid / ${half / 2}u) * ${2 * half}u + (wid % ${half / 2}u) * 2u;`;
  return `${declarations(p, caps, f, vec)}
${half === undefined ? '' : ropeStoreWgsl(p, half)}
var<workgroup> red: array<f32, ${sg ? M * S * (t.W / 4) : M * S * t.W}>;
@compute @workgroup_size(${t.W})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32${sg ? ', @builtin(subgroup_invocation_id) sgi: u32, @builtin(subgroup_size) sgs: u32' : ''}) {
  let K = uw(2u); let nCount = uw(4u);
  let wid = wg.x + wg.y * nwg.x;
  let nl0 = wid * ${t.R}u;
${rows}
${range(M)
  .map((m) =>
    range(S)
      .map((j) => `  var acc${m}_${j} = 0.0;`)
      .join(' '),
  )
  .join('\n')}
${kLoop(p, caps, t, f, vec, rowOf)}
${reduceToRed(M, S, t.W, sg)}
${store(M, t.R, S, half, f.normDtype ? tailWord(p) : undefined)}`;
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
    const target = outputTarget(ctx, p, c);
    const label = `matmul.gemv.${p.aDtype}.${p.bDtype}.m${p.g.M}${gemvVectorised(p.g.K) ? '.v' : ''}`;
    const key = shaderKey(label, p, t);
    for (const r of ranges) {
      ctx.dispatch(
        { label, key, wgsl: () => gemvWgsl(p, ctx.caps, t), access: ['read', 'read', ...outputAccess(p)] },
        [inputs[0]!, r.range, target, ...inputs.slice(2)],
        matmulUniforms(p, r.n0, r.nCount),
        grid(Math.ceil(r.nCount / t.R), ctx.caps.maxComputeWorkgroupsPerDimension),
      );
    }
    packScratch(ctx, p, target, c);
  },
};
