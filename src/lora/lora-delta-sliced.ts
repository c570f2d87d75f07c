/**
 * The `lora_delta` kernel (lora-delta.ts), one dispatch per call; lora-delta-plan.ts picks its
 * tiles and slices. At batch 1 the whole term of a projection is a few MB of A and B, so its cost is
 * latency, not bandwidth: a workgroup must not walk K serially, and the shrink must spread over many
 * workgroups.
 *
 * A workgroup owns one row, one tile of output columns of one member (256 · cols: each thread cols
 * columns, 256 apart) and one slice of K: it computes the slice's part of every rank of v = x̂·A[a]ᵀ
 * and that part's expand over its tile, Σ_r v_r·B[c, r] (the term is linear in v, so the parts of
 * the slices add up to the term). In the shrink every thread covers its own k positions of the slice
 * for eight ranks at once, with the slice's k loop unrolled so each thread has its loads of A in
 * flight together; a three-level tree in workgroup memory then sums the 256 threads' eight partial
 * ranks. Slices are sized so a workgroup reads at most SLICE_BYTES of A; a row's tiles each
 * recompute the shrink, but from the cache, and spread over SMs. More rows than decode take one
 * slice and wide tiles (WIDE_COLS columns a thread): the rows give the parallelism.
 *
 * With one slice the workgroup writes d itself. With more, the slices of a tile meet through a
 * workspace buffer: each stores its part and counts itself in the tile's counter (atomics, so the
 * stores are visible at the device's point of coherence before the count), and the last of them
 * sums the parts in slice order (the result does not depend on which slice finished last), scales
 * them and writes d, then resets the counter so the workspace is zero for the next run
 * (chunk-workspace.ts). Nothing waits on another workgroup, so no schedule deadlocks.
 *
 * Ranks past a row's own are never read (the eight-rank loop stops at the rank; its last block reads
 * only live ranks); a row with no adapter reads nothing and has its zeros written by slice 0.
 */
import type { Capabilities } from '../backends/webgpu/capabilities.js';
import { loadF32, uniformDecl } from '../kernels/wgsl-dtype.js';
import { bytesPerElement } from '../tensor/dtype.js';
import type { LoraDeltaGeometry } from './lora-delta.js';
import {
  loraDeltaBindings,
  loraDeltaEnables,
  memberAccessorsWgsl,
  normedXWgsl,
  ROW_RANK_WGSL,
  segmentWalkWgsl,
} from './lora-delta-wgsl.js';

export const SLICED_WG = 256;
/** Output columns of a decode workgroup: one per thread. */
export const SLICED_TILE = SLICED_WG;
/** Columns per thread of a wide tile (more rows than decode): a tile of 4096 columns. */
export const WIDE_COLS = 16;
/** Ranks a thread accumulates at once (registers), and the width of the reduction tree. */
const RANKS_AT_ONCE = 8;
/** Bytes of A (at rmax) one workgroup's slice reads at most: 32 KiB, a rank-16 f16 A over 1024 of K. */
export const SLICE_BYTES = 32 * 1024;
/** k positions a thread covers per slice at most (the unrolled loads per rank). */
const MAX_PER_THREAD = 16;
/** k positions a thread's unrolled block covers; a slice longer than that loops over blocks. */
const UNROLL = 8;

/** The slice of K a workgroup covers when slices are allowed: a multiple of SLICED_WG. */
export function sliceLength(g: Pick<LoraDeltaGeometry, 'rmax' | 'weight' | 'k'>): number {
  const perThread = SLICE_BYTES / (Math.max(g.rmax, 1) * bytesPerElement(g.weight) * SLICED_WG);
  const pow2 = 2 ** Math.floor(Math.log2(Math.max(1, perThread)));
  const want = Math.min(pow2, MAX_PER_THREAD) * SLICED_WG;
  return Math.min(want, wholeK(g.k));
}

/** The slice length that covers K in one slice. */
export const wholeK = (k: number) => Math.ceil(k / SLICED_WG) * SLICED_WG;

/** Tiles of `tile` columns over all members. */
export const slicedTiles = (g: Pick<LoraDeltaGeometry, 'widths'>, tile = SLICED_TILE) =>
  g.widths.reduce((s, N) => s + Math.ceil(N / tile), 0);

/** The workspace: a counter per (row, tile), then each slice's part of each (row, tile), as u32 words. */
export const slicedScratchWords = (g: LoraDeltaGeometry, slices: number, cols = 1) => {
  const tile = SLICED_WG * cols;
  const cells = g.n * slicedTiles(g, tile);
  return cells + cells * slices * tile;
};

