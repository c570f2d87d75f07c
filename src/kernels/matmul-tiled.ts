/**
 * Tiled GEMM in workgroup memory with f32 arithmetic: the path for every device and dtype (f16 and
 * bf16 are read as stored — native f16 or packed in u32 — and widened to f32 on load). 256
 * invocations share a BM×BN tile; each computes TM×TN outputs from BK-deep slices of a and b
 * staged k-major in workgroup memory, so its inner loop reads vec4s that all lanes of a row share.
 * Columns per invocation come in adjacent pairs (see `write_out`), which packed outputs need.
 */
import type { Attrs, TensorDesc } from '../backends/backend.js';
import type { Capabilities } from '../backends/webgpu/capabilities.js';
import type { MatmulAttrs } from '../ops/matmul.js';
import {
  type MatmulPlan,
  commonProblem,
  matmulUniforms,
  outputAccess,
  outputTarget,
  outputWgsl,
  packScratch,
  planMatmul,
  weightRanges,
} from './matmul-common.js';
import { type GpuKernel, shaderKey } from '../backends/webgpu/kernel.js';
import { enables, loadF32, storageDecl } from './wgsl-dtype.js';

export interface TiledParams {
  /** Outputs per invocation along M and N (multiples of 4: smem is read as vec4). */
  readonly TM: number;
  readonly TN: number;
  readonly BK: number;
}

/** 128×128 tiles when both dimensions can fill them, 64×64 otherwise (less waste on small M or N). */
export function tiledParams(M: number, N: number): TiledParams {
  return M >= 128 && N >= 128 ? { TM: 8, TN: 8, BK: 8 } : { TM: 4, TN: 4, BK: 16 };
}

const r = (n: number) => Array.from({ length: n }, (_, i) => i);

/** Tile loads of one BK slice: consecutive invocations read consecutive k of a row (coalesced), stored k-major. */
function tileLoads(p: MatmulPlan, caps: Pick<Capabilities, 'f16'>, t: TiledParams): string {
  const { TM, TN, BK } = t;
  const BM = 16 * TM;
  const BN = 16 * TN;
  const aLoad = loadF32(p.aDtype, caps, 'a', 'ai');
  const bLoad = loadF32(p.bDtype, caps, 'b', 'bi');
  const a = r((BM * BK) / 256).map(
    (i) => `    {
      let e = lid + ${256 * i}u;
      let m = m0 + e / ${BK}u; let k = k0 + e % ${BK}u;
      let ai = aBase + m * K + k;
      var v = 0.0;
      if (m < M && k < K) { v = ${aLoad}; }
      let s = (e % ${BK}u) * ${BM}u + e / ${BK}u;
      As[s >> 2u][s & 3u] = v;
    }`,
  );
  const b = r((BN * BK) / 256).map((i) =>
    p.attrs.transB
      ? `    {
      let e = lid + ${256 * i}u;
      let n = nl0 + e / ${BK}u; let k = k0 + e % ${BK}u;
      let bi = bBase + n * K + k;
      var v = 0.0;
      if (n < nCount && k < K) { v = ${bLoad}; }
      let s = (e % ${BK}u) * ${BN}u + e / ${BK}u;
      Bs[s >> 2u][s & 3u] = v;
    }`
      : `    {
      let e = lid + ${256 * i}u;
      let k = k0 + e / ${BN}u; let n = nl0 + e % ${BN}u;
      let bi = bBase + k * nCount + n;
      var v = 0.0;
      if (n < nCount && k < K) { v = ${bLoad}; }
      Bs[e >> 2u][e & 3u] = v;
    }`,
  );
  return `    // a tile: consecutive invocations read consecutive k of one row (coalesced), stored k-major
${a.join('\n')}
${b.join('\n')}`;
}

/** The multiply over one staged slice: vec4 reads of a and b that all lanes of a row share, TM×TN fmas. */
function sliceFmas(t: TiledParams): string {
  const { TM, TN, BK } = t;
  return `    for (var kk = 0u; kk < ${BK}u; kk++) {
${r(TM / 4)
  .map((i) => `      let a${i} = As[kk * ${(16 * TM) / 4}u + ty + ${16 * i}u];`)
  .join('\n')}
${r(TN / 4)
  .map((j) => `      let b${j} = Bs[kk * ${(16 * TN) / 4}u + tx + ${16 * j}u];`)
  .join('\n')}
${r(TM)
  .map((i) =>
    r(TN)
      .map((j) => `      acc${i * TN + j} = fma(a${i >> 2}[${i & 3}], b${j >> 2}[${j & 3}], acc${i * TN + j});`)
      .join('\n'),
  )
  .join('\n')}
    }`;
}

