/**
 * GEMV for 5 ≤ M ≤ 16 when forced (`attrs.path`; the chunked GEMV, gemv-chunked-wgsl.ts, serves
 * M ≤ 4): one workgroup per weight row, so each stored byte is read once however many activation
 * rows there are. Each invocation walks the row 8 values at a time, decodes them in
 * registers (decode-wgsl.ts) and multiplies them into M accumulators; M is compiled in, so the
 * accumulators stay in registers. A tree over the workgroup sums the partial dot products.
 */
import type { QuantFormat } from './formats.js';
import { decodeWgsl } from './decode-wgsl.js';

export const GEMV_MAX_M = 16;
export const GEMV_THREADS = 64;

export function quantGemvWgsl(format: QuantFormat, m: number): string {
  const W = GEMV_THREADS;
  return /* wgsl */ `
struct U { m: u32, n: u32, k: u32, gx: u32 }
@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> wq: array<u32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> u: U;
${decodeWgsl(format, 'u.k', 'u.n')}
const MR = ${m}u;
const WG = ${W}u;
var<workgroup> part: array<f32, ${W * m}>;

@compute @workgroup_size(${W})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let row = wid.x + wid.y * u.gx;
  if (row >= u.n) { return; }
  var acc: array<f32, ${m}>;
  for (var k = t * 8u; k < u.k; k += WG * 8u) {
    let w = decode8(row, k);
    for (var i = 0u; i < MR; i++) {
      let a = (i * u.k + k) / 4u;
      acc[i] += dot(x[a], w[0]) + dot(x[a + 1u], w[1]);
    }
  }
  for (var i = 0u; i < MR; i++) { part[i * WG + t] = acc[i]; }
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (t < s) {
      for (var i = 0u; i < MR; i++) { part[i * WG + t] += part[i * WG + t + s]; }
    }
    workgroupBarrier();
  }
  if (t < MR) { y[t * u.n + row] = part[t * WG]; }
}
`;
}
