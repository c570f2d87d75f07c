/**
 * Batched GEMM for decode batches and short prefill chunks (2 ≤ M ≤ BATCHED_MAX_M): a workgroup
 * owns BN weight rows × BM activation rows. KG groups of threads inside it take turns along K, one
 * KS-value step each: a group decodes its BN × KS weights once (decode-wgsl.ts) into workgroup
 * memory, stages BM × KS activations beside them, and each of its threads multiplies a TM × 4
 * register block out of both tiles with vec4 reads. At the end the groups' partial sums are added
 * through workgroup memory. Where the matrix has too few row tiles to fill a large GPU, K is also
 * cut into slices across workgroups (`batchedSplit`), and a second pass adds the slices.
 *
 * Why this shape: with BM ≥ M every stored weight byte leaves memory once per call (the GEMV does
 * that too, but it re-reads all M activation rows for every weight row, N · M · K · 4 bytes a call),
 * and activations are read once per BN weight rows (N / BN · M · K · 4 bytes). Register blocking
 * keeps the workgroup-memory reads at (TM + 4) vec4 per 16 · TM multiply-adds. The K groups exist
 * for latency: a 4096-row matrix is only 128 workgroups of 32 rows, about one per multiprocessor of
 * a large GPU, and one group of 64 threads per multiprocessor would wait on every weight load.
 * Thread (tx, ty) of a group owns weight rows tx + TX·j and activation rows ty + TY·i: for a fixed
 * step the TX threads of a quarter-warp read TX different weight rows, whose padded stride
 * (KS / 4 + 1 vec4) puts them on different banks.
 */
import type { Capabilities } from '../backends/webgpu/capabilities.js';
import { decodeWgsl } from './decode-wgsl.js';
import type { QuantFormat } from './formats.js';
import { tileSliceWgsl } from './tile-slice-wgsl.js';

/** Largest M the batched kernel takes; past it the tiled GEMM serves (compute-bound either way). */
export const BATCHED_MAX_M = 256;
/** K step of one group: every format's block is a multiple of 32, so every step is whole. */
export const BATCHED_KS = 32;
/** Weight rows of a workgroup's tile. */
export const BATCHED_BN = 32;
const BN = BATCHED_BN;
const TN = 4;
const STRIDE = BATCHED_KS / 4 + 1;

export interface BatchedTile {
  /** Activation rows of the workgroup's tile (its weight rows are always 32). */
  readonly BM: number;
  /** Activation rows of each thread's register block (× 4 weight rows: one vec4 accumulator a row). */
  readonly TM: number;
  /** Thread groups that take turns along K. */
  readonly KG: number;
}

export const batchedThreads = (t: BatchedTile): number => t.KG * (t.BM / t.TM) * (BN / TN);
export const batchedSharedBytes = (t: BatchedTile): number => t.KG * (t.BM + BN) * STRIDE * 16;

/** Forces the K-group count and the K split (tests reach every variant on any device; tuning runs compare them). */
export const batchedTuning: { kg: 1 | 2 | 4 | null; split: number | null } = { kg: null, split: null };

/**
 * Workgroups the K split aims for: a few per multiprocessor of a large GPU (the H100 has 132), so
 * that weight loads of some wait while others multiply. Each split keeps at least MIN_TURNS turns of
 * its K groups, so short K is not cut into slices that cost more to sum than they save.
 */
export const BATCHED_TARGET_WORKGROUPS = 512;
const MIN_TURNS = 4;

export interface BatchedSplit {
  /** Slices of K, each summed by its own workgroups into a partial product. */
  readonly split: number;
  /** K values per slice, a multiple of KG · KS (the last slice may be shorter). */
  readonly kc: number;
}

/**
 * How many slices of K the product is cut into: matrices with few row tiles (K/V projections of
 * 1024 rows are 32 workgroups) would leave most of a large GPU idle, so their K is split and a
 * second pass (`batchedSplitSumWgsl`) adds the slices, in a fixed order.
 */
export function batchedSplit(t: BatchedTile, m: number, n: number, k: number): BatchedSplit {
  const tiles = Math.ceil(m / t.BM) * Math.ceil(n / BN);
  const turns = Math.ceil(k / (t.KG * BATCHED_KS));
  const want =
    batchedTuning.split ?? Math.min(Math.ceil(BATCHED_TARGET_WORKGROUPS / tiles), Math.floor(turns / MIN_TURNS));
  const kc = Math.ceil(turns / Math.max(1, Math.min(want, turns))) * t.KG * BATCHED_KS;
  return { split: Math.ceil(k / kc), kc };
}

/** part [split, count] summed over its first axis into y [count], slice 0 first. */
export function batchedSplitSumWgsl(): string {
  return /* wgsl */ `
struct U { count: u32, split: u32, gx: u32, pad: u32 }
@group(0) @binding(0) var<storage, read> part: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> u: U;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let i = (wid.x + wid.y * u.gx) * 256u + t;
  if (i >= u.count) { return; }
  var s = 0.0;
  for (var p = 0u; p < u.split; p++) { s += part[p * u.count + i]; }
  y[i] = s;
}
`;
}

/**
 * The tile for M rows: BM the smallest of 4, 8, 16, 32, 64 that holds M (M > 64 re-reads the weights
 * ⌈M / 64⌉ times, by then far less than the multiply-adds cost), the register block growing with BM,
 * and as many K groups (4, 2, 1) as the device's workgroup limits take; null where none fits.
 */
