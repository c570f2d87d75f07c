/**
 * The attention template (f32 arithmetic, runs on every device): one workgroup per CTA of the
 * plan's fixed grid walks its work items; an item is (request, row tile, KV head, KV chunk), rows
 * being (query token, query head of the group) pairs so a KV head's whole group shares each K/V
 * load. Per key tile: stage K and V in workgroup memory, scores → online softmax (base 2) →
 * accumulate P·V in registers. Unsplit items write final (o, lse); split items write partial rows
 * that `mergeWgsl` combines. Variants splice in through the hooks of `variants.ts`.
 */
import { PACK_WGSL, uniformDecl } from '../kernels/wgsl-dtype.js';
import type { DType } from '../tensor/dtype.js';
import type { KvLayout } from './kv-layout.js';
import { MERGE_BLOCK, mergeOffset, mergeTaskOffset } from './plan.js';
import { type VariantSpec, variantParts, wgslF32 } from './variants.js';
import {
  NEG,
  NEG_INF,
  NEG_INF_DECL,
  elemsPerVec,
  kvRowFn,
  storeOutputVec4,
  unpackFns,
  ATTENTION_BINDINGS_WGSL,
  workItemLoop,
} from './wgsl-kv.js';
import { WORKGROUP } from './tile-config.js';

export interface AttentionKernelParams {
  readonly headDim: number;
  readonly numQoHeads: number;
  readonly numKvHeads: number;
  readonly pageSize: number;
  readonly layout: KvLayout;
  readonly qDtype: DType;
  readonly kvDtype: DType;
  readonly oDtype: DType;
  readonly scale: number;
  readonly variant: VariantSpec;
  readonly tileRows: number;
  readonly tileKeys: number;
  readonly grid: number;
  readonly maxItems: number;
  /**
   * Loop bounds from a uniform instead of constants. CPU drivers (lavapipe) fully unroll constant
   * loops and then spend tens of seconds in LLVM per pipeline; GPUs want the constants.
   */
  readonly dynamicLoops?: boolean;
  /** Row max/sum by subgroup reductions: needs subgroups of exactly `tileKeys` lanes and tileRows·tileKeys = the workgroup. */
  readonly subgroupSoftmax?: boolean;
}

/** Software rasterisers (lavapipe/llvmpipe, SwiftShader) compile WGSL through LLVM on the CPU. */
export function isSoftwareDevice(caps: { architecture: string; description: string }): boolean {
  return caps.architecture === 'software' || /llvmpipe|lavapipe|swiftshader/i.test(caps.description);
}

/** The uniform words `dynamicLoops` kernels read their bounds from. */
export function loopBounds(p: AttentionKernelParams): Uint32Array {
  return new Uint32Array([p.headDim / 4, p.tileKeys, Math.ceil((p.tileRows * p.headDim) / 4 / WORKGROUP)]);
}

/** Module-scope declarations of the variant: its decls, the q/k transform, the mask reader. */
export function variantDecls(p: Pick<AttentionKernelParams, 'variant' | 'headDim' | 'numQoHeads'>): {
  decls: string;
  logits: string;
  mask: string;
  transform: boolean;
  output: string;
  usesMask: boolean;
} {
  const parts = variantParts(p.variant);
  const ctx = { headDim: p.headDim, numQoHeads: p.numQoHeads };
  const decls = parts.map((v) => v.decls?.(ctx) ?? '').filter(Boolean);
  const t = parts.find((v) => v.qkTransform);
  if (t)
    decls.push(
      `fn qk_transform(x: f32, partner: f32, d: u32, pos: i32, is_key: bool) -> f32 {\n  ${t.qkTransform!.wgsl(ctx)}\n}`,
    );
  const logits = parts
    .filter((v) => v.logits)
    .map((v) => `s = ${v.logits!.wgsl};`)
    .join(' ');
  const masks = parts.filter((v) => v.mask).map((v) => `(${v.mask!.wgsl})`);
  const output = parts
    .filter((v) => v.output)
    .map((v) => `o = ${v.output!.wgsl};`)
    .join(' ');
  return {
    decls: decls.join('\n'),
    logits,
    mask: masks.length ? masks.join(' && ') : 'true',
    transform: !!t,
    output,
    usesMask: parts.some((v) => v.usesMaskInput),
  };
}

