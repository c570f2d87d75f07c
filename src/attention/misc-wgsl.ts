/**
 * The two small kernels around attention: `append_kv` (new K/V rows written through the page
 * table, one thread per stored word) and `merge_states` ((o, lse) pairs combined in base 2).
 */
import { PACK_WGSL, uniformDecl } from '../kernels/wgsl-dtype.js';
import type { DType } from '../tensor/dtype.js';
import { APPEND_KV_BINDINGS, appendPositionWgsl } from './append-rows-wgsl.js';
import type { KvLayout } from './kv-layout.js';
import { NEG, NEG_INF, NEG_INF_DECL, kvRowFn, storeVec4, unpackFns } from './wgsl-kv.js';

export const SMALL_WG = 128;

/** Words a row of `headDim` elements of `dtype` takes (f32: one per element, 16-bit types: one per two). */
export const wordsPerRow = (dtype: DType, headDim: number): number => (dtype === 'f32' ? headDim : headDim / 2);

/**
 * append_kv: thread → (new token, KV head, word of the row); the token's request comes from a
 * binary search over appendIndptr, its position from the page table (which already counts it).
 * K/V arrive in the pool's dtype, so a word is copied unchanged.
 */
export function appendWgsl(
  layout: KvLayout,
  pageSize: number,
  numKvHeads: number,
  headDim: number,
  dtype: DType,
  batch: number,
  numPages: number,
): string {
  const wpr = wordsPerRow(dtype, headDim);
  const epw = dtype === 'f32' ? 1 : 2;
  return `// append_kv ${layout} P=${pageSize} D=${headDim} ${dtype}
${APPEND_KV_BINDINGS}
${kvRowFn(layout, pageSize, numKvHeads, headDim)}
const PS = ${pageSize}u;
@compute @workgroup_size(${SMALL_WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = gid.x + gid.y * nwg.x * ${SMALL_WG}u;
  let tok = idx / ${wpr * numKvHeads}u;
  let rest = idx % ${wpr * numKvHeads}u;
  let head = rest / ${wpr}u;
  let w = rest % ${wpr}u;
${appendPositionWgsl(batch, numPages)}
  let src = (tok * ${numKvHeads}u + head) * ${wpr}u + w;
  let dst = kv_row(page, 0u, pos % PS, head) / ${epw}u + w;
  pool[dst] = k_new[src];
  pool[dst + ${(pageSize * numKvHeads * headDim) / epw}u] = v_new[src];
}`;
}

/** Copies `n` u32 words (append_kv into a pool that is not its input: out-of-place use). */
export const COPY_WGSL = `@group(0) @binding(0) var<storage, read> src: array<u32>;
@group(0) @binding(1) var<storage, read_write> dst: array<u32>;
${uniformDecl(2, 1)}
@compute @workgroup_size(${SMALL_WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * ${SMALL_WG}u;
  if (i < uw(0u)) { dst[i] = src[i]; }
}`;

/** merge_states: thread → 4 elements of one row; reads (va, sa), (vb, sb), writes (v, s). */
export function mergeStatesWgsl(dtype: DType, headDim: number, outDtype: DType): string {
  const epv = dtype === 'f32' ? 4 : 8;
  const dv = headDim / 4;
  const load = (buf: string): string =>
    epv === 4 ? `ld_lo(${buf}[g])` : `select(ld_lo(${buf}[g / 2u]), ld_hi(${buf}[g / 2u]), (g & 1u) == 1u)`;
  return `// merge_states ${dtype}→${outDtype} D=${headDim}
${unpackFns('ld', dtype)}
${PACK_WGSL}
${NEG_INF_DECL}
@group(0) @binding(0) var<storage, read> va: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read> sa: array<f32>;
@group(0) @binding(2) var<storage, read> vb: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read> sb: array<f32>;
@group(0) @binding(4) var<storage, read_write> v_out: array<u32>;
@group(0) @binding(5) var<storage, read_write> s_out: array<f32>;
${uniformDecl(6, 1)}
@compute @workgroup_size(${SMALL_WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let g = gid.x + gid.y * nwg.x * ${SMALL_WG}u;
  let row = g / ${dv}u;
  if (row >= uw(0u)) { return; }
  let la = sa[row];
  let lb = sb[row];
  let mx = max(max(la, lb), ${NEG});
  let wa = select(exp2(la - mx), 0.0, la <= ${NEG});
  let wb = select(exp2(lb - mx), 0.0, lb <= ${NEG});
  let sum = wa + wb;
  var val = vec4<f32>(0.0);
  if (sum > 0.0) { val = (wa * ${load('va')} + wb * ${load('vb')}) / sum; }
  ${storeVec4(outDtype, 'v_out', '4u * g', 'val')}
  if (g % ${dv}u == 0u) { s_out[row] = select(${NEG_INF}, mx + log2(sum), sum > 0.0); }
}`;
}