export function batchedTile(
  m: number,
  caps: Pick<
    Capabilities,
    'maxComputeWorkgroupStorageSize' | 'maxComputeInvocationsPerWorkgroup' | 'maxComputeWorkgroupSizeX'
  >,
): BatchedTile | null {
  const [BM, TM] = m <= 4 ? [4, 1] : m <= 8 ? [8, 1] : m <= 16 ? [16, 2] : m <= 32 ? [32, 2] : [64, 4];
  for (const KG of batchedTuning.kg ? [batchedTuning.kg] : [4, 2, 1]) {
    const t = { BM, TM, KG };
    if (
      batchedSharedBytes(t) <= caps.maxComputeWorkgroupStorageSize &&
      batchedThreads(t) <= Math.min(caps.maxComputeInvocationsPerWorkgroup, caps.maxComputeWorkgroupSizeX)
    )
      return t;
  }
  return null;
}

const r = (n: number) => Array.from({ length: n }, (_, i) => i);

/** After the K loop: groups 1.. leave their partial sums in workgroup memory and group 0 adds them. */
function groupMerge(t: BatchedTile, TX: number, TY: number): string {
  const { BM, TM, KG } = t;
  return KG > 1
    ? `  if (g > 0u) {
${r(TM)
  .map((i) => `    sh[((g - 1u) * ${BM}u + ty + ${TY * i}u) * ${TX}u + tx] = acc${i};`)
  .join('\n')}
  }
  workgroupBarrier();
  if (g > 0u) { return; }
  for (var h = 0u; h < ${KG - 1}u; h++) {
${r(TM)
  .map((i) => `    acc${i} += sh[(h * ${BM}u + ty + ${TY * i}u) * ${TX}u + tx];`)
  .join('\n')}
  }`
    : '';
}

/** One kk step of the register block: TN weight rows and TM activation rows out of workgroup memory. */
function multiplyAdd(TM: number, TX: number, TY: number): string {
  const S = STRIDE;
  const w = r(TN).map((j) => `        let w${j} = sh[wb + (tx + ${TX * j}u) * ${S}u + kk];`);
  const dots = r(TN)
    .map((j) => `dot(a, w${j})`)
    .join(', ');
  const a = r(TM).map(
    (i) => `        { let a = sh[xb + (ty + ${TY * i}u) * ${S}u + kk]; acc${i} += vec4<f32>(${dots}); }`,
  );
  return [...w, ...a].join('\n');
}

/** Group 0's register block into y (the slice's plane of partial sums when K is split). */
function storeOutputs(TM: number, TX: number, TY: number): string {
  return r(TM)
    .map(
      (i) => `  {
    let m = m0 + ty + ${TY * i}u;
    if (m < u.m) {
${r(TN)
  .map(
    (j) =>
      `      if (n0 + tx + ${TX * j}u < u.n) { y[(slice * u.m + m) * u.n + n0 + tx + ${TX * j}u] = acc${i}[${j}]; }`,
  )
  .join('\n')}
    }
  }`,
    )
    .join('\n');
}

export function quantBatchedWgsl(format: QuantFormat, t: BatchedTile): string {
  const { BM, TM, KG } = t;
  const KS = BATCHED_KS;
  const S = STRIDE;
  const TX = BN / TN;
  const TY = BM / TM;
  const LG = TX * TY; // threads of one group
  const GROUP = (BM + BN) * S; // vec4 of one group's two tiles: activations, then weights
  return /* wgsl */ `
// tiles: row tiles × column tiles of y; kc: K values per slice (batchedSplit)
struct U { m: u32, n: u32, k: u32, gx: u32, tiles: u32, kc: u32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> wq: array<u32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> u: U;
${decodeWgsl(format, 'u.k', 'u.n')}
// the groups' tiles one after another; after the K loop, the partial sums of groups 1.. in the same memory
var<workgroup> sh: array<vec4<f32>, ${KG * GROUP}>;

@compute @workgroup_size(${KG * LG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
${tileSliceWgsl(BM, BN)}
  let g = t / ${LG}u;
  let tl = t % ${LG}u;
  let tx = tl % ${TX}u;
  let ty = tl / ${TX}u;
  let xb = g * ${GROUP}u;
  let wb = xb + ${BM * S}u;
${r(TM)
  .map((i) => `  var acc${i} = vec4<f32>(0.0);`)
  .join('\n')}
  for (var s0 = kb; s0 < ke; s0 += ${KG * KS}u) {
    let k0 = s0 + g * ${KS}u;
    if (k0 < ke) {
      // BM × KS activations, 16-byte reads along a row; rows past M as zeros
      for (var e = tl; e < ${BM * (KS / 4)}u; e += ${LG}u) {
        let mr = e / ${KS / 4}u;
        let c = e % ${KS / 4}u;
        var v = vec4<f32>(0.0);
        if (m0 + mr < u.m) { v = x[((m0 + mr) * u.k + k0) / 4u + c]; }
        sh[xb + mr * ${S}u + c] = v;
      }
      // BN × KS weights, decoded once; consecutive threads take consecutive 8-value runs of a row
      for (var e = tl; e < ${BN * (KS / 8)}u; e += ${LG}u) {
        let nr = e / ${KS / 8}u;
        let c = e % ${KS / 8}u;
        var w = array<vec4<f32>, 2>(vec4<f32>(0.0), vec4<f32>(0.0));
        if (n0 + nr < u.n) { w = decode8(n0 + nr, k0 + c * 8u); }
        sh[wb + nr * ${S}u + 2u * c] = w[0];
        sh[wb + nr * ${S}u + 2u * c + 1u] = w[1];
      }
    }
    workgroupBarrier();
    if (k0 < ke) {
      for (var kk = 0u; kk < ${KS / 4}u; kk++) {
${multiplyAdd(TM, TX, TY)}
      }
    }
    workgroupBarrier();
  }
${groupMerge(t, TX, TY)}
${storeOutputs(TM, TX, TY)}
}
`;
}