/** The shrink of one block of `count` k positions from `kb` (stride SLICED_WG) for ranks r0..r0+7. */
function shrinkBlock(g: LoraDeltaGeometry, caps: Pick<Capabilities, 'f16'>, count: number, indent: string): string {
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    lines.push(`{ let k = kb + ${i * SLICED_WG}u;`);
    lines.push(`  if (k < kend) {`);
    lines.push(`    let xv = ${normedXWgsl(g, caps)};`);
    lines.push(`    let ab = (s * rmax + r0) * K + k;`);
    lines.push(`    acc0 += xv * a_at(seg, ab);`);
    for (let j = 1; j < RANKS_AT_ONCE; j++)
      lines.push(`    if (${j}u < nr) { acc${j} += xv * a_at(seg, ab + ${j}u * K); }`);
    lines.push(`  }`);
    lines.push(`}`);
  }
  return lines.map((l) => indent + l).join('\n');
}

const R = RANKS_AT_ONCE;
const sumsOf = (name: string, at: (i: number) => string, n: number) =>
  Array.from({ length: n }, (_, i) => `${name}[${at(i)}]`).join(' + ');

/**
 * Sets `var rs` to the row's 1/RMS (eps in uniform 4) where the op normalises; nothing otherwise (rs
 * stays 1). Each thread's squares in unrolled blocks of UNROLL loads, then 256 → 32 → 1 through
 * `red` and `sh` (free until the shrink, which the last barrier guards).
 */
function rmsScaleWgsl(g: LoraDeltaGeometry, caps: Pick<Capabilities, 'f16'>): string {
  if (g.normDtype === undefined) return '';
  const squares = Array.from(
    { length: UNROLL },
    (_, i) =>
      `    { let k = kb + ${i * SLICED_WG}u; if (k < K) { let xv = ${loadF32(g.act, caps, 'x', 'xb + k')}; ss += xv * xv; } }`,
  ).join('\n');
  return `  var ss = 0.0;
  for (var kb = lid; kb < K; kb += ${UNROLL * SLICED_WG}u) {
${squares}
  }
  red[lid] = ss;
  workgroupBarrier();
  if (lid < 32u) { sh[lid] = ${sumsOf('red', (i) => `lid + ${32 * i}u`, 8)}; }
  workgroupBarrier();
  rs = inverseSqrt((${sumsOf('sh', (i) => `${i}u`, 32)}) / f32(K) + uf(4u));
  workgroupBarrier();`;
}

/**
 * The slice's part of v into `vr`, eight ranks at a time: each thread's unrolled loads of A, then
 * the tree over the 256 threads: rank j's parts → 32 (stride 32, conflict-free) → 8 → 1, in a fixed
 * order. Ends with a barrier, so every thread may read `vr`.
 */
function shrinkWgsl(g: LoraDeltaGeometry, caps: Pick<Capabilities, 'f16'>, sliceLen: number): string {
  const perThread = sliceLen / SLICED_WG;
  const block = Math.min(perThread, UNROLL);
  const accs = Array.from({ length: R }, (_, j) => `acc${j}`);
  const loads =
    perThread <= UNROLL
      ? `    let kb = k0 + lid;\n${shrinkBlock(g, caps, block, '    ')}`
      : `    for (var kb = k0 + lid; kb < kend; kb += ${block * SLICED_WG}u) {\n${shrinkBlock(g, caps, block, '      ')}\n    }`;
  return `  let k0 = slice * ${sliceLen}u;
  let kend = min(K, k0 + ${sliceLen}u);
  for (var r0 = 0u; r0 < rk; r0 += ${R}u) {
    let nr = min(${R}u, rk - r0);
${accs.map((a) => `    var ${a} = 0.0;`).join('\n')}
${loads}
${accs.map((a, j) => `    sh[${j * SLICED_WG}u + lid] = ${a};`).join('\n')}
    workgroupBarrier();
    let j1 = lid >> 5u;
    let l1 = lid & 31u;
    red[lid] = ${sumsOf('sh', (i) => `j1 * ${SLICED_WG}u + l1 + ${32 * i}u`, 8)};
    workgroupBarrier();
    if (lid < ${R * 8}u) {
      let j2 = lid >> 3u;
      let l2 = lid & 7u;
      red3[lid] = ${sumsOf('red', (i) => `j2 * 32u + l2 + ${8 * i}u`, 4)};
    }
    workgroupBarrier();
    if (lid < nr) { vr[r0 + lid] = rs * (${sumsOf('red3', (i) => `lid * 8u + ${i}u`, 8)}); }
  }
  workgroupBarrier();`;
}

/** Columns a thread expands together (a wide tile's 16 go in groups of them). */
const COLS_AT_ONCE = 4;

/**
 * The expand and the store of d. A thread's columns (SLICED_WG apart) accumulate COLS_AT_ONCE at a
 * time, eight ranks of B at a time, so those loads of B are in flight together. One slice writes its
 * columns; several store their parts in the workspace and the last of a tile's slices sums them in
 * slice order and writes d.
 */
