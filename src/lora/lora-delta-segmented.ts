/**
 * The `lora_delta` kernel's segmented schedule (Punica's SGMV) for batches of more rows than decode:
 * rows of the same slot share their loads of A and B. Two dispatches per call:
 *
 * - shrink: a workgroup per (member, slice of K, leader row) takes up to ROW_TILE rows of the
 *   leader's slot, loads the slice of the slot's A once and writes each row's part of v = x̂·Aᵀ over
 *   the slice (and, where the op normalises, the row's sum of squares over the slice) to a
 *   workspace;
 * - expand: a workgroup per (tile of output columns, leader row) takes the same rows, sums their v
 *   over the slices in slice order (so results are bitwise repeatable), scales by the row's 1/RMS,
 *   loads its tile of the slot's B once and writes every row's d over the tile.
 *
 * The segments are not a host table: each workgroup derives them from the row slots the step
 * writes (a row's key is its slot, or none where the slot is out of range or of rank 0 in this
 * member; its ordinal is the count of earlier rows with that key), so a recorded step replays with
 * any rows in any order. A row leads a workgroup when its ordinal is a multiple of ROW_TILE, and
 * that workgroup takes the rows of its key with ordinals from the leader's up to ROW_TILE more;
 * every other workgroup returns after the derivation (a few hundred reads of workgroup memory).
 * So a slot of c rows costs ⌈c / ROW_TILE⌉ loads of its A and B instead of c, and the grid is
 * fixed by the row count whatever the spread. Rows are held one a thread, so at most SEG_WG rows.
 *
 * v's parts are linear in x̂ and x̂ = x·(1/RMS)·w with one 1/RMS a row, so the shrink sums x·w·A
 * and x² over its slice and the expand applies 1/RMS to the summed v.
 */
import type { Capabilities } from '../backends/webgpu/capabilities.js';
import { loadF32, storageDecl, uniformDecl } from '../kernels/wgsl-dtype.js';
import type { LoraDeltaGeometry } from './lora-delta.js';
import { loraDeltaEnables, memberSwitch, segmentWalkWgsl } from './lora-delta-wgsl.js';

type F16Caps = Pick<Capabilities, 'f16'>;

export const SEG_WG = 256;
/** Rows of one slot a workgroup applies one load of A (shrink) or B (expand) to. */
export const ROW_TILE = 8;
/**
 * The shrink's threads: the chunk's rows (rounded up to a power of two) × lanes over the slice's k
 * positions, so a chunk of fewer rows than ROW_TILE spreads its rows' k over more lanes; K_LANES is
 * the fewest lanes a row gets.
 */
const K_LANES = SEG_WG / ROW_TILE;
/** Groups of eight threads: the reduction's first stage. */
const GROUPS = SEG_WG / 8;
/** k positions a shrink thread covers per slice at most: a slice is 512 of K. */
const K_PER_THREAD = 16;
/** k positions a shrink thread's unrolled block covers. */
const UNROLL = 8;
/** Ranks a thread accumulates at once. */
const R = 8;
/** Expand columns a thread accumulates at once. */
const COLS_AT_ONCE = 4;
/** Rows the schedule takes: their keys and ordinals sit one a thread in workgroup memory. */
export const MAX_SEGMENT_ROWS = SEG_WG;
const NONE = '0xffffffffu';

/** The shrink's slice of K: a multiple of K_LANES, at most K_LANES · K_PER_THREAD. */
export const segmentSliceLength = (k: number) => Math.min(K_LANES * K_PER_THREAD, Math.ceil(k / K_LANES) * K_LANES);

/** f32 words of the workspace: v's parts [member, row, slice, rmax], then x²'s [member, row, slice]. */
export const segmentWorkspaceWords = (g: LoraDeltaGeometry, slices: number) =>
  Math.max(1, g.widths.length * g.n * slices * (g.rmax + 1));

