/**
 * The prefill template on tensor cores (f16 subgroup matrices, 16×16×16, f32 accumulate): 64-row
 * work items, four subgroups of 32 lanes with 16 rows each. Per 32-key tile: S = Q·Kᵀ by subgroup
 * matrices into workgroup memory, online softmax by one lane per row (variant hooks, base-2),
 * P·V by subgroup matrices one 16-column block at a time, added into per-lane f32 registers after
 * the row rescale (WGSL has no per-element access to a matrix, so the rescale goes through memory).
 * Same schedule, items and partial-state layout as the f32 template; needs f16 q and KV.
 */
import type { Capabilities } from '../gpu/capabilities.js';
import { f16MatrixConfig } from '../gpu/capabilities.js';
import { PACK_WGSL } from '../kernels/wgsl-dtype.js';
import type { AttentionKernelParams } from './attention-wgsl.js';
import { maskBindings, variantDecls } from './attention-wgsl.js';
import { itemsOffset } from './plan.js';
import { wgslF32 } from './variants.js';
import { NEG, NEG_INF, NEG_INF_DECL, elemsPerVec, kvRowFn } from './wgsl-kv.js';

export const SGMAT_ROWS = 64;
const TK = 32;
const WG = 128;

export function sgmatWhyUnsupported(caps: Capabilities, p: Pick<AttentionKernelParams, 'headDim' | 'qDtype' | 'kvDtype' | 'tileRows'>): string | null {
  const cfg = f16MatrixConfig(caps, 'f32');
  if (!caps.f16 || !cfg || cfg.M !== 16 || cfg.N !== 16 || cfg.K !== 16) return 'no f16 16x16x16 subgroup matrices';
  if (caps.subgroupMinSize !== 32 || caps.subgroupMaxSize !== 32) return 'needs subgroups of exactly 32 lanes';
  if (p.qDtype !== 'f16' || p.kvDtype !== 'f16') return 'tensor-core path takes f16 q and KV';
  if (p.headDim % 16 !== 0 || p.headDim > 128) return `head dim ${p.headDim} (tensor-core path takes multiples of 16 up to 128)`;
  if (p.tileRows !== SGMAT_ROWS) return `tile of ${p.tileRows} rows (tensor-core path uses ${SGMAT_ROWS})`;
  if (sgmatSharedBytes(p.headDim) > caps.maxComputeWorkgroupStorageSize) return 'not enough workgroup storage';
  return null;
}

/** Whether a BatchAttention of this shape would get the tensor-core prefill path. */
export function sgmatAvailable(caps: Capabilities, cfg: { headDim: number; dtype: string; kvDtype?: string }): boolean {
  return sgmatWhyUnsupported(caps, { headDim: cfg.headDim, qDtype: cfg.dtype as 'f16', kvDtype: (cfg.kvDtype ?? cfg.dtype) as 'f16', tileRows: SGMAT_ROWS }) === null;
}

export function sgmatSharedBytes(d: number): number {
  return 2 * SGMAT_ROWS * d + 2 * 2 * TK * d + 4 * 4 * 16 * TK + 2 * 4 * 16 * TK + 3 * 4 * SGMAT_ROWS;
}

