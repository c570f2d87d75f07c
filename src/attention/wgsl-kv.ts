/**
 * WGSL pieces shared by the attention kernels: every float tensor is bound as `array<vec4<u32>>`
 * (16-byte loads whatever the dtype) and unpacked here, so f16 needs no `shader-f16` on the read
 * path — the packed fallback *is* the fast path — and bf16 is a shift.
 */
import type { DType } from '../tensor/dtype.js';
import type { KvLayout } from './kv-layout.js';
import type { KvDtype } from './kv-quant.js';
import { HEADER_WORDS, ITEM_WORDS, itemsOffset } from './plan.js';

/** Elements one vec4<u32> holds (codes, for a quantized KV pool). */
export function elemsPerVec(dtype: KvDtype): number {
  if (dtype === 'int8') return 16;
  if (dtype === 'int4') return 32;
  if (dtype === 'f32') return 4;
  if (dtype === 'f16' || dtype === 'bf16') return 8;
  throw new Error(`attention: dtype ${dtype} is not f32, f16 or bf16`);
}

/** `fn <name>_lo/_hi(w: vec4<u32>) -> vec4<f32>`: the first (and, for 16-bit types, second) four elements. */
export function unpackFns(name: string, dtype: DType): string {
  if (dtype === 'f32') return `fn ${name}_lo(w: vec4<u32>) -> vec4<f32> { return bitcast<vec4<f32>>(w); }`;
  if (dtype === 'f16') {
    return `fn ${name}_lo(w: vec4<u32>) -> vec4<f32> { return vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y)); }
fn ${name}_hi(w: vec4<u32>) -> vec4<f32> { return vec4<f32>(unpack2x16float(w.z), unpack2x16float(w.w)); }`;
  }
  return `fn ${name}_bf2(x: u32) -> vec2<f32> { return vec2<f32>(bitcast<f32>(x << 16u), bitcast<f32>(x & 0xffff0000u)); }
fn ${name}_lo(w: vec4<u32>) -> vec4<f32> { return vec4<f32>(${name}_bf2(w.x), ${name}_bf2(w.y)); }
fn ${name}_hi(w: vec4<u32>) -> vec4<f32> { return vec4<f32>(${name}_bf2(w.z), ${name}_bf2(w.w)); }`;
}

/**
 * WGSL statements storing `val` (vec4<f32>, elements `elem`…`elem`+3, `elem` a multiple of 4) into
 * the u32-word buffer `buf` of `dtype` (round to nearest even for bf16).
 */
export function storeVec4(dtype: DType, buf: string, elem: string, val: string): string {
  if (dtype === 'f32')
    return `{ let w = ${elem}; ${buf}[w] = bitcast<u32>(${val}.x); ${buf}[w + 1u] = bitcast<u32>(${val}.y); ${buf}[w + 2u] = bitcast<u32>(${val}.z); ${buf}[w + 3u] = bitcast<u32>(${val}.w); }`;
  if (dtype === 'f16')
    return `{ let w = (${elem}) >> 1u; ${buf}[w] = pack2x16float(${val}.xy); ${buf}[w + 1u] = pack2x16float(${val}.zw); }`;
  return `{ let w = (${elem}) >> 1u; ${buf}[w] = tess_pack_bf16(${val}.x, ${val}.y); ${buf}[w + 1u] = tess_pack_bf16(${val}.z, ${val}.w); }`;
}

/**
 * WGSL storing one finished vec4 `val` (elements 4e…4e+3) of output row `orow` with its base-2
 * `lse`: through the variant's output hook into o/lse when `slot` < 0, else unchanged into partial
 * row `slot + lrow` of the split-KV scratch for the merge pass; `slot` null stores final rows only
 * (the merge pass itself). Expects `val`, `lse`, `orow`, `e` and the constants D and DV4 in scope.
 */
export function storeOutputVec4(oDtype: DType, outputHook: string, slot: string | null, lrow: string): string {
  const final = `${outputHook ? `var ov = val; for (var z = 0u; z < 4u; z++) { var o = ov[z]; ${outputHook} ov[z] = o; }` : 'let ov = val;'}
  ${storeVec4(oDtype, 'o_out', 'orow * D + 4u * e', 'ov')}
  if (e == 0u) { lse_out[orow] = lse; }`;
  if (slot === null) return final;
  return `if (${slot} < 0) {
  ${final}
} else {
  let tr = u32(${slot}) + ${lrow};
  tmp_o[tr * DV4 + e] = val;
  if (e == 0u) { tmp_lse[tr] = lse; }
}`;
}

/** `fn kv_row(page: u32, kv: u32, slot: u32, head: u32) -> u32`: element offset of a K or V row. */
export function kvRowFn(layout: KvLayout, pageSize: number, numKvHeads: number, headDim: number): string {
  const row = layout === 'NHD' ? `slot * ${numKvHeads}u + head` : `head * ${pageSize}u + slot`;
  return `fn kv_row(page: u32, kv: u32, slot: u32, head: u32) -> u32 { return ((page * 2u + kv) * ${pageSize * numKvHeads}u + ${row}) * ${headDim}u; }`;
}

/** The −∞ stand-in inside kernels (WGSL constants may not be infinite); real −∞ is written out by bits. */
export const NEG = '-3.0e38';
/** A runtime −∞ (read from a private variable, so the shader compiler cannot constant-fold it into an error). */
export const NEG_INF = 'bitcast<f32>(neg_inf_bits)';
export const NEG_INF_DECL = 'var<private> neg_inf_bits: u32 = 0xff800000u;';

