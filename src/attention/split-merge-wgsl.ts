/**
 * The merge pass of a split plan: each merge unit's partial rows (one block of TQ rows per chunk)
 * are combined with their base-2 LSEs into the final (o, lse). Threads are (slice, vec4 column);
 * the plan's task list (plan.ts) says per task either "rows r…r+MERGE_BLOCK−1 of a unit split into
 * few chunks" (a thread folds whole rows, S rows at a time) or "row r of a unit split into many"
 * (the long request of a skewed decode batch: S slices each fold every S-th chunk online, combined
 * through workgroup memory — ~65/S dependent steps instead of 2×65 on one thread).
 */
import { PACK_WGSL } from '../kernels/wgsl-dtype.js';
import type { DType } from '../tensor/dtype.js';
import { MERGE_BLOCK } from './plan.js';
import { NEG, NEG_INF, NEG_INF_DECL, storeOutputVec4 } from './wgsl-kv.js';
import { WORKGROUP } from './tile-config.js';

export interface MergeKernelShape {
  readonly headDim: number;
  readonly tileRows: number;
  readonly numQoHeads: number;
  /** Query heads per KV head. */
  readonly group: number;
  readonly oDtype: DType;
  /** The variant's module-scope declarations and output hook (`variantDecls`). */
  readonly variantDecls: string;
  readonly output: string;
  /** Word offsets in the schedule buffer of the merge task list and of the merge unit records. */
  readonly taskOffset: number;
  readonly unitOffset: number;
  /** Workgroups of the pass; they stride over the tasks. */
  readonly grid: number;
}

/** Threads per task row: one per vec4 column, as many slices of them as fill the workgroup. */
function slices(headDim: number): number {
  return Math.max(1, Math.floor(WORKGROUP / (headDim / 4)));
}

function moduleDecls(m: MergeKernelShape): string {
  const DV4 = m.headDim / 4;
  const S = slices(m.headDim);
  return `// attention merge: D=${m.headDim} TQ=${m.tileRows} slices=${S}
${PACK_WGSL}
${NEG_INF_DECL}
@group(0) @binding(0) var<storage, read> sched: array<i32>;
@group(0) @binding(1) var<storage, read> tmp_o: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> tmp_lse: array<f32>;
@group(0) @binding(3) var<storage, read_write> o_out: array<u32>;
@group(0) @binding(4) var<storage, read_write> lse_out: array<f32>;
${m.variantDecls}
const D = ${m.headDim}u;
const DV4 = ${DV4}u;
const S = ${S}u;
const GRP = ${m.group}u;
const HQ = ${m.numQoHeads}u;
var<workgroup> part_m: array<f32, ${S * DV4}>;
var<workgroup> part_s: array<f32, ${S * DV4}>;
var<workgroup> part_o: array<vec4<f32>, ${S * DV4}>;

struct Fold { m: f32, sum: f32, acc: vec4<f32> }`;
}

function foldFn(tileRows: number): string {
  return `// chunks c0, c0+step, … of row lr, folded online (running max, rescaled sum); four chunks' loads
// are issued together, so the fold waits on memory once per four chunks rather than per chunk
fn fold(first: u32, lr: u32, e: u32, c0: u32, step: u32, chunks: u32) -> Fold {
  var f = Fold(${NEG}, 0.0, vec4<f32>(0.0));
  for (var c = c0; c < chunks; c += 4u * step) {
    var ls: array<f32, 4>;
    var os: array<vec4<f32>, 4>;
    for (var k = 0u; k < 4u; k++) {
      let ck = c + k * step;
      ls[k] = ${NEG};
      os[k] = vec4<f32>(0.0);
      if (ck < chunks) { let tr = first + ck * ${tileRows}u + lr; ls[k] = tmp_lse[tr]; os[k] = tmp_o[tr * DV4 + e]; }
    }
    for (var k = 0u; k < 4u; k++) {
      let l = ls[k];
      if (l > ${NEG}) {
        if (l > f.m) { let a = exp2(f.m - l); f.sum *= a; f.acc *= a; f.m = l; }
        let w = exp2(l - f.m);
        f.sum += w;
        f.acc += w * os[k];
      }
    }
  }
  return f;
}`;
}

function finishFn(oDtype: DType, output: string): string {
  return `// the merged row lr of merge unit mb: normalise, apply the output hook, store o and lse
fn finish(mb: u32, lr: u32, e: u32, f: Fold) {
  var val = vec4<f32>(0.0);
  var lse = ${NEG_INF};
  if (f.sum > 0.0) { val = f.acc / f.sum; lse = f.m + log2(f.sum); }
  let hk = u32(sched[mb + 1u]);
  let r = u32(sched[mb + 2u]) + lr;
  let head = hk * GRP + r % GRP;
  // word 6 of the merge record is the request's first query token (no qo_indptr read)
  let orow = (u32(sched[mb + 6u]) + r / GRP) * HQ + head;
  ${storeOutputVec4(oDtype, output, null, '')}
}`;
}

/** A task of a unit split into few chunks: each slice folds whole rows of the block. */
function rowBlockTask(): string {
  return `// rows r…r+${MERGE_BLOCK - 1} of a unit of few chunks, two rows per thread at a time
      let end = min(rows, r + ${MERGE_BLOCK}u);
      if (sl < S) {
        for (var lr = r + sl; lr < end; lr += 2u * S) {
          let f0 = fold(first, lr, e, 0u, 1u, chunks);
          let lr1 = lr + S;
          var f1 = Fold(${NEG}, 0.0, vec4<f32>(0.0));
          if (lr1 < end) { f1 = fold(first, lr1, e, 0u, 1u, chunks); }
          finish(mb, lr, e, f0);
          if (lr1 < end) { finish(mb, lr1, e, f1); }
        }
      }`;
}

/** A task of a unit split into many chunks: the slices fold interleaved chunks of one row, then combine. */
function slicedRowTask(): string {
  return `// row r of a unit of many chunks: the slices share it
      if (sl < S) {
        let f = fold(first, r, e, sl, S, chunks);
        part_m[t] = f.m; part_s[t] = f.sum; part_o[t] = f.acc;
      }
      workgroupBarrier();
      if (sl == 0u) {
        var m = part_m[e];
        for (var s = 1u; s < S; s++) { m = max(m, part_m[s * DV4 + e]); }
        var f = Fold(m, 0.0, vec4<f32>(0.0));
        if (m > ${NEG}) {
          for (var s = 0u; s < S; s++) {
            let a = exp2(part_m[s * DV4 + e] - m);
            f.sum += a * part_s[s * DV4 + e];
            f.acc += a * part_o[s * DV4 + e];
          }
        }
        finish(mb, r, e, f);
      }
      workgroupBarrier();`;
}

export function mergeKernelWgsl(m: MergeKernelShape): string {
  return `${moduleDecls(m)}

${foldFn(m.tileRows)}

${finishFn(m.oDtype, m.output)}

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let tasks = u32(sched[8]);
  let e = t % DV4;
  let sl = t / DV4;
  for (var k = wid.x; k < tasks; k += ${m.grid}u) {
    let word = u32(sched[${m.taskOffset}u + k]);
    let mb = ${m.unitOffset}u + (word >> 9u) * 8u;
    let rows = u32(sched[mb + 3u]) - u32(sched[mb + 2u]);
    let first = u32(sched[mb + 4u]);
    let chunks = u32(sched[mb + 5u]);
    let r = word & 255u;
    if ((word & 256u) != 0u) {
      ${rowBlockTask()}
    } else {
      ${slicedRowTask()}
    }
  }
}`;
}