export function sgmatAttentionWgsl(p: AttentionKernelParams, _caps: Capabilities): string {
  const D = p.headDim;
  const DB = D / 16;
  const group = p.numQoHeads / p.numKvHeads;
  const v = variantDecls(p);
  const qVpr = D / elemsPerVec('f16');
  const kvVpr = D / 8;
  const transformNote = v.transform ? 'qk transform applied in f32 before rounding to f16' : '';
  return `// attention (tensor cores): D=${D} rows=${SGMAT_ROWS} TK=${TK} group=${group} ${transformNote}
enable f16;
enable chromium_experimental_subgroup_matrix;
// every subgroup works on its own rows: offsets differ per subgroup but are uniform within one
diagnostic(off, chromium.subgroup_matrix_uniformity);
${PACK_WGSL}
${NEG_INF_DECL}
@group(0) @binding(0) var<storage, read> q: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read> pool: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> qo_indptr: array<i32>;
@group(0) @binding(3) var<storage, read> kv_indptr: array<i32>;
@group(0) @binding(4) var<storage, read> kv_indices: array<i32>;
@group(0) @binding(5) var<storage, read> last_page_len: array<i32>;
@group(0) @binding(6) var<storage, read> sched: array<i32>;
@group(0) @binding(7) var<storage, read_write> o_out: array<u32>;
@group(0) @binding(8) var<storage, read_write> lse_out: array<f32>;
@group(0) @binding(9) var<storage, read_write> tmp_o: array<vec4<f32>>;
@group(0) @binding(10) var<storage, read_write> tmp_lse: array<f32>;
${v.usesMask ? maskBindings(11) : ''}
${v.decls}
${kvRowFn(p.layout, p.pageSize, p.numKvHeads, D)}
const D = ${D}u;
const DV4 = ${D / 4}u;
const TK = ${TK}u;
const GRP = ${group}u;
const HQ = ${p.numQoHeads}u;
const PS = ${p.pageSize}u;
const SCALE = ${wgslF32(p.scale)};
const LOG2E = 1.4426950408889634;
// the Q tile; K (first TK·D) and V (next TK·D); scores, later reused as the P·V scratch
var<workgroup> qs: array<f16, ${SGMAT_ROWS * D}>;
var<workgroup> kvq: array<f16, ${2 * TK * D}>;
var<workgroup> ss: array<f32, ${4 * 16 * TK}>;
var<workgroup> ps: array<f16, ${4 * 16 * TK}>;
var<workgroup> m_sh: array<f32, ${SGMAT_ROWS}>;
var<workgroup> l_sh: array<f32, ${SGMAT_ROWS}>;
var<workgroup> a_sh: array<f32, ${SGMAT_ROWS}>;

fn put8(base: u32, w: vec4<u32>) {
  let a = unpack2x16float(w.x); let b = unpack2x16float(w.y); let c = unpack2x16float(w.z); let d = unpack2x16float(w.w);
  kvq[base] = f16(a.x); kvq[base + 1u] = f16(a.y); kvq[base + 2u] = f16(b.x); kvq[base + 3u] = f16(b.y);
  kvq[base + 4u] = f16(c.x); kvq[base + 5u] = f16(c.y); kvq[base + 6u] = f16(d.x); kvq[base + 7u] = f16(d.y);
}
fn put8q(base: u32, w: vec4<u32>) {
  let a = unpack2x16float(w.x); let b = unpack2x16float(w.y); let c = unpack2x16float(w.z); let d = unpack2x16float(w.w);
  qs[base] = f16(a.x); qs[base + 1u] = f16(a.y); qs[base + 2u] = f16(b.x); qs[base + 3u] = f16(b.y);
  qs[base + 4u] = f16(c.x); qs[base + 5u] = f16(c.y); qs[base + 6u] = f16(d.x); qs[base + 7u] = f16(d.y);
}
${v.transform ? `fn transform_q(r0: u32, t: u32, kv_len: i32, q_len: i32) {
  for (var i = t; i < ${SGMAT_ROWS * D / 2}u; i += ${WG}u) {
    let row = i / ${D / 2}u; let d0 = i % ${D / 2}u; let d1 = d0 + ${D / 2}u;
    let pos = kv_len - q_len + i32((r0 + row) / GRP);
    let a0 = f32(qs[row * D + d0]); let a1 = f32(qs[row * D + d1]);
    qs[row * D + d0] = f16(qk_transform(a0, a1, d0, pos, false));
    qs[row * D + d1] = f16(qk_transform(a1, a0, d1, pos, false));
  }
}
fn transform_k(kt: u32, t: u32) {
  for (var i = t; i < ${TK * D / 2}u; i += ${WG}u) {
    let row = i / ${D / 2}u; let d0 = i % ${D / 2}u; let d1 = d0 + ${D / 2}u;
    let pos = i32(kt + row);
    let a0 = f32(kvq[row * D + d0]); let a1 = f32(kvq[row * D + d1]);
    kvq[row * D + d0] = f16(qk_transform(a0, a1, d0, pos, true));
    kvq[row * D + d1] = f16(qk_transform(a1, a0, d1, pos, true));
  }
}` : ''}

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let cta = wid.x;
  let sg = t / 32u;
  let lane = t % 32u;
  let it_end = sched[9u + cta];
  for (var it = sched[8u + cta]; it < it_end; it++) {
    let ib = ${itemsOffset(p.grid)}u + u32(it) * 8u;
    let b = u32(sched[ib]);
    let hk = u32(sched[ib + 1u]);
    let r0 = u32(sched[ib + 2u]);
    let r1 = u32(sched[ib + 3u]);
    let k0 = u32(sched[ib + 4u]);
    let k1 = u32(sched[ib + 5u]);
    let slot = sched[ib + 6u];
    let q_start = u32(qo_indptr[b]);
    let q_len = i32(u32(qo_indptr[b + 1u]) - q_start);
    let page_base = u32(kv_indptr[b]);
    let n_pages = u32(kv_indptr[b + 1u]) - page_base;
    var kv_len = 0;
    if (n_pages > 0u) { kv_len = i32((n_pages - 1u) * PS + u32(last_page_len[b])); }
    for (var i = t; i < ${SGMAT_ROWS}u * ${qVpr}u; i += ${WG}u) {
      let lr = i / ${qVpr}u; let e = i % ${qVpr}u; let r = r0 + lr;
      var w = vec4<u32>(0u);
      if (r < r1) { w = q[((q_start + r / GRP) * HQ + hk * GRP + r % GRP) * ${qVpr}u + e]; }
      put8q(lr * D + 8u * e, w);
    }
    if (t < ${SGMAT_ROWS}u) { m_sh[t] = ${NEG}; l_sh[t] = 0.0; }
    workgroupBarrier();
    ${v.transform ? `transform_q(r0, t, kv_len, q_len);\n    workgroupBarrier();` : ''}
    var acc: array<vec2<f32>, ${DB * 4}>;
    for (var k = 0u; k < ${DB * 4}u; k++) { acc[k] = vec2<f32>(0.0); }
    for (var kt = k0; kt < k1; kt += TK) {
      for (var i = t; i < TK * ${kvVpr}u; i += ${WG}u) {
        let c = i / ${kvVpr}u; let e = i % ${kvVpr}u; let j = kt + c;
        var wk = vec4<u32>(0u); var wv = vec4<u32>(0u);
        if (j < k1) {
          let page = u32(kv_indices[page_base + j / PS]);
          let row = kv_row(page, 0u, j % PS, hk) / 8u + e;
          wk = pool[row];
          wv = pool[row + ${(p.pageSize * p.numKvHeads * D) / 8}u];
        }
        put8(c * D + 8u * e, wk);
        put8(TK * D + c * D + 8u * e, wv);
      }
      workgroupBarrier();
      ${v.transform ? `transform_k(kt, t);\n      workgroupBarrier();` : ''}
      for (var kb = 0u; kb < TK / 16u; kb++) {
        var s = subgroup_matrix_result<f32, 16, 16>();
        for (var db = 0u; db < ${DB}u; db++) {
          let qmat = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>, row_major>(&qs, sg * 16u * D + db * 16u, D);
          let kmat = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>, col_major>(&kvq, kb * 16u * D + db * 16u, D);
          s = subgroupMatrixMultiplyAccumulate(qmat, kmat, s);
        }
        subgroupMatrixStore<row_major>(&ss, sg * 16u * TK + kb * 16u, s, TK);
      }
      workgroupBarrier();
      if (lane < 16u) {
        let lr = sg * 16u + lane;
        let r = r0 + lr;
        let m_old = m_sh[lr];
        var mx = m_old;
        for (var c = 0u; c < TK; c++) {
          let j = kt + c;
          var s = ${NEG};
          if (r < r1 && j < k1) {
            let qi = i32(r / GRP);
            let head = hk * GRP + r % GRP;
            let qpos = kv_len - q_len + qi;
            let kpos = i32(j);
            if (${v.mask}) {
              s = ss[lr * TK + c] * SCALE;
              ${v.logits}
              s = s * LOG2E;
            }
          }
          ss[lr * TK + c] = s;
          mx = max(mx, s);
        }
        var alpha = 1.0;
        var sum = 0.0;
        if (mx > ${NEG}) { alpha = exp2(m_old - mx); }
        for (var c = 0u; c < TK; c++) {
          let sc = ss[lr * TK + c];
          var pr = 0.0;
          if (mx > ${NEG} && sc > ${NEG}) { pr = exp2(sc - mx); }
          ps[lr * TK + c] = f16(pr);
          sum += pr;
        }
        m_sh[lr] = mx;
        l_sh[lr] = l_sh[lr] * alpha + sum;
        a_sh[lr] = alpha;
      }
      workgroupBarrier();
      for (var db = 0u; db < ${DB}u; db++) {
        var pv = subgroup_matrix_result<f32, 16, 16>();
        for (var kb = 0u; kb < TK / 16u; kb++) {
          let pmat = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>, row_major>(&ps, sg * 16u * TK + kb * 16u, TK);
          let vmat = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>, row_major>(&kvq, TK * D + kb * 16u * D + db * 16u, D);
          pv = subgroupMatrixMultiplyAccumulate(pmat, vmat, pv);
        }
        // the scores are consumed: their space holds this block of P·V
        subgroupMatrixStore<row_major>(&ss, sg * 256u, pv, 16u);
        workgroupBarrier();
        for (var i = 0u; i < 4u; i++) {
          let pi = lane + 32u * i;
          let row = pi / 8u; let col = (pi % 8u) * 2u;
          let alpha = a_sh[sg * 16u + row];
          let add = vec2<f32>(ss[sg * 256u + row * 16u + col], ss[sg * 256u + row * 16u + col + 1u]);
          acc[db * 4u + i] = acc[db * 4u + i] * alpha + add;
        }
        workgroupBarrier();
      }
    }
    // each lane holds (row, 2 adjacent columns) pairs: one store word for f16/bf16, two for f32
    for (var db = 0u; db < ${DB}u; db++) {
      for (var i = 0u; i < 4u; i++) {
        let pi = lane + 32u * i;
        let row = pi / 8u; let col = db * 16u + (pi % 8u) * 2u;
        let lr = sg * 16u + row;
        let r = r0 + lr;
        if (r < r1) {
          let l = l_sh[lr];
          var inv = 0.0;
          if (l > 0.0) { inv = 1.0 / l; }
          var val = acc[db * 4u + i] * inv;
          let head = hk * GRP + r % GRP;
          let orow = (q_start + r / GRP) * HQ + head;
          if (slot < 0) {
            ${v.output ? `for (var z = 0u; z < 2u; z++) { var o = val[z]; ${v.output} val[z] = o; }` : ''}
            ${storePair(p.oDtype, 'o_out', 'orow * D + col', 'val')}
            if (col == 0u) {
              var lse = ${NEG_INF};
              if (l > 0.0) { lse = m_sh[lr] + log2(l); }
              lse_out[orow] = lse;
            }
          } else {
            let tr = u32(slot) + lr;
            let base = tr * DV4 + col / 4u;
            if (col % 4u == 0u) { tmp_o[base].x = val.x; tmp_o[base].y = val.y; } else { tmp_o[base].z = val.x; tmp_o[base].w = val.y; }
            if (col == 0u) {
              var lse = ${NEG_INF};
              if (l > 0.0) { lse = m_sh[lr] + log2(l); }
              tmp_lse[tr] = lse;
            }
          }
        }
      }
    }
    workgroupBarrier();
  }
}`;
}

/** Stores two adjacent elements (`elem` even) of a vec2<f32>. */
function storePair(dtype: string, buf: string, elem: string, val: string): string {
  if (dtype === 'f32') return `{ let w = ${elem}; ${buf}[w] = bitcast<u32>(${val}.x); ${buf}[w + 1u] = bitcast<u32>(${val}.y); }`;
  if (dtype === 'f16') return `${buf}[(${elem}) >> 1u] = pack2x16float(${val});`;
  return `${buf}[(${elem}) >> 1u] = tess_pack_bf16(${val}.x, ${val}.y);`;
}