/**
 * The storage bindings every paged-attention template declares, in the order `kernels.ts` binds
 * them (q, pool, the BSR page table, the schedule, outputs, split-KV partials); variant bindings
 * (mask) follow from `attentionStorageBindings(compact)`.
 *
 * The full layout binds the whole BSR page table (qo_indptr, last_page_len too) though no template
 * reads those two: query offsets and KV lengths come from the schedule. The compact layout leaves
 * them out, so the kernel binds 9 storage buffers rather than 11 and fits devices that allow 10
 * per shader stage (a browser's SwiftShader adapter); `kernels.ts` picks it there.
 */
export function attentionBindingsWgsl(compact = false): string {
  const names: [string, string, string][] = [
    ['q', 'read', 'array<vec4<u32>>'],
    ['pool', 'read', 'array<vec4<u32>>'],
    ...(compact ? [] : ([['qo_indptr', 'read', 'array<i32>']] as [string, string, string][])),
    ['kv_indptr', 'read', 'array<i32>'],
    ['kv_indices', 'read', 'array<i32>'],
    ...(compact ? [] : ([['last_page_len', 'read', 'array<i32>']] as [string, string, string][])),
    ['sched', 'read', 'array<i32>'],
    ['o_out', 'read_write', 'array<u32>'],
    ['lse_out', 'read_write', 'array<f32>'],
    ['tmp_o', 'read_write', 'array<vec4<f32>>'],
    ['tmp_lse', 'read_write', 'array<f32>'],
  ];
  return names.map(([n, a, t], i) => `@group(0) @binding(${i}) var<storage, ${a}> ${n}: ${t};`).join('\n');
}

/** The full layout's declarations (the default on devices with 11 or more storage buffers per stage). */
export const ATTENTION_BINDINGS_WGSL = attentionBindingsWgsl(false);

/** Storage buffers the kernel binds before any variant's: 11 in the full layout, 9 in the compact one. */
export function attentionStorageBindings(compact = false): number {
  return compact ? 9 : 11;
}

/** Which of the op's 7 inputs (q, pool, qo_indptr, kv_indptr, kv_indices, last_page_len, schedule) the layout binds. */
export function attentionBoundInputs(compact = false): readonly number[] {
  return compact ? [0, 1, 3, 4, 6] : [0, 1, 2, 3, 4, 5, 6];
}

/** The fields of one work item's record, `word(i)` reading its i-th word (layout in `plan.ts`). */
function itemFields(word: (i: number) => string, slot: string): string {
  return `let b = u32(${word(0)});
    let hk = u32(${word(1)});
    let r0 = u32(${word(2)});
    let r1 = u32(${word(3)});
    let k0 = u32(${word(4)});
    let k1 = u32(${word(5)});
    let ${slot} = ${word(6)};
    let q_start = u32(${word(7)});
    let q_len = ${word(8)};
    let kv_len = ${word(9)};
    var page_base = u32(${word(10)});
    if (${word(10)} < 0) { page_base = u32(kv_indptr[b]); }`;
}

/**
 * Opens the loop over this workgroup's work items and decodes one item of the plan's schedule
 * (request, KV head, query rows [r0, r1), keys [k0, k1), output slot and the request's offsets and
 * lengths, so the first K/V loads wait on the item and the page table only). Every template
 * shares it or prefetchedItemLoop; the template closes the loop.
 */
export function workItemLoop(grid: number, slot: string): string {
  return `let it_end = sched[${HEADER_WORDS + 1}u + cta];
  for (var it = sched[${HEADER_WORDS}u + cta]; it < it_end; it++) {
    let ib = ${itemsOffset(grid)}u + u32(it) * ${ITEM_WORDS}u;
    ${itemFields((i) => `sched[ib + ${i}u]`, slot)}`;
}

/**
 * workItemLoop with the next item's record loaded while this one runs, one word per invocation
 * (one register), and handed over through workgroup memory when the item ends (`end`, before the
 * template's last barrier of the item). The record is read with `workgroupUniformLoad`, so its
 * fields stay uniform. Needs `t` (local_invocation_index). One word per invocation, not the whole
 * 11-word record in private memory: registers held through the streaming loop cost more than the
 * latency they hide (decode 7–45% slower on the H100 that way; docs/attention-tuning.md).
 */
export function prefetchedItemLoop(grid: number, slot: string): { decl: string; open: string; end: string } {
  const io = itemsOffset(grid);
  return {
    decl: `var<workgroup> item_rec: array<array<i32, ${ITEM_WORDS}>, 2>;`,
    open: `let it_begin = sched[${HEADER_WORDS}u + cta];
  let it_end = sched[${HEADER_WORDS + 1}u + cta];
  if (t < ${ITEM_WORDS}u && it_begin < it_end) { item_rec[0][t] = sched[${io}u + u32(it_begin) * ${ITEM_WORDS}u + t]; }
  for (var it = it_begin; it < it_end; it++) {
    let par = u32(it - it_begin) & 1u;
    let rec = workgroupUniformLoad(&item_rec[par]);
    var next_word = 0;
    if (t < ${ITEM_WORDS}u && it + 1 < it_end) { next_word = sched[${io}u + u32(it + 1) * ${ITEM_WORDS}u + t]; }
    ${itemFields((i) => `rec[${i}]`, slot)}`,
    end: `if (t < ${ITEM_WORDS}u) { item_rec[par ^ 1u][t] = next_word; }`,
  };
}