/** Row pitch of v in workgroup memory: rmax in whole groups of R. */
const ranksPadded = (g: LoraDeltaGeometry) => Math.max(1, Math.ceil(g.rmax / R)) * R;

/**
 * The key derivation both dispatches share: needs `seg` (the member) and `rank_at`; leaves `key`
 * (the chunk's slot, −1 none), `nrows` (its rows) and `crow` (their indices); non-leaders return.
 */
function chunkWgsl(): string {
  return `  let n = uw(0u);
  let rmax = uw(2u);
  var mine = -2;
  if (lid < n) {
    mine = -1;
    let s0 = row_slot[lid];
    if (s0 >= 0 && u32(s0) < uw(3u)) {
      if (min(u32(max(rank_at(seg, u32(s0)), 0)), rmax) > 0u) { mine = s0; }
    }
  }
  keys[lid] = mine;
  if (lid < ${ROW_TILE}u) { crow[lid] = ${NONE}; }
  workgroupBarrier();
  var ord = 0u;
  if (lid < n) {
    for (var j = 0u; j < lid; j++) { if (keys[j] == mine) { ord++; } }
  }
  ords[lid] = ord;
  workgroupBarrier();
  let ky = keys[wid.y];
  let oy = ords[wid.y];
  if (lid < n && mine == ky && ord >= oy && ord < oy + ${ROW_TILE}u) { crow[ord - oy] = lid; }
  if (lid == 0u) {
    wlead = select(0u, 1u, oy % ${ROW_TILE}u == 0u);
    wkey = ky;
    var r = 0;
    if (ky >= 0) { r = rank_at(seg, u32(ky)); }
    wrank = min(u32(max(r, 0)), rmax);
  }
  workgroupBarrier();
  if (lid == 0u) {
    var c = 0u;
    for (var i = 0u; i < ${ROW_TILE}u; i++) { if (crow[i] != ${NONE}) { c++; } }
    wcount = c;
  }
  if (workgroupUniformLoad(&wlead) == 0u) { return; }
  let key = workgroupUniformLoad(&wkey);
  let nrows = workgroupUniformLoad(&wcount);
  let rk = workgroupUniformLoad(&wrank);`;
}

const chunkVars = `var<workgroup> keys: array<i32, ${SEG_WG}>;
var<workgroup> ords: array<u32, ${SEG_WG}>;
var<workgroup> crow: array<u32, ${ROW_TILE}>;
var<workgroup> wlead: u32;
var<workgroup> wkey: i32;
var<workgroup> wcount: u32;
var<workgroup> wrank: u32;`;

const sum = (n: number, at: (i: number) => string) => Array.from({ length: n }, (_, i) => at(i)).join(' + ');

/** The shrink's bindings: x, [nw], row_slot, then A and rank per member, then the workspace (rw). */
function shrinkDecl(g: LoraDeltaGeometry, caps: F16Caps): { decl: string; next: number } {
  let b = 0;
  const decl = [storageDecl(b++, 'x', g.act, caps, 'read')];
  if (g.normDtype !== undefined) decl.push(storageDecl(b++, 'nw', g.normDtype, caps, 'read'));
  decl.push(`@group(0) @binding(${b++}) var<storage, read> row_slot: array<i32>;`);
  for (let i = 0; i < g.widths.length; i++) {
    decl.push(storageDecl(b++, `a${i}`, g.weight, caps, 'read'));
    decl.push(`@group(0) @binding(${b++}) var<storage, read> rank${i}: array<i32>;`);
  }
  decl.push(`@group(0) @binding(${b++}) var<storage, read_write> ws: array<f32>;`);
  return { decl: decl.join('\n'), next: b };
}

