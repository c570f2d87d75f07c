/**
 * Batched GEMM for decode batches and short prefill chunks (2 ≤ M ≤ BATCHED_MAX_M): a workgroup
 * owns BN weight rows × BM activation rows and walks K in steps of KS. Per step it decodes its BN × KS
 * weights once (decode-wgsl.ts) into workgroup memory and stages BM × KS activations beside them;
 * each thread then multiplies a TM × TN register block out of both tiles with vec4 reads.
 *
 * Why this shape: with BM ≥ M every stored weight byte leaves memory once per call (the GEMV does
 * that too, but it re-reads all M activation rows for every weight row, N · M · K · 4 bytes a call),
 * and activations are read once per BN weight rows (N / BN · M · K · 4 bytes). Register blocking
 * keeps the workgroup-memory reads at (TM + TN) vec4 per 4 · TM · TN multiply-adds. Thread (tx, ty)
 * owns weight rows tx + TX·j and activation rows ty + TY·i: for a fixed step the TX threads of a
 * quarter-warp read TX different weight rows, whose padded stride (KS / 4 + 1 vec4) puts them on
 * different banks.
 */
import type { QuantFormat } from './formats.js';
import { decodeWgsl } from './decode-wgsl.js';

/** Largest M the batched kernel takes; past it the tiled GEMM serves (compute-bound either way). */
export const BATCHED_MAX_M = 256;
/** K step: 64 values is 32 bytes of a w4 row (one memory sector) and divides every format's block but Q8_0/Q4_0's 32. */
export const BATCHED_KS = 64;

export interface BatchedTile {
  /** Activation rows and weight rows of the workgroup's tile. */
  readonly BM: number;
  readonly BN: number;
  /** The register block of each thread: TM activation rows × 4 weight rows (one vec4 accumulator a row). */
  readonly TM: number;
  readonly TN: 4;
}

/**
 * The tile for M rows: BM the smallest of 8, 16, 32, 64 that holds M (M > 64 re-reads the weights
 * ⌈M / 64⌉ times, by then far less than the multiply-adds cost), 32 weight rows, and the register
 * block growing with BM so that wide tiles do more multiply-adds per workgroup-memory read.
 */
export function batchedTile(m: number): BatchedTile {
  if (m <= 8) return { BM: 8, BN: 32, TM: 1, TN: 4 };
  if (m <= 16) return { BM: 16, BN: 32, TM: 2, TN: 4 };
  if (m <= 32) return { BM: 32, BN: 32, TM: 2, TN: 4 };
  return { BM: 64, BN: 32, TM: 4, TN: 4 };
}

export const batchedThreads = (t: BatchedTile): number => (t.BM / t.TM) * (t.BN / t.TN);

const r = (n: number) => Array.from({ length: n }, (_, i) => i);

export function quantBatchedWgsl(format: QuantFormat, t: BatchedTile): string {
  const { BM, BN, TM, TN } = t;
  const KS = BATCHED_KS;
  const TX = BN / TN;
  const TY = BM / TM;
  const L = batchedThreads(t);
  const S = KS / 4 + 1; // padded row stride of both tiles, in vec4
  return /* wgsl */ `
struct U { m: u32, n: u32, k: u32, gx: u32 }
@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> wq: array<u32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> u: U;
${decodeWgsl(format, 'u.k', 'u.n')}
var<workgroup> xs: array<vec4<f32>, ${BM * S}>;
var<workgroup> ws: array<vec4<f32>, ${BN * S}>;

@compute @workgroup_size(${L})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let tile = wid.x + wid.y * u.gx;
  let tilesN = (u.n + ${BN - 1}u) / ${BN}u;
  let m0 = (tile / tilesN) * ${BM}u;
  let n0 = (tile % tilesN) * ${BN}u;
  if (m0 >= u.m) { return; }
  let tx = t % ${TX}u;
  let ty = t / ${TX}u;
${r(TM)
  .map((i) => `  var acc${i} = vec4<f32>(0.0);`)
  .join('\n')}
  for (var k0 = 0u; k0 < u.k; k0 += ${KS}u) {
    // BM × KS activations, 16-byte reads along a row; rows past M and columns past K as zeros
    for (var e = t; e < ${BM * (KS / 4)}u; e += ${L}u) {
      let mr = e / ${KS / 4}u;
      let c = e % ${KS / 4}u;
      var v = vec4<f32>(0.0);
      if (m0 + mr < u.m && k0 + c * 4u < u.k) { v = x[((m0 + mr) * u.k + k0) / 4u + c]; }
      xs[mr * ${S}u + c] = v;
    }
    // BN × KS weights, decoded once: eight consecutive threads take one row's 64 values
    for (var e = t; e < ${BN * (KS / 8)}u; e += ${L}u) {
      let nr = e / ${KS / 8}u;
      let c = e % ${KS / 8}u;
      var w = array<vec4<f32>, 2>(vec4<f32>(0.0), vec4<f32>(0.0));
      if (n0 + nr < u.n && k0 + c * 8u < u.k) { w = decode8(n0 + nr, k0 + c * 8u); }
      ws[nr * ${S}u + 2u * c] = w[0];
      ws[nr * ${S}u + 2u * c + 1u] = w[1];
    }
    workgroupBarrier();
    for (var kk = 0u; kk < ${KS / 4}u; kk++) {
${r(TN)
  .map((j) => `      let w${j} = ws[(tx + ${TX * j}u) * ${S}u + kk];`)
  .join('\n')}
${r(TM)
  .map(
    (i) =>
      `      { let a = xs[(ty + ${TY * i}u) * ${S}u + kk]; acc${i} += vec4<f32>(${r(TN)
        .map((j) => `dot(a, w${j})`)
        .join(', ')}); }`,
  )
  .join('\n')}
    }
    workgroupBarrier();
  }
${r(TM)
  .map(
    (i) => `  {
    let m = m0 + ty + ${TY * i}u;
    if (m < u.m) {
${r(TN)
  .map((j) => `      if (n0 + tx + ${TX * j}u < u.n) { y[m * u.n + n0 + tx + ${TX * j}u] = acc${i}[${j}]; }`)
  .join('\n')}
    }
  }`,
  )
  .join('\n')}
}
`;
}
