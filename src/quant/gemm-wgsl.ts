/**
 * Prefill GEMM: a workgroup owns a 16 × 16 tile of y and walks K in steps of 32. The tile loader
 * decodes the weights (decode-wgsl.ts) straight into workgroup memory, so the stored bytes are
 * the only copy of W; activations are staged beside them. Every weight tile is decoded once per
 * workgroup and reused by its 16 rows of x.
 */
import type { QuantFormat } from './formats.js';
import { decodeWgsl } from './decode-wgsl.js';
import { GEMM_TILE_STORE_WGSL, gemmTileEntryWgsl } from './gemm-tile-wgsl.js';

export const GEMM_TILE = 16;
const KSTEP = 32;

export function quantGemmWgsl(format: QuantFormat): string {
  const T = GEMM_TILE;
  return /* wgsl */ `
struct U { m: u32, n: u32, k: u32, gx: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> wq: array<u32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> u: U;
${decodeWgsl(format, 'u.k', 'u.n')}
var<workgroup> xs: array<f32, ${T * KSTEP}>;
var<workgroup> ws: array<f32, ${T * KSTEP}>;

${gemmTileEntryWgsl(T)}
  var acc = 0.0;
  for (var k0 = 0u; k0 < u.k; k0 += ${KSTEP}u) {
    for (var e = t; e < ${T * KSTEP}u; e += ${T * T}u) {
      let r = m0 + e / ${KSTEP}u;
      xs[e] = select(0.0, x[min(r, u.m - 1u) * u.k + k0 + e % ${KSTEP}u], r < u.m);
    }
    if (t < ${(T * KSTEP) / 8}u) {
      let r = t / ${KSTEP / 8}u;
      let c = (t % ${KSTEP / 8}u) * 8u;
      var w = array<vec4<f32>, 2>(vec4<f32>(0.0), vec4<f32>(0.0));
      if (n0 + r < u.n) { w = decode8(n0 + r, k0 + c); }
      for (var i = 0u; i < 4u; i++) {
        ws[r * ${KSTEP}u + c + i] = w[0][i];
        ws[r * ${KSTEP}u + c + 4u + i] = w[1][i];
      }
    }
    workgroupBarrier();
    for (var kk = 0u; kk < ${KSTEP}u; kk++) { acc += xs[lid.y * ${KSTEP}u + kk] * ws[lid.x * ${KSTEP}u + kk]; }
    workgroupBarrier();
  }
${GEMM_TILE_STORE_WGSL}
`;
}
