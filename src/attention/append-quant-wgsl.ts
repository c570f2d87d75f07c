/**
 * append_kv into a quantized KV pool (kv-quant.ts): thread → (new token, KV head, K|V), which
 * reads its row twice (range, then codes) and writes the row's code words and its (scale, zero)
 * word. A row is a few hundred bytes, so one thread per row keeps the range a plain loop; the
 * request search and position are append_kv's (append-rows-wgsl.ts).
 */
import type { DType } from '../tensor/dtype.js';
import { APPEND_KV_BINDINGS, appendPositionWgsl, newRowLoadWgsl } from './append-rows-wgsl.js';
import type { KvLayout } from './kv-layout.js';
import type { KvQuantSpec } from './kv-quant.js';
import { quantStoreFns } from './kv-quant-wgsl.js';
import { SMALL_WG } from './misc-wgsl.js';

/** The quantizing store of one new row: `ld_src` over the K (`which` 0) or V (1) row, then `store_qrow`. */
function quantRowStoreFns(layout: KvLayout, s: KvQuantSpec, rowDtype: DType): string {
  return `var<private> which: u32;
${newRowLoadWgsl(rowDtype)}
${quantStoreFns(layout, s)}`;
}

/** The entry point's opening: thread → (`tok`, `head` of H, `which` of K|V). */
function rowThreadMain(H: number): string {
  return `@compute @workgroup_size(${SMALL_WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = gid.x + gid.y * nwg.x * ${SMALL_WG}u;
  let tok = idx / ${2 * H}u;
  let head = (idx / 2u) % ${H}u;
  which = idx % 2u;`;
}

export function appendQuantWgsl(
  layout: KvLayout,
  s: KvQuantSpec,
  rowDtype: DType,
  batch: number,
  numPages: number,
): string {
  const H = s.numKvHeads;
  const D = s.headDim;
  return `// append_kv ${s.dtype} ${layout} P=${s.pageSize} H=${H} D=${D} from ${rowDtype}
${APPEND_KV_BINDINGS}
${quantRowStoreFns(layout, s, rowDtype)}
const PS = ${s.pageSize}u;
${rowThreadMain(H)}
${appendPositionWgsl(batch, numPages)}
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
  return `// qkv_append store ${s.dtype} ${layout} P=${s.pageSize} H=${H} D=${s.headDim} from ${rowDtype}
@group(0) @binding(0) var<storage, read> k_new: array<u32>;
@group(0) @binding(1) var<storage, read> v_new: array<u32>;
@group(0) @binding(2) var<storage, read> slots: array<i32>;
@group(0) @binding(3) var<storage, read_write> pool: array<u32>;
${quantRowStoreFns(layout, s, rowDtype)}
${rowThreadMain(H)}
  if (tok >= ${tokens}u) { return; }
  let slot = slots[tok];
  if (slot < 0) { return; }
  store_qrow(u32(slot) / ${s.pageSize}u, which, u32(slot) % ${s.pageSize}u, head, (tok * ${H}u + head) * ${s.headDim}u);
}`;
}