/** A shrink thread's unrolled block of `count` k positions from `kb` (`lanes` apart), ranks r0..r0+7. */
function shrinkLoads(g: LoraDeltaGeometry, caps: F16Caps, count: number): string {
  const normed = g.normDtype !== undefined;
  return Array.from({ length: count }, (_, i) =>
    [
      `{ let k = kb + ${i}u * lanes;`,
      `  if (k < kend) {`,
      `    let xr = ${loadF32(g.act, caps, 'x', 'xb + k')};`,
      normed ? `    let xv = xr * ${loadF32(g.normDtype!, caps, 'nw', 'k')};\n    ss += xr * xr;` : `    let xv = xr;`,
      `    let ab = (s * rmax + r0) * K + k;`,
      `    acc0 += xv * a_at(seg, ab);`,
      ...Array.from(
        { length: R - 1 },
        (_, j) => `    if (${j + 1}u < nr) { acc${j + 1} += xv * a_at(seg, ab + ${j + 1}u * K); }`,
      ),
      `  }`,
      `}`,
    ]
      .map((l) => `        ${l}`)
      .join('\n'),
  ).join('\n');
}

/**
 * Sums the V values of each (row, value) over the `lanes` threads of its row (sh[v · SEG_WG + row ·
 * lanes + lane]: eight lanes a thread into `red`, then lanes / 8 a (value, row), in lane order) and
 * writes the row's parts to the workspace: ranks r0.. and, in the first pass where the op
 * normalises, x².
 */
function shrinkReduceWgsl(V: number, slices: number): string {
  return `    workgroupBarrier();
    for (var q = lid; q < ${V * GROUPS}u; q += ${SEG_WG}u) {
      let base = (q / ${GROUPS}u) * ${SEG_WG}u + (q % ${GROUPS}u) * 8u;
      red[q] = ${sum(8, (i) => `sh[base + ${i}u]`)};
    }
    workgroupBarrier();
    if (lid < ${V * ROW_TILE}u) {
      let v = lid / ${ROW_TILE}u;
      let tt = lid % ${ROW_TILE}u;
      let per = lanes / 8u;
      let base = v * ${GROUPS}u + tt * per;
      var total = 0.0;
      for (var i = 0u; i < per; i++) { total += red[base + i]; }
      if (tt < nrows) {
        let rw = crow[tt];
        if (v < nr) { ws[((seg * n + rw) * ${slices}u + slice) * rmax + r0 + v] = total; }${
          V > R
            ? `\n        else if (v == ${R}u && r0 == 0u) { ws[vwords + (seg * n + rw) * ${slices}u + slice] = total; }`
            : ''
        }
      }
    }`;
}

/**
 * The shrink. Bindings: x, [nw], row_slot, then A and rank per member, then the workspace (rw);
 * uniforms [n, K, rmax, slots, eps]; grid [members · slices, n]. A thread is one row of the chunk
 * and one of its lanes over the slice.
 */
export function segmentShrinkWgsl(g: LoraDeltaGeometry, caps: F16Caps, slices: number, sliceLen: number): string {
  const M = g.widths.length;
  const normed = g.normDtype !== undefined;
  const { decl, next } = shrinkDecl(g, caps);
  // values a thread reduces: eight ranks, and x² where the op normalises
  const V = normed ? R + 1 : R;
  const block = Math.min(sliceLen / K_LANES, UNROLL);
  const accs = Array.from({ length: R }, (_, j) => `acc${j}`);
  return `${loraDeltaEnables(g, caps)}${decl}
${uniformDecl(next, 5)}
${chunkVars}
var<workgroup> sh: array<f32, ${V * SEG_WG}>;
var<workgroup> red: array<f32, ${V * GROUPS}>;
fn a_at(seg: u32, i: u32) -> f32 { ${memberSwitch(M, (i) => `return ${loadF32(g.weight, caps, `a${i}`, 'i')};`)} }
fn rank_at(seg: u32, s: u32) -> i32 { ${memberSwitch(M, (i) => `return rank${i}[s];`)} }
@compute @workgroup_size(${SEG_WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let seg = wid.x / ${slices}u;
  let slice = wid.x % ${slices}u;
${chunkWgsl()}
  if (key < 0) { return; }
  let s = u32(key);
  let K = uw(1u);
  var rows2 = 1u;
  while (rows2 < nrows) { rows2 *= 2u; }
  let lanes = ${SEG_WG}u / rows2;
  let t = lid / lanes;
  let kl = lid % lanes;
  let live = t < nrows;
  var row = 0u;
  if (live) { row = crow[t]; }
  let xb = row * K;
  let k0 = slice * ${sliceLen}u;
  let kend = min(K, k0 + ${sliceLen}u);
  let vwords = ${M}u * n * ${slices}u * rmax;
  for (var r0 = 0u; r0 < rk; r0 += ${R}u) {
    let nr = min(${R}u, rk - r0);
${accs.map((a) => `    var ${a} = 0.0;`).join('\n')}
    var ss = 0.0;
    if (live) {
      for (var kb = k0 + kl; kb < kend; kb += ${block}u * lanes) {
${shrinkLoads(g, caps, block)}
      }
    }
${accs.map((a, j) => `    sh[${j * SEG_WG}u + lid] = ${a};`).join('\n')}
${normed ? `    sh[${R * SEG_WG}u + lid] = ss;` : ''}
${shrinkReduceWgsl(V, slices)}
  }
}`;
}

