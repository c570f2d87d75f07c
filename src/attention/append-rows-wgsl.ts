/**
 * What the kernels that append new K/V rows to a paged pool share (append_kv in misc-wgsl.ts, its
 * quantizing form and qkv_append's quantizing store in append-quant-wgsl.ts): their input
 * bindings, the search from a new token to its request and pool position, and the read of a new
 * K or V row.
 */
import type { DType } from '../tensor/dtype.js';

/** append_kv's bindings 0–6: the new rows and the pool as u32 words, the request and page tables. */
export const APPEND_KV_BINDINGS = `@group(0) @binding(0) var<storage, read> k_new: array<u32>;
@group(0) @binding(1) var<storage, read> v_new: array<u32>;
@group(0) @binding(2) var<storage, read> append_indptr: array<i32>;
@group(0) @binding(3) var<storage, read> kv_indptr: array<i32>;
@group(0) @binding(4) var<storage, read> kv_indices: array<i32>;
@group(0) @binding(5) var<storage, read> last_page_len: array<i32>;
@group(0) @binding(6) var<storage, read_write> pool: array<u32>;`;

/**
 * Statements of `main` from new token `tok` to its request `b`, position `pos` (the page table
 * already counts the token) and `page`, given `const PS` (the page size): the token's request is
 * the last whose first new token is ≤ tok. Returns early for a token past the batch's, a request
 * with no pages or fewer positions than new tokens, and a page outside the pool.
 */
export function appendPositionWgsl(batch: number, numPages: number): string {
  return `  if (i32(tok) >= append_indptr[${batch}]) { return; }
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
  if (page >= ${numPages}u) { return; }`;
}

/**
 * `ld_src(i)`: element i of the new K row (`which` 0) or V row (1), f32 or f16 in u32 words. One
 * function over both, so a quantizing store that calls it is generated once.
 */
export function newRowLoadWgsl(rowDtype: DType): string {
  return rowDtype === 'f32'
    ? `fn ld_src(i: u32) -> f32 { if (which == 0u) { return bitcast<f32>(k_new[i]); } return bitcast<f32>(v_new[i]); }`
    : `fn ld_src(i: u32) -> f32 {
  var w: u32;
  if (which == 0u) { w = k_new[i >> 1u]; } else { w = v_new[i >> 1u]; }
  return unpack2x16float(w)[i & 1u];
}`;
}
