/**
 * The partitioned persistent kernel of nano-batching (docs/nanoflow.md): one dispatch whose
 * workgroups [0, nA) run a GEMM over nano-batch A (compute-bound) and whose workgroups
 * [nA, nA + nB) run decode attention over nano-batch B (memory-bound). WebGPU has one queue and no
 * way to pin work to SMs, so the share of the device each op gets is its share of the workgroups
 * that are resident at once; each side loops over its own work items (persistent), so its share
 * stays fixed whatever the size of its work.
 *
 * Layouts (all f32; the probe and the tests use them, not the model's packed weights):
 *   x    [rowsA, K]                         activations of nano-batch A
 *   w    [K, N]                             weights, K-major so a workgroup's threads read adjacent columns
 *   y    [rowsA, N]                         y = x · w
 *   q    [reqsB, heads, D]                  one decode query per request of nano-batch B
 *   kv   [pages, 2, pageSize, kvHeads, D]   a paged pool: K then V of each page
 *   meta u32: indptr[reqsB + 1], kvLen[reqsB], pageIds[indptr[reqsB]]  the page table
 *   o    [reqsB, heads, D]
 * `nA = 0` or `nB = 0` gives either op alone, which is how the probe times them apart.
 *
 * @example
 * const wgsl = partitionedKernelWgsl({ headDim: 128 });
 * const u = partitionedUniforms({ rowsA: 64, K: 4096, N: 4096, nA: 96, reqsB: 64, heads: 32, kvHeads: 8, headDim: 128, pageSize: 16, nB: 160 });
 * // dispatch (nA + nB, 1, 1) workgroups with bindings x, w, y, q, kv, meta, o and uniforms u
 */

/** Threads per workgroup: one GEMM output column each, one key position each in attention. */
export const PARTITIONED_WORKGROUP = 64;
/** Rows of x a GEMM work item covers (the register tile of a thread). */
export const GEMM_TILE_ROWS = 8;
/** K elements of the x tile staged in workgroup memory at a time. */
const GEMM_TILE_K = 64;

export interface PartitionedKernelOptions {
  /** Attention head dimension: the accumulator of a thread holds headDim / 64 (rounded up) values. */
  headDim: number;
}

export interface PartitionedShape {
  rowsA: number;
  K: number;
  N: number;
  /** Workgroups running the GEMM. */
  nA: number;
  reqsB: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  pageSize: number;
  /** Workgroups running decode attention. */
  nB: number;
  /** Softmax scale; default 1/√headDim. */
  scale?: number;
}

/** GEMM work items: (row tile, column tile) pairs. */
export function gemmItems(s: Pick<PartitionedShape, 'rowsA' | 'N'>): number {
  return Math.ceil(s.rowsA / GEMM_TILE_ROWS) * Math.ceil(s.N / PARTITIONED_WORKGROUP);
}

/** Attention work items: (request, query head) pairs. */
export function attentionItems(s: Pick<PartitionedShape, 'reqsB' | 'heads'>): number {
  return s.reqsB * s.heads;
}

/** The uniform words the kernel reads, in its `P` struct's order. */
export function partitionedUniforms(s: PartitionedShape): Uint32Array {
  if (s.heads % s.kvHeads !== 0) throw new RangeError(`heads ${s.heads} not a multiple of kvHeads ${s.kvHeads}`);
  const scale = new Float32Array([s.scale ?? 1 / Math.sqrt(s.headDim)]);
  return new Uint32Array([
    s.rowsA,
    s.K,
    s.N,
    s.nA,
    s.reqsB,
    s.heads,
    s.kvHeads,
    s.headDim,
    s.pageSize,
    s.nB,
    new Uint32Array(scale.buffer)[0]!,
    0,
  ]);
}

export function partitionedKernelWgsl(o: PartitionedKernelOptions): string {
  const WG = PARTITIONED_WORKGROUP;
  const TR = GEMM_TILE_ROWS;
  return /* wgsl */ `
struct P { rowsA: u32, K: u32, N: u32, nA: u32, reqsB: u32, heads: u32, kvHeads: u32, D: u32,
           pageSize: u32, nB: u32, scale: f32, pad: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read> q: array<f32>;
@group(0) @binding(4) var<storage, read> kv: array<f32>;
@group(0) @binding(5) var<storage, read> pt: array<u32>;
@group(0) @binding(6) var<storage, read_write> o: array<f32>;
@group(0) @binding(7) var<uniform> p: P;

${gemmItemWgsl()}
${attentionItemWgsl(o.headDim)}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  // the branch depends on the workgroup alone, so the barriers inside stay in uniform control flow
  if (wg.x < p.nA) {
    let items = ((p.rowsA + ${TR - 1}u) / ${TR}u) * ((p.N + ${WG - 1}u) / ${WG}u);
    for (var it = wg.x; it < items; it += p.nA) { gemmItem(it, t); }
  } else {
    let b = wg.x - p.nA;
    let items = p.reqsB * p.heads;
    for (var it = b; it < items; it += p.nB) { attentionItem(it, t); }
  }
}
`;
}