/** The expand's bindings: row_slot, scale, then B and rank per member, each member's d, then the workspace. */
function expandDecl(g: LoraDeltaGeometry, caps: F16Caps): { decl: string; next: number } {
  const M = g.widths.length;
  let b = 0;
  const decl = [
    `@group(0) @binding(${b++}) var<storage, read> row_slot: array<i32>;`,
    `@group(0) @binding(${b++}) var<storage, read> scale: array<f32>;`,
  ];
  for (let i = 0; i < M; i++) {
    decl.push(storageDecl(b++, `b${i}`, g.weight, caps, 'read'));
    decl.push(`@group(0) @binding(${b++}) var<storage, read> rank${i}: array<i32>;`);
  }
  for (let i = 0; i < M; i++) decl.push(`@group(0) @binding(${b++}) var<storage, read_write> d${i}: array<f32>;`);
  decl.push(`@group(0) @binding(${b++}) var<storage, read> ws: array<f32>;`);
  return { decl: decl.join('\n'), next: b };
}

/**
 * Each chunk row's v into `vr` (row pitch RP): its parts summed over the slices in slice order,
 * times the row's 1/RMS (rsv) where the op normalises. The sums are written out term by term (the
 * slice count is fixed by K), so a thread's loads of the parts are issued together. Ends with a
 * barrier.
 */
function expandGatherWgsl(normed: boolean, slices: number, RP: number): string {
  const rs = normed
    ? `    let sb = vwords + (seg * n + crow[lid]) * ${slices}u;
    let ss = ${sum(slices, (p) => `ws[sb + ${p}u]`)};
    rsv[lid] = inverseSqrt(ss / f32(K) + uf(4u));`
    : '    rsv[lid] = 1.0;';
  return `  if (lid < nrows) {
${rs}
  }
  workgroupBarrier();
  for (var q = lid; q < nrows * rk; q += ${SEG_WG}u) {
    let tt = q / rk;
    let r = q % rk;
    let base = (seg * n + crow[tt]) * ${slices}u * rmax + r;
    let v = ${sum(slices, (p) => `ws[base + ${p}u * rmax]`)};
    vr[tt * ${RP}u + r] = rsv[tt] * v;
  }
  workgroupBarrier();`;
}

/**
 * One group of a thread's columns: the partial sums p{row}_{column}, their accumulation over eight
 * ranks (B loaded once a column and applied to every row of the chunk) and their stores.
 */