function finishWgsl(slices: number, tiles: number, cols: number): string {
  const group = Math.min(cols, COLS_AT_ONCE);
  if (cols % group !== 0) throw new Error(`lora_delta: ${cols} columns a thread are not groups of ${group}`);
  const columns = Array.from({ length: group }, (_, q) => q);
  const col = (q: number) => `c + (qb + ${q}u) * ${SLICED_WG}u`;
  const expand = columns
    .map((q) =>
      [
        `      { let cq = ${col(q)};`,
        `        if (cq < N) {`,
        `          let bb = (s * N + cq) * rmax + r0;`,
        `          part${q} += vr[r0] * b_at(seg, bb);`,
        ...Array.from(
          { length: R - 1 },
          (_, i) => `          if (${i + 1}u < nr) { part${q} += vr[r0 + ${i + 1}u] * b_at(seg, bb + ${i + 1}u); }`,
        ),
        `        }`,
        `      }`,
      ].join('\n'),
    )
    .join('\n');
  const sums = `${columns.map((q) => `    var part${q} = 0.0;`).join('\n')}
    for (var r0 = 0u; r0 < rk; r0 += ${R}u) {
      let nr = min(${R}u, rk - r0);
${expand}
    }`;
  if (slices === 1)
    return `  for (var qb = 0u; qb < ${cols}u; qb += ${group}u) {
${sums}
${columns.map((q) => `    if (${col(q)} < N) { put(seg, row * N + ${col(q)}, sc * part${q}); }`).join('\n')}
  }`;
  if (cols > COLS_AT_ONCE) throw new Error(`lora_delta: several slices take at most ${COLS_AT_ONCE} columns a thread`);
  const S = slices;
  const tile = cols * SLICED_WG;
  const at = (slice: string, q: number) => `parts + (cell * ${S}u + ${slice}) * ${tile}u + ${q * SLICED_WG}u + lid`;
  return `  let qb = 0u;
${sums}
  let cell = row * ${tiles}u + ti;
  let parts = uw(0u) * ${tiles}u;
${columns.map((q) => `  _ = atomicExchange(&sync[${at('slice', q)}], bitcast<u32>(part${q}));`).join('\n')}
  storageBarrier();
  workgroupBarrier();
  if (lid == 0u) { wlast = select(0u, 1u, atomicAdd(&sync[cell], 1u) + 1u == ${S}u); }
  if (workgroupUniformLoad(&wlast) == 0u) { return; }
  if (lid == 0u) { atomicStore(&sync[cell], 0u); }
${columns.map((q) => `  var sum${q} = 0.0;`).join('\n')}
  for (var p = 0u; p < ${S}u; p++) {
${columns.map((q) => `    sum${q} += bitcast<f32>(atomicLoad(&sync[${at('p', q)}]));`).join('\n')}
  }
${columns.map((q) => `  if (${col(q)} < N) { put(seg, row * N + ${col(q)}, sc * sum${q}); }`).join('\n')}`;
}

/**
 * Bindings: x, [nw], slots, scale, then A, B, rank per member, then each member's output, then (more
 * than one slice) the workspace as rw atomics; uniforms [n, K, rmax, slots, eps]. Grid
 * [slices · tiles, n]; `sliceLen` a multiple of SLICED_WG; tiles of SLICED_WG · `cols` columns
 * (each thread `cols` of them, SLICED_WG apart), at most COLS_AT_ONCE with several slices.
 */
export function slicedWgsl(
  g: LoraDeltaGeometry,
  caps: Pick<Capabilities, 'f16'>,
  slices: number,
  sliceLen: number,
  cols = 1,
): string {
  const tile = SLICED_WG * cols;
  const S = slices;
  const { decl, next } = loraDeltaBindings(g, caps);
  let b = next;
  if (S > 1) decl.push(`@group(0) @binding(${b++}) var<storage, read_write> sync: array<atomic<u32>>;`);
  return `${loraDeltaEnables(g, caps)}${decl.join('\n')}
${uniformDecl(b, 5)}
var<workgroup> red: array<f32, ${SLICED_WG}>;
var<workgroup> sh: array<f32, ${R * SLICED_WG}>;
var<workgroup> red3: array<f32, ${R * 8}>;
var<workgroup> vr: array<f32, ${Math.ceil(Math.max(g.rmax, 1) / R) * R}>;
var<workgroup> wrank: u32;
var<workgroup> wlast: u32;
${memberAccessorsWgsl(g, caps)}
@compute @workgroup_size(${SLICED_WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let K = uw(1u);
  let rmax = uw(2u);
  let row = wid.y;
  let slice = wid.x % ${S}u;
  let ti = wid.x / ${S}u;
  var seg = 0u;
  var t = ti;
${segmentWalkWgsl(g, tile)}
  let N = width(seg);
  let c = t * ${tile}u + lid;
${ROW_RANK_WGSL}
  if (rk == 0u) {
    if (slice == 0u) {
      for (var q = 0u; q < ${cols}u; q++) {
        let cq = c + q * ${SLICED_WG}u;
        if (cq < N) { put(seg, row * N + cq, 0.0); }
      }
    }
    return;
  }
  let s = u32(row_slot[row]);
  let xb = row * K;
  var rs = 1.0;
${rmsScaleWgsl(g, caps)}
${shrinkWgsl(g, caps, sliceLen)}
  let sc = scale[s];
${finishWgsl(S, slicedTiles(g, tile), cols)}
}`;
}