/** The custom-mask reader (bindings 11, 12) when the variant uses one. */
export function maskBindings(first: number): string {
  return `@group(0) @binding(${first}) var<storage, read> mask_bits: array<i32>;
@group(0) @binding(${first + 1}) var<storage, read> mask_indptr: array<i32>;
fn mask_at(b: u32, qi: i32, kpos: i32, kv_len: i32) -> bool { return mask_bits[u32(mask_indptr[b]) + u32(qi) * u32(kv_len) + u32(kpos)] != 0; }`;
}

/** Loads a row group: `dst` base index (vec4<f32> units) ← vec4<u32> word `w` of `dtype` holding group `e`. */
function stageRow(dtype: DType, fn: string, dst: string, base: string, e: string, w: string): string {
  if (elemsPerVec(dtype) === 4) return `${dst}[${base} + ${e}] = ${fn}_lo(${w});`;
  return `${dst}[${base} + 2u * ${e}] = ${fn}_lo(${w}); ${dst}[${base} + 2u * ${e} + 1u] = ${fn}_hi(${w});`;
}

/** Rewrites rows of a staged tile through qk_transform, pairs (d, d + D/2) per thread. */
function transformTile(tile: string, rows: number, d: number, pos: string, isKey: boolean): string {
  const half = d / 2;
  return `for (var i = t; i < ${rows * half}u; i += ${WORKGROUP}u) {
      let row = i / ${half}u; let d0 = i % ${half}u; let d1 = d0 + ${half}u;
      let pos = ${pos};
      let a0 = ${tile}[row * RS + d0 / 4u][d0 % 4u];
      let a1 = ${tile}[row * RS + d1 / 4u][d1 % 4u];
      ${tile}[row * RS + d0 / 4u][d0 % 4u] = qk_transform(a0, a1, d0, pos, ${isKey});
      ${tile}[row * RS + d1 / 4u][d1 % 4u] = qk_transform(a1, a0, d1, pos, ${isKey});
    }
    workgroupBarrier();`;
}