function expandColumnsWgsl(group: number, RP: number): { init: string; accumulate: string; store: string } {
  const rows = Array.from({ length: ROW_TILE }, (_, t) => t);
  const columns = Array.from({ length: group }, (_, q) => q);
  const col = (q: number) => `c + (qb + ${q}u) * ${SEG_WG}u`;
  const accumulate = columns
    .map((q) =>
      [
        `{ let cq = ${col(q)};`,
        `  if (cq < N) {`,
        `    let bb = (s * N + cq) * rmax + r0;`,
        `    let b0 = b_at(seg, bb);`,
        ...Array.from(
          { length: R - 1 },
          (_, j) => `    var b${j + 1} = 0.0; if (${j + 1}u < nr) { b${j + 1} = b_at(seg, bb + ${j + 1}u); }`,
        ),
        ...rows.map(
          (t) => `    if (${t}u < nrows) { p${t}_${q} += ${sum(R, (j) => `vr[${t * RP}u + r0 + ${j}u] * b${j}`)}; }`,
        ),
        `  }`,
        `}`,
      ]
        .map((l) => `      ${l}`)
        .join('\n'),
    )
    .join('\n');
  const store = rows
    .map(
      (t) =>
        `    if (${t}u < nrows) {\n      let rw = crow[${t}u];\n` +
        columns.map((q) => `      if (${col(q)} < N) { put(seg, rw * N + ${col(q)}, sc * p${t}_${q}); }`).join('\n') +
        `\n    }`,
    )
    .join('\n');
  const init = rows.flatMap((t) => columns.map((q) => `    var p${t}_${q} = 0.0;`)).join('\n');
  return { init, accumulate, store };
}

/**
 * The expand. Bindings as expandDecl; uniforms [n, K, rmax, slots, eps]; grid [tiles of SEG_WG ·
 * cols, n]. A thread owns `cols` columns of the tile (SEG_WG apart) for every row of the chunk.
 */
export function segmentExpandWgsl(g: LoraDeltaGeometry, caps: F16Caps, slices: number, cols: number): string {
  const M = g.widths.length;
  const group = Math.min(cols, COLS_AT_ONCE);
  if (cols % group !== 0) throw new Error(`lora_delta: ${cols} columns a thread are not groups of ${group}`);
  const RP = ranksPadded(g);
  const { decl, next } = expandDecl(g, caps);
  const { init, accumulate, store } = expandColumnsWgsl(group, RP);
  return `${loraDeltaEnables(g, caps)}${decl}
${uniformDecl(next, 5)}
${chunkVars}
var<workgroup> vr: array<f32, ${ROW_TILE * RP}>;
var<workgroup> rsv: array<f32, ${ROW_TILE}>;
fn b_at(seg: u32, i: u32) -> f32 { ${memberSwitch(M, (i) => `return ${loadF32(g.weight, caps, `b${i}`, 'i')};`)} }
fn rank_at(seg: u32, s: u32) -> i32 { ${memberSwitch(M, (i) => `return rank${i}[s];`)} }
fn width(seg: u32) -> u32 { ${memberSwitch(M, (i) => `return ${g.widths[i]}u;`)} }
fn put(seg: u32, i: u32, v: f32) { ${memberSwitch(M, (i) => `d${i}[i] = v;`)} }
@compute @workgroup_size(${SEG_WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  var seg = 0u;
  var t = wid.x;
${segmentWalkWgsl(g, SEG_WG * cols)}
  let N = width(seg);
  let c = t * ${SEG_WG * cols}u + lid;
${chunkWgsl()}
  if (key < 0) {
    for (var i = 0u; i < nrows; i++) {
      let rw = crow[i];
      for (var q = 0u; q < ${cols}u; q++) {
        let cq = c + q * ${SEG_WG}u;
        if (cq < N) { put(seg, rw * N + cq, 0.0); }
      }
    }
    return;
  }
  let s = u32(key);
  let K = uw(1u);
  let vwords = ${M}u * n * ${slices}u * rmax;
${expandGatherWgsl(g.normDtype !== undefined, slices, RP)}
  let sc = scale[s];
  for (var qb = 0u; qb < ${cols}u; qb += ${group}u) {
${init}
    for (var r0 = 0u; r0 < rk; r0 += ${R}u) {
      let nr = min(${R}u, rk - r0);
${accumulate}
    }
${store}
  }
}`;
}
