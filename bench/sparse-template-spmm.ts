/**
 * The hand-written WGSL templates the sparse ops used before their kernels were generated from
 * loop-nest programs, kept here only as the baseline of `sparse-tir-vs-template.ts`.
 *
 * SpMM kernels generated from (format, schedule). The sparse iteration of each format is lowered
 * to a loop nest by its axis kinds (`RowIteration`: a setup once per row and a loop that hands
 * each stored (column, value) to the body); the schedule wraps it in the row-to-thread binding
 * and the feature loop, scalar or vec4. One generator therefore serves every format, and the
 * hybrid reuses the ELL and CSR iterations inside one dispatch.
 *
 * Uniform words: [m, fv (features ÷ vector width), k, format word (COO: nnz, ELL: width)].
 */
import { uniformDecl } from '../src/kernels/wgsl-dtype.js';
import type { HybLayout } from '../src/sparse/device-layout.js';
import { type SpmmSchedule, workgroupSize } from '../src/sparse/schedule.js';

/** `emit(col, val)` returns the statement that accumulates one nonzero (col is an i32 or u32 expression). */
type Emit = (col: string, val: string) => string;

export interface RowIteration {
  /** Storage declarations of the format's arrays, bindings 0…n−1. */
  readonly decls: readonly string[];
  /** Statements run once per row (`row: u32` is in scope), before the feature loop. */
  readonly setup: string;
  readonly loop: (emit: Emit) => string;
}

const ro = (b: number, name: string, ty: string) =>
  `@group(0) @binding(${b}) var<storage, read> ${name}: array<${ty}>;`;

/** CSR: dense-fixed rows, sparse-variable columns — a loop over indptr[row]..indptr[row+1]. */
export function csrIteration(): RowIteration {
  return {
    decls: [ro(0, 'indptr', 'i32'), ro(1, 'indices', 'i32'), ro(2, 'vals', 'f32')],
    setup: 'let lo = u32(indptr[row]); let hi = u32(indptr[row + 1u]);',
    loop: (emit) => `for (var e = lo; e < hi; e++) { ${emit('indices[e]', 'vals[e]')} }`,
  };
}

/** COO: the row's run of entries is found by binary search in the sorted row array. */
export function cooIteration(): RowIteration {
  return {
    decls: [ro(0, 'rows', 'i32'), ro(1, 'cols', 'i32'), ro(2, 'vals', 'f32')],
    setup: `let nnz = uw(3u);
    var lo = 0u;
    var hi = nnz;
    loop {
      if (lo >= hi) { break; }
      let mid = (lo + hi) / 2u;
      if (u32(rows[mid]) < row) { lo = mid + 1u; } else { hi = mid; }
    }`,
    loop: (emit) => `for (var e = lo; e < nnz && u32(rows[e]) == row; e++) { ${emit('cols[e]', 'vals[e]')} }`,
  };
}

/** ELL: dense-fixed rows, sparse-fixed columns of `width` (a uniform); padding ends a row. */
export function ellIteration(): RowIteration {
  return {
    decls: [ro(0, 'cols', 'i32'), ro(1, 'vals', 'f32')],
    setup: 'let width = uw(3u); let base = row * width;',
    loop: (emit) =>
      `for (var s = 0u; s < width; s++) { let c = cols[base + s]; if (c < 0) { break; } ${emit('c', 'vals[base + s]')} }`,
  };
}

/** BSR: block rows × sparse-variable block columns × a dense-fixed inner column loop of `block`. */
export function bsrIteration(block: number): RowIteration {
  return {
    decls: [ro(0, 'indptr', 'i32'), ro(1, 'indices', 'i32'), ro(2, 'blocks', 'f32')],
    setup: `let k = uw(2u); let br = row / ${block}u; let ii = row % ${block}u;
    let lo = u32(indptr[br]); let hi = u32(indptr[br + 1u]);`,
    loop: (emit) => `for (var s = lo; s < hi; s++) {
      let c0 = u32(indices[s]) * ${block}u;
      let vb = (s * ${block}u + ii) * ${block}u;
      for (var jj = 0u; jj < ${block}u; jj++) {
        let c = c0 + jj;
        if (c >= k) { break; }
        ${emit('c', 'blocks[vb + jj]')}
      }
    }`,
  };
}

function vecType(s: SpmmSchedule): string {
  return s.vec4 ? 'vec4<f32>' : 'f32';
}

const accumulate: Emit = (col, val) => `acc += ${val} * x[u32(${col}) * fv + fc];`;

