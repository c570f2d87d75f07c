/**
 * append_kv into a quantized KV pool (kv-quant.ts): thread → (new token, KV head, K|V), which
 * reads its row twice (range, then codes) and writes the row's code words and its (scale, zero)
 * word. A row is a few hundred bytes, so one thread per row keeps the range a plain loop; the
 * request search and position are append_kv's (misc-wgsl.ts).
 */
import type { DType } from '../tensor/dtype.js';
import type { KvLayout } from './kv-layout.js';
import type { KvQuantSpec } from './kv-quant.js';
import { quantStoreFns } from './kv-quant-wgsl.js';
import { SMALL_WG } from './misc-wgsl.js';

export function appendQuantWgsl(
  layout: KvLayout,
  s: KvQuantSpec,
  rowDtype: DType,
  batch: number,
  numPages: number,
): string {
  const H = s.numKvHeads;
  const D = s.headDim;
  // K and V rows are f32 or f16; `which` picks the buffer (one function, so the store is generated once)
  const ld =
    rowDtype === 'f32'
      ? `fn ld_src(i: u32) -> f32 { if (which == 0u) { return bitcast<f32>(k_new[i]); } return bitcast<f32>(v_new[i]); }`
      : `fn ld_src(i: u32) -> f32 {
  var w: u32;
  if (which == 0u) { w = k_new[i >> 1u]; } else { w = v_new[i >> 1u]; }
  return unpack2x16float(w)[i & 1u];
}`;
  return `// append_kv ${s.dtype} ${layout} P=${s.pageSize} H=${H} D=${D} from ${rowDtype}
@group(0) @binding(0) var<storage, read> k_new: array<u32>;
@group(0) @binding(1) var<storage, read> v_new: array<u32>;
@group(0) @binding(2) var<storage, read> append_indptr: array<i32>;
@group(0) @binding(3) var<storage, read> kv_indptr: array<i32>;
@group(0) @binding(4) var<storage, read> kv_indices: array<i32>;
@group(0) @binding(5) var<storage, read> last_page_len: array<i32>;
@group(0) @binding(6) var<storage, read_write> pool: array<u32>;
var<private> which: u32;
${ld}
${quantStoreFns(layout, s)}
const PS = ${s.pageSize}u;
@compute @workgroup_size(${SMALL_WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = gid.x + gid.y * nwg.x * ${SMALL_WG}u;
  let tok = idx / ${2 * H}u;
  let head = (idx / 2u) % ${H}u;
  which = idx % 2u;
  if (i32(tok) >= append_indptr[${batch}]) { return; }
  // last request whose first new token is ≤ tok
  var lo = 0u; var hi = ${batch}u;
  while (hi - lo > 1u) {
    let mid = (lo + hi) / 2u;
    if (append_indptr[mid] <= i32(tok)) { lo = mid; } else { hi = mid; }
  }
  let b = lo;
  let n_new = u32(append_indptr[b + 1u] - append_indptr[b]);
  let n_pages = u32(kv_indptr[b + 1u] - kv_indptr[b]);
  if (n_pages == 0u) { return; }
  let kv_len = (n_pages - 1u) * PS + u32(last_page_len[b]);
  if (kv_len < n_new) { return; }
  let pos = kv_len - n_new + (tok - u32(append_indptr[b]));
  let page = u32(kv_indices[u32(kv_indptr[b]) + pos / PS]);
  if (page >= ${numPages}u) { return; }
  store_qrow(page, which, pos % PS, head, (tok * ${H}u + head) * ${D}u);
}`;
}

/**
 * `qkv_append`'s store into a quantized pool: thread → (token, KV head, K|V); the token's pool
 * slot (append-slots.ts, −1: none) names its page and offset, and the row (f32 or f16, [tokens,
 * heads · D] as the group GEMV wrote it) is quantized there.
 */
export function slotQuantStoreWgsl(layout: KvLayout, s: KvQuantSpec, rowDtype: DType, tokens: number): string {
  const H = s.numKvHeads;
  const ld =
    rowDtype === 'f32'
      ? `fn ld_src(i: u32) -> f32 { if (which == 0u) { return bitcast<f32>(k_new[i]); } return bitcast<f32>(v_new[i]); }`
      : `fn ld_src(i: u32) -> f32 {
  var w: u32;
  if (which == 0u) { w = k_new[i >> 1u]; } else { w = v_new[i >> 1u]; }
  return unpack2x16float(w)[i & 1u];
}`;
  return `// qkv_append store ${s.dtype} ${layout} P=${s.pageSize} H=${H} D=${s.headDim} from ${rowDtype}
@group(0) @binding(0) var<storage, read> k_new: array<u32>;
@group(0) @binding(1) var<storage, read> v_new: array<u32>;
@group(0) @binding(2) var<storage, read> slots: array<i32>;
@group(0) @binding(3) var<storage, read_write> pool: array<u32>;
var<private> which: u32;
${ld}
${quantStoreFns(layout, s)}
@compute @workgroup_size(${SMALL_WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = gid.x + gid.y * nwg.x * ${SMALL_WG}u;
  let tok = idx / ${2 * H}u;
  let head = (idx / 2u) % ${H}u;
  which = idx % 2u;
  if (tok >= ${tokens}u) { return; }
  let slot = slots[tok];
  if (slot < 0) { return; }
  store_qrow(u32(slot) / ${s.pageSize}u, which, u32(slot) % ${s.pageSize}u, head, (tok * ${H}u + head) * ${s.headDim}u);
}`;
}