/** The GEMM side: `gemmItem(item, thread)`. */
function gemmItemWgsl(): string {
  const WG = PARTITIONED_WORKGROUP;
  const TR = GEMM_TILE_ROWS;
  const TK = GEMM_TILE_K;
  return /* wgsl */ `
var<workgroup> xs: array<f32, ${TR * TK}>;

// One (row tile, column tile) of y: thread t owns column c0 + t for ${TR} rows; x is staged in
// workgroup memory ${TK} K-elements at a time, w is read straight (adjacent threads, adjacent columns).
fn gemmItem(item: u32, t: u32) {
  let colTiles = (p.N + ${WG - 1}u) / ${WG}u;
  let r0 = (item / colTiles) * ${TR}u;
  let col = (item % colTiles) * ${WG}u + t;
  var acc: array<f32, ${TR}>;
  for (var k0 = 0u; k0 < p.K; k0 += ${TK}u) {
    for (var i = t; i < ${TR * TK}u; i += ${WG}u) {
      let r = r0 + i / ${TK}u;
      let k = k0 + i % ${TK}u;
      xs[i] = select(0.0, x[r * p.K + k], r < p.rowsA && k < p.K);
    }
    workgroupBarrier();
    if (col < p.N) {
      let kEnd = min(${TK}u, p.K - k0);
      for (var kk = 0u; kk < kEnd; kk++) {
        let wv = w[(k0 + kk) * p.N + col];
        for (var r = 0u; r < ${TR}u; r++) { acc[r] = fma(xs[r * ${TK}u + kk], wv, acc[r]); }
      }
    }
    workgroupBarrier();
  }
  if (col < p.N) {
    for (var r = 0u; r < ${TR}u; r++) {
      if (r0 + r < p.rowsA) { y[(r0 + r) * p.N + col] = acc[r]; }
    }
  }
}`;
}

/** The attention side: `attentionItem(item, thread)` and the workgroup reduction it uses. */
function attentionItemWgsl(headDim: number): string {
  const WG = PARTITIONED_WORKGROUP;
  const DPT = Math.ceil(headDim / WG); // output dims per thread
  return /* wgsl */ `
var<workgroup> scores: array<f32, ${WG}>;
var<workgroup> red: array<f32, ${WG}>;

fn blockReduce(v: f32, t: u32, isMax: bool) -> f32 {
  red[t] = v;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s >>= 1u) {
    if (t < s) { red[t] = select(red[t] + red[t + s], max(red[t], red[t + s]), isMax); }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

// One (request, query head): keys in blocks of ${WG}, thread t scores key j0 + t, then every
// thread folds the block into its ${DPT} output dims with an online softmax.
fn attentionItem(item: u32, t: u32) {
  let req = item / p.heads;
  let h = item % p.heads;
  let kvh = h / (p.heads / p.kvHeads);
  let len = pt[p.reqsB + 1u + req];
  let pages = pt[req];
  let qBase = (req * p.heads + h) * p.D;
  let rowStride = p.kvHeads * p.D;
  let pageStride = 2u * p.pageSize * rowStride;
  var m = -3.0e38;
  var l = 0.0;
  var acc: array<f32, ${DPT}>;
  for (var j0 = 0u; j0 < len; j0 += ${WG}u) {
    let j = j0 + t;
    var s = -3.0e38;
    if (j < len) {
      let page = pt[2u * p.reqsB + 1u + pages + j / p.pageSize];
      let kBase = page * pageStride + (j % p.pageSize) * rowStride + kvh * p.D;
      var dot = 0.0;
      for (var d = 0u; d < p.D; d++) { dot = fma(q[qBase + d], kv[kBase + d], dot); }
      s = dot * p.scale;
    }
    let mNew = max(m, blockReduce(s, t, true));
    let e = select(0.0, exp(s - mNew), j < len);
    scores[t] = e;
    let alpha = exp(m - mNew);
    l = l * alpha + blockReduce(e, t, false);
    m = mNew;
    let n = min(${WG}u, len - j0);
    for (var i = 0u; i < ${DPT}u; i++) {
      let d = t + i * ${WG}u;
      var a = acc[i] * alpha;
      if (d < p.D) {
        for (var jj = 0u; jj < n; jj++) {
          let jg = j0 + jj;
          let page = pt[2u * p.reqsB + 1u + pages + jg / p.pageSize];
          let vBase = page * pageStride + (p.pageSize + jg % p.pageSize) * rowStride + kvh * p.D;
          a = fma(scores[jj], kv[vBase + d], a);
        }
      }
      acc[i] = a;
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < ${DPT}u; i++) {
    let d = t + i * ${WG}u;
    if (d < p.D) { o[qBase + d] = select(0.0, acc[i] / l, l > 0.0); }
  }
}`;
}