export function attentionWgsl(p: AttentionKernelParams): string {
  const D = p.headDim;
  const TQ = p.tileRows;
  const TK = p.tileKeys;
  const group = p.numQoHeads / p.numKvHeads;
  const v = variantDecls(p);
  const qVpr = D / elemsPerVec(p.qDtype);
  const kvVpr = D / elemsPerVec(p.kvDtype);
  const opt = Math.ceil((TQ * D) / 4 / WORKGROUP);
  const nl = Math.ceil((TK * kvVpr) / WORKGROUP);
  const sgSoftmax = !!p.subgroupSoftmax && TQ * TK === WORKGROUP;
  return `${sgSoftmax ? 'enable subgroups;\n' : ''}// attention: D=${D} TQ=${TQ} TK=${TK} group=${group}${sgSoftmax ? ' (subgroup softmax)' : ''}
${unpackFns('ldq', p.qDtype)}
${unpackFns('ldkv', p.kvDtype)}
${PACK_WGSL}
${NEG_INF_DECL}
${ATTENTION_BINDINGS_WGSL}
${v.usesMask ? maskBindings(11) : ''}
${p.dynamicLoops ? uniformDecl(v.usesMask ? 13 : 11, 3) : ''}
${v.decls}
${kvRowFn(p.layout, p.pageSize, p.numKvHeads, D)}
const D = ${D}u;
const DV4 = ${D / 4}u;
const RS = ${D / 4 + 1}u;
const TQ = ${TQ}u;
const TK = ${TK}u;
const GRP = ${group}u;
const HQ = ${p.numQoHeads}u;
const PS = ${p.pageSize}u;
const SCALE = ${wgslF32(p.scale)};
const LOG2E = 1.4426950408889634;
var<workgroup> qs: array<vec4<f32>, ${TQ * (D / 4 + 1)}>;
var<workgroup> ks: array<vec4<f32>, ${TK * (D / 4 + 1)}>;
var<workgroup> vs: array<vec4<f32>, ${TK * (D / 4 + 1)}>;
var<workgroup> ss: array<f32, ${TQ * TK}>;
var<workgroup> m_sh: array<f32, ${TQ}>;
var<workgroup> l_sh: array<f32, ${TQ}>;
var<workgroup> a_sh: array<f32, ${TQ}>;

/** Loads this thread's words of the K/V tile starting at key kt (zeros past k1) into registers. */
fn fetch_tile(kt: u32, k1: u32, page_base: u32, hk: u32, t: u32, pk: ptr<function, array<vec4<u32>, ${nl}>>, pv: ptr<function, array<vec4<u32>, ${nl}>>) {
  for (var n = 0u; n < ${nl}u; n++) {
    let i = t + n * ${WORKGROUP}u;
    let c = i / ${kvVpr}u; let e = i % ${kvVpr}u; let j = kt + c;
    var wk = vec4<u32>(0u); var wv = vec4<u32>(0u);
    if (i < TK * ${kvVpr}u && j < k1) {
      let page = u32(kv_indices[page_base + j / PS]);
      let row = kv_row(page, 0u, j % PS, hk) / ${elemsPerVec(p.kvDtype)}u + e;
      wk = pool[row];
      wv = pool[row + ${(p.pageSize * p.numKvHeads * D) / elemsPerVec(p.kvDtype)}u];
    }
    (*pk)[n] = wk;
    (*pv)[n] = wv;
  }
}

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let cta = wid.x;
  ${p.dynamicLoops ? 'let L_DV4 = uw(0u); let L_TK = uw(1u); let L_OPT = uw(2u);' : `let L_DV4 = DV4; let L_TK = TK; let L_OPT = ${opt}u;`}
  ${workItemLoop(p.grid, 'slot')}
    // stage the Q tile (rows past r1 are zero and masked below)
    for (var i = t; i < TQ * ${qVpr}u; i += ${WORKGROUP}u) {
      let lr = i / ${qVpr}u; let e = i % ${qVpr}u; let r = r0 + lr;
      var w = vec4<u32>(0u);
      if (r < r1) { w = q[((q_start + r / GRP) * HQ + hk * GRP + r % GRP) * ${qVpr}u + e]; }
      ${stageRow(p.qDtype, 'ldq', 'qs', 'lr * RS', 'e', 'w')}
    }
    if (t < TQ) { m_sh[t] = ${NEG}; l_sh[t] = 0.0; }
    workgroupBarrier();
    ${v.transform ? transformTile('qs', TQ, D, 'kv_len - q_len + i32((r0 + row) / GRP)', false) : ''}
    var acc: array<vec4<f32>, ${opt}>;
    for (var k = 0u; k < L_OPT; k++) { acc[k] = vec4<f32>(0.0); }
    var pk: array<vec4<u32>, ${nl}>;
    var pv: array<vec4<u32>, ${nl}>;
    if (k0 < k1) { fetch_tile(k0, k1, page_base, hk, t, &pk, &pv); }
    for (var kt = k0; kt < k1; kt += TK) {
      // the tile fetched last iteration goes to workgroup memory; the next tile's loads are then issued, to land during this tile's math
      for (var n = 0u; n < ${nl}u; n++) {
        let i = t + n * ${WORKGROUP}u;
        if (i < TK * ${kvVpr}u) {
          let c = i / ${kvVpr}u; let e = i % ${kvVpr}u;
          ${stageRow(p.kvDtype, 'ldkv', 'ks', 'c * RS', 'e', 'pk[n]')}
          ${stageRow(p.kvDtype, 'ldkv', 'vs', 'c * RS', 'e', 'pv[n]')}
        }
      }
      workgroupBarrier();
      if (kt + TK < k1) { fetch_tile(kt + TK, k1, page_base, hk, t, &pk, &pv); }
      ${v.transform ? transformTile('ks', TK, D, 'i32(kt + row)', true) : ''}
${
  sgSoftmax
    ? subgroupScores(v.mask, v.logits)
    : `      for (var i = t; i < TQ * TK; i += ${WORKGROUP}u) {
        let lr = i / TK; let c = i % TK; let r = r0 + lr; let j = kt + c;
        var s = ${NEG};
        if (r < r1 && j < k1) {
          let qi = i32(r / GRP);
          let head = hk * GRP + r % GRP;
          let qpos = kv_len - q_len + qi;
          let kpos = i32(j);
          if (${v.mask}) {
            var qk = 0.0;
            for (var e = 0u; e < L_DV4; e++) { qk += dot(qs[lr * RS + e], ks[c * RS + e]); }
            s = qk * SCALE;
            ${v.logits}
            s = s * LOG2E;
          }
        }
        ss[i] = s;
      }
      workgroupBarrier();
      if (t < TQ) {
        let m_old = m_sh[t];
        var mx = m_old;
        for (var c = 0u; c < L_TK; c++) { mx = max(mx, ss[t * TK + c]); }
        var alpha = 1.0;
        var sum = 0.0;
        if (mx > ${NEG}) {
          alpha = exp2(m_old - mx);
          for (var c = 0u; c < L_TK; c++) {
            let sc = ss[t * TK + c];
            var pr = 0.0;
            if (sc > ${NEG}) { pr = exp2(sc - mx); }
            ss[t * TK + c] = pr;
            sum += pr;
          }
        } else {
          for (var c = 0u; c < L_TK; c++) { ss[t * TK + c] = 0.0; }
        }
        m_sh[t] = mx;
        l_sh[t] = l_sh[t] * alpha + sum;
        a_sh[t] = alpha;
      }
      workgroupBarrier();
`
}      for (var k = 0u; k < L_OPT; k++) {
        let i = t + k * ${WORKGROUP}u;
        if (i < TQ * DV4) {
          let lr = i / DV4; let e = i % DV4;
          var a = acc[k] * a_sh[lr];
          for (var c = 0u; c < L_TK; c++) { a += ss[lr * TK + c] * vs[c * RS + e]; }
          acc[k] = a;
        }
      }
      workgroupBarrier();
    }
    for (var k = 0u; k < L_OPT; k++) {
      let i = t + k * ${WORKGROUP}u;
      let lr = i / DV4; let e = i % DV4; let r = r0 + lr;
      if (i < TQ * DV4 && r < r1) {
        let l = l_sh[lr];
        var inv = 0.0;
        if (l > 0.0) { inv = 1.0 / l; }
        let val = acc[k] * inv;
        var lse = ${NEG_INF};
        if (l > 0.0) { lse = m_sh[lr] + log2(l); }
        let head = hk * GRP + r % GRP;
        let orow = (q_start + r / GRP) * HQ + head;
        ${storeOutputVec4(p.oDtype, v.output, 'slot', 'lr')}
      }
    }
    workgroupBarrier();
  }
}`;
}