export function spmmWgsl(it: RowIteration, s: SpmmSchedule): string {
  const n = it.decls.length;
  const ty = vecType(s);
  const tpr = s.threadsPerRow;
  return `${it.decls.join('\n')}
${ro(n, 'x', ty)}
@group(0) @binding(${n + 1}) var<storage, read_write> y: array<${ty}>;
${uniformDecl(n + 2, 4)}
@compute @workgroup_size(${workgroupSize(s)})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let m = uw(0u);
  let fv = uw(1u);
  let row = (wid.x + wid.y * nwg.x) * ${s.rowsPerWorkgroup}u + lid / ${tpr}u;
  if (row >= m) { return; }
  ${it.setup}
  for (var fc = lid % ${tpr}u; fc < fv; fc += ${tpr}u) {
    var acc = ${ty}(0.0);
    ${it.loop(accumulate)}
    y[row * fv + fc] = acc;
  }
}`;
}

/** Uniform words of the hybrid: a header [parts, fv, workgroups, 0], then 8 words per part. */
export const HYB_HEADER = 4;
export const HYB_PART_WORDS = 8;

/**
 * Threads per row of each hybrid part: ELL buckets take the schedule's; the CSR remainder, whose
 * rows are the long ones, gives each row a whole workgroup.
 */
export function hybThreadsPerRow(s: SpmmSchedule, width: number): number {
  return width === 0 ? workgroupSize(s) : s.threadsPerRow;
}

/**
 * The hybrid, horizontally fused: one dispatch whose workgroups are split into consecutive
 * ranges, one per part. A workgroup finds its part by scanning the starts, then runs that part's
 * ELL or CSR iteration; every matrix row belongs to exactly one part, so no two workgroups write
 * the same output row and no atomics are needed.
 */
export function hybWgsl(layout: HybLayout, s: SpmmSchedule): string {
  const ty = vecType(s);
  const wg = workgroupSize(s);
  const words = HYB_HEADER + HYB_PART_WORDS * Math.max(1, layout.parts.length);
  const body = (width: string) => `let t = lid % tpr;
    for (var fc = t; fc < fv; fc += tpr) {
      var acc = ${ty}(0.0);
      ${width}
      y[row * fv + fc] = acc;
    }`;
  return `${ro(0, 'idx', 'i32')}
${ro(1, 'vals', 'f32')}
${ro(2, 'x', ty)}
@group(0) @binding(3) var<storage, read_write> y: array<${ty}>;
${uniformDecl(4, words)}
@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let np = uw(0u);
  let fv = uw(1u);
  let g = wid.x + wid.y * nwg.x;
  if (g >= uw(2u)) { return; }
  var p = 0u;
  loop {
    if (p + 1u >= np || g < uw(${HYB_HEADER}u + ${HYB_PART_WORDS}u * (p + 1u))) { break; }
    p++;
  }
  let pb = ${HYB_HEADER}u + ${HYB_PART_WORDS}u * p;
  let rows = uw(pb + 1u);
  let width = uw(pb + 2u);
  let tpr = uw(pb + 7u);
  let r = (g - uw(pb)) * (${wg}u / tpr) + lid / tpr;
  if (r >= rows) { return; }
  let row = u32(idx[uw(pb + 3u) + r]);
  let colsAt = uw(pb + 4u);
  let valsAt = uw(pb + 5u);
  if (width > 0u) {
    let cb = colsAt + r * width;
    let vb = valsAt + r * width;
    ${body(`for (var s = 0u; s < width; s++) { let c = idx[cb + s]; if (c < 0) { break; } ${accumulate('c', 'vals[vb + s]')} }`)}
  } else {
    let ip = uw(pb + 6u) + r;
    let lo = u32(idx[ip]);
    let hi = u32(idx[ip + 1u]);
    ${body(`for (var e = lo; e < hi; e++) { ${accumulate('idx[colsAt + e]', 'vals[valsAt + e]')} }`)}
  }
}`;
}

/** The hybrid's uniforms and its total workgroup count. */
export function hybUniforms(
  layout: HybLayout,
  s: SpmmSchedule,
  fv: number,
): { words: Uint32Array; workgroups: number } {
  const wg = workgroupSize(s);
  const n = Math.max(1, layout.parts.length);
  const words = new Uint32Array(HYB_HEADER + HYB_PART_WORDS * n);
  let start = 0;
  layout.parts.forEach((p, i) => {
    const tpr = hybThreadsPerRow(s, p.width);
    const at = HYB_HEADER + HYB_PART_WORDS * i;
    words.set([start, p.rows, p.width, p.rowIdsAt, p.colsAt, p.valsAt, p.indptrAt, tpr], at);
    start += Math.ceil(p.rows / (wg / tpr));
  });
  words.set([layout.parts.length, fv, start, 0], 0);
  return { words, workgroups: start };
}