/** Epilogue: invocation (tx, ty) owns rows ty*4 + 64*i' + {0..3} and columns tx*4 + 64*j' + {0..3}, written in pairs. */
function writeOutputs(t: TiledParams): string {
  const { TM, TN } = t;
  const rowOf = (i: number) => `ty * 4u + ${64 * (i >> 2) + (i & 3)}u`;
  const colOf = (j: number) => `tx * 4u + ${64 * (j >> 2) + (j & 3)}u`;
  return r(TM)
    .map(
      (i) => `  {
    let m = m0 + ${rowOf(i)};
    if (m < M) {
      let row = wg.z * M + m;
${r(TN / 2)
  .map(
    (jp) =>
      `      { let nl = nl0 + ${colOf(2 * jp)}; if (nl < nCount) { write_out(row, uw(3u) + nl, acc${i * TN + 2 * jp}, acc${i * TN + 2 * jp + 1}, colEnd); } }`,
  )
  .join('\n')}
    }
  }`,
    )
    .join('\n');
}

export function tiledWgsl(p: MatmulPlan, caps: Pick<Capabilities, 'f16'>, t: TiledParams): string {
  const { TM, TN, BK } = t;
  const BM = 16 * TM;
  const BN = 16 * TN;
  return `${enables([p.aDtype, p.bDtype, p.outDtype, ...p.extraDtypes], caps)}
${storageDecl(0, 'a', p.aDtype, caps, 'read')}
${storageDecl(1, 'b', p.bDtype, caps, 'read')}
${outputWgsl(p, caps, 2)}
var<workgroup> As: array<vec4<f32>, ${(BK * BM) / 4}>;
var<workgroup> Bs: array<vec4<f32>, ${(BK * BN) / 4}>;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let M = uw(0u); let K = uw(2u); let nCount = uw(4u);
  let m0 = wg.y * ${BM}u;
  let nl0 = wg.x * ${BN}u;
  let aBase = wg.z * uw(5u);
  let bBase = wg.z * uw(6u);
  let tx = lid % 16u;
  let ty = lid / 16u;
${r(TM * TN)
  .map((i) => `  var acc${i} = 0.0;`)
  .join('\n')}
  for (var k0 = 0u; k0 < K; k0 += ${BK}u) {
${tileLoads(p, caps, t)}
    workgroupBarrier();
${sliceFmas(t)}
    workgroupBarrier();
  }
  let colEnd = uw(3u) + nCount;
${writeOutputs(t)}
}`;
}

export const matmulTiledKernel: GpuKernel = {
  op: 'matmul',
  whyUnsupported(caps: Capabilities, attrs: Attrs, inputs: readonly TensorDesc[]) {
    const a = attrs as MatmulAttrs;
    if (a.path && a.path !== 'auto' && a.path !== 'tiled') return `path '${a.path}' requested`;
    return commonProblem(caps, a, inputs);
  },
  encode(ctx, rawAttrs, inputs, outputs) {
    const attrs = rawAttrs as MatmulAttrs;
    const c = outputs[0]!;
    const p = planMatmul(attrs, inputs, c.dtype, ctx.caps);
    const t = tiledParams(p.g.M, p.g.N);
    const ranges = weightRanges(inputs[1]!, p, ctx.caps);
    if (typeof ranges === 'string') throw new Error(`matmul: ${ranges}`);
    const target = outputTarget(ctx, p, c);
    const label = `matmul.tiled.${p.aDtype}.${p.bDtype}${attrs.transB ? '.tB' : ''}.${16 * t.TM}x${16 * t.TN}`;
    const key = shaderKey(label, p, t);
    for (const r of ranges) {
      ctx.dispatch(
        { label, key, wgsl: () => tiledWgsl(p, ctx.caps, t), access: ['read', 'read', ...outputAccess(p)] },
        [inputs[0]!, r.range, target, ...inputs.slice(2)],
        matmulUniforms(p, r.n0, r.nCount),
        [Math.ceil(r.nCount / (16 * t.TN)), Math.ceil(p.g.M / (16 * t.TM)), p.g.batch],
      );
    }
    packScratch(ctx, p, target, c);
  },
};