/**
 * The merge pass of a split plan: each merge unit's partial rows (one block of TQ rows per chunk)
 * are combined with their base-2 LSEs into the final (o, lse). Threads are (slice, vec4 column);
 * the plan's task list (plan.ts) says per task either "rows r…r+MERGE_BLOCK−1 of a unit split into
 * few chunks" (a thread folds whole rows, S rows at a time) or "row r of a unit split into many"
 * (the long request of a skewed decode batch: S slices each fold every S-th chunk online, combined
 * through workgroup memory — ~65/S dependent steps instead of 2×65 on one thread).
 */
export function mergeWgsl(p: AttentionKernelParams, mergeGrid: number): string {
  const D = p.headDim;
  const TQ = p.tileRows;
  const DV4 = D / 4;
  const S = Math.max(1, Math.floor(WORKGROUP / DV4));
  const group = p.numQoHeads / p.numKvHeads;
  const v = variantDecls(p);
  return `// attention merge: D=${D} TQ=${TQ} slices=${S}
${PACK_WGSL}
${NEG_INF_DECL}
@group(0) @binding(0) var<storage, read> sched: array<i32>;
@group(0) @binding(1) var<storage, read> tmp_o: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> tmp_lse: array<f32>;
@group(0) @binding(3) var<storage, read_write> o_out: array<u32>;
@group(0) @binding(4) var<storage, read_write> lse_out: array<f32>;
${v.decls}
const D = ${D}u;
const DV4 = ${DV4}u;
const S = ${S}u;
const GRP = ${group}u;
const HQ = ${p.numQoHeads}u;
var<workgroup> part_m: array<f32, ${S * DV4}>;
var<workgroup> part_s: array<f32, ${S * DV4}>;
var<workgroup> part_o: array<vec4<f32>, ${S * DV4}>;

struct Fold { m: f32, sum: f32, acc: vec4<f32> }

// chunks c0, c0+step, … of row lr, folded online (running max, rescaled sum); four chunks' loads
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
      if (ck < chunks) { let tr = first + ck * ${TQ}u + lr; ls[k] = tmp_lse[tr]; os[k] = tmp_o[tr * DV4 + e]; }
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
}

// the merged row lr of merge unit mb: normalise, apply the output hook, store o and lse
fn finish(mb: u32, lr: u32, e: u32, f: Fold) {
  var val = vec4<f32>(0.0);
  var lse = ${NEG_INF};
  if (f.sum > 0.0) { val = f.acc / f.sum; lse = f.m + log2(f.sum); }
  let hk = u32(sched[mb + 1u]);
  let r = u32(sched[mb + 2u]) + lr;
  let head = hk * GRP + r % GRP;
  // word 6 of the merge record is the request's first query token (no qo_indptr read)
  let orow = (u32(sched[mb + 6u]) + r / GRP) * HQ + head;
  ${storeOutputVec4(p.oDtype, v.output, null, '')}
}

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let tasks = u32(sched[8]);
  let e = t % DV4;
  let sl = t / DV4;
  for (var k = wid.x; k < tasks; k += ${mergeGrid}u) {
    let word = u32(sched[${mergeTaskOffset(p.grid, p.maxItems)}u + k]);
    let mb = ${mergeOffset(p.grid, p.maxItems)}u + (word >> 9u) * 8u;
    let rows = u32(sched[mb + 3u]) - u32(sched[mb + 2u]);
    let first = u32(sched[mb + 4u]);
    let chunks = u32(sched[mb + 5u]);
    let r = word & 255u;
    if ((word & 256u) != 0u) {
      // rows r…r+${MERGE_BLOCK - 1} of a unit of few chunks, two rows per thread at a time
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
      }
    } else {
      // row r of a unit of many chunks: the slices share it
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
      workgroupBarrier();
    }
  }
}`;
}

/**
 * Scores and online softmax with one score per thread: a key tile's row is one subgroup, so the
 * row max and sum are subgroup reductions instead of a serial scan (decode's hot loop).
 */
function subgroupScores(mask: string, logits: string): string {
  return `{
        let i = t;
        let lr = i / TK; let c = i % TK; let r = r0 + lr; let j = kt + c;
        var s = ${NEG};
        if (r < r1 && j < k1) {
          let qi = i32(r / GRP);
          let head = hk * GRP + r % GRP;
          let qpos = kv_len - q_len + qi;
          let kpos = i32(j);
          if (${mask}) {
            var qk = 0.0;
            for (var e = 0u; e < L_DV4; e++) { qk += dot(qs[lr * RS + e], ks[c * RS + e]); }
            s = qk * SCALE;
            ${logits}
            s = s * LOG2E;
          }
        }
        let m_old = m_sh[lr];
        let mx = max(m_old, subgroupMax(s));
        var pr = 0.0;
        if (mx > ${NEG} && s > ${NEG}) { pr = exp2(s - mx); }
        let sum = subgroupAdd(pr);
        ss[i] = pr;
        workgroupBarrier();
        if (c == 0u) {
          var alpha = 1.0;
          if (mx > ${NEG}) { alpha = exp2(m_old - mx); }
          m_sh[lr] = mx;
          l_sh[lr] = l_sh[lr] * alpha + sum;
          a_sh[lr] = alpha;
        }
        workgroupBarrier();
      }
`;
}
