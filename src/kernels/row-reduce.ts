/**
 * Shared pieces of the row-wise kernels (reduce, softmax, rmsnorm, layernorm, argmax, sample):
 * one workgroup per row, workgroup-wide sum/max that use subgroup operations when the device
 * has them (a workgroup-memory tree otherwise), and row stores that stay correct when packed
 * 16-bit outputs put two rows in one `u32` word.
 *
 * The reductions return a workgroup-uniform value (read back through `workgroupUniformLoad`),
 * so kernels may branch and loop on it around barriers. Every thread must call them.
 */
import type { Capabilities } from '../backends/webgpu/capabilities.js';
import type { DType } from '../tensor/dtype.js';
import { elemsPerWord, storageElem } from './wgsl-dtype.js';

type Caps = Pick<Capabilities, 'f16' | 'subgroups'>;

/** Threads per row: small rows get small workgroups (a subgroup on most GPUs) so few threads idle. */
export function rowWorkgroupSize(cols: number, max = 256): number {
  let wg = 32;
  while (wg < max && wg * 4 < cols) wg *= 2;
  return wg;
}

/** `enable subgroups;` when the reductions use them. */
export function rowEnables(caps: Caps): string {
  return caps.subgroups ? 'enable subgroups;\n' : '';
}

/** Entry-point parameters the row helpers need (`lid`, the row's workgroup id, subgroup lane/size). */
export function rowParams(caps: Caps): string {
  const sg = caps.subgroups
    ? ', @builtin(subgroup_invocation_id) sg_lane: u32, @builtin(subgroup_size) sg_size: u32'
    : '';
  return `@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>${sg}`;
}

/** First statement of the entry point: records the thread's coordinates for the helpers. */
export function rowInit(caps: Caps): string {
  return caps.subgroups ? 'tess_lid = lid; tess_lane = sg_lane; tess_sgs = sg_size;' : 'tess_lid = lid;';
}

/**
 * WGSL for `tess_sum(v)` and `tess_max(v)` over a workgroup of `wg` threads (a power of two).
 * Subgroup path: one subgroup op, one slot per subgroup, thread 0 folds the slots in order
 * (deterministic for a fixed subgroup size). Fallback: a tree in workgroup memory.
 */
export function rowReduceWgsl(caps: Caps, wg: number): string {
  const common = `var<workgroup> tess_red: array<f32, ${wg}>;
var<workgroup> tess_red_out: f32;
var<private> tess_lid: u32;
// -inf as a runtime value: WGSL rejects infinities in constant expressions
var<private> tess_ninf_bits: u32 = 0xff800000u;
fn tess_ninf() -> f32 { return bitcast<f32>(tess_ninf_bits); }`;
  const fold = (name: string, sgOp: string, comb: (a: string, b: string) => string, init: string) =>
    caps.subgroups
      ? `fn ${name}(v: f32) -> f32 {
  let s = ${sgOp}(v);
  if (tess_lane == 0u) { tess_red[tess_lid / tess_sgs] = s; }
  workgroupBarrier();
  if (tess_lid == 0u) {
    var t = ${init};
    let n = (${wg}u + tess_sgs - 1u) / tess_sgs;
    for (var i = 0u; i < n; i++) { t = ${comb('t', 'tess_red[i]')}; }
    tess_red_out = t;
  }
  return workgroupUniformLoad(&tess_red_out);
}`
      : `fn ${name}(v: f32) -> f32 {
  tess_red[tess_lid] = v;
  workgroupBarrier();
  for (var s = ${wg / 2}u; s > 0u; s >>= 1u) {
    if (tess_lid < s) { tess_red[tess_lid] = ${comb('tess_red[tess_lid]', 'tess_red[tess_lid + s]')}; }
    workgroupBarrier();
  }
  if (tess_lid == 0u) { tess_red_out = tess_red[0]; }
  return workgroupUniformLoad(&tess_red_out);
}`;
  const sgVars = caps.subgroups ? '\nvar<private> tess_lane: u32;\nvar<private> tess_sgs: u32;' : '';
  return `${common}${sgVars}
${fold('tess_sum', 'subgroupAdd', (a, b) => `${a} + ${b}`, '0.0')}
${fold('tess_max', 'subgroupMax', (a, b) => `max(${a}, ${b})`, 'tess_ninf()')}`;
}

/** This workgroup's row from a 2-D grid (rows may exceed the 65535 workgroups of one dimension), the row guard and the row's first element (`rows`, `cols` in uniform words 0 and 1). */
export const ROW_INDEX = `let row = wid.x + wid.y * nwg.x;
  let rows = uw(0u);
  let cols = uw(1u);
  if (row >= rows) { return; }
  let base = row * cols;`;

/**
 * Whether a row-wise output of this type needs partial-word stores: packed 16-bit rows of odd
 * length start mid-word, so two workgroups share a word and must write their halves atomically.
 */
export function rowsStraddleWords(dtype: DType, caps: Pick<Capabilities, 'f16'>, rowLen: number): boolean {
  return elemsPerWord(dtype, caps) === 2 && rowLen % 2 === 1;
}

/** Declares the row output; straddling packed outputs are `atomic<u32>` so halves can be merged. */
export function rowOutDecl(
  binding: number,
  name: string,
  dtype: DType,
  caps: Pick<Capabilities, 'f16'>,
  straddle: boolean,
): string {
  const elem = straddle ? 'atomic<u32>' : storageElem(dtype, caps);
  return `@group(0) @binding(${binding}) var<storage, read_write> ${name}: array<${elem}>;`;
}

/** Bits of one 16-bit element in the low half of a u32 (needs PACK_WGSL for bf16). */
function halfBits(dtype: DType, v: string): string {
  return dtype === 'bf16' ? `tess_bf16_bits(${v})` : `(pack2x16float(vec2<f32>(${v}, 0.0)) & 0xffffu)`;
}

/**
 * WGSL loop storing elements [base, base + n) of `buf`, element c's f32 value being `value('c')`
 * (c relative to base). Threads `lid` stride by `wg`. Packed types write whole words; a word
 * shared with a neighbouring row gets only this row's half (atomicAnd then atomicOr, which touch
 * disjoint bits, so the two rows' writes commute).
 */
export function rowStoreLoop(
  dtype: DType,
  caps: Pick<Capabilities, 'f16'>,
  straddle: boolean,
  buf: string,
  base: string,
  n: string,
  value: (c: string) => string,
  wg: number,
): string {
  const per = elemsPerWord(dtype, caps);
  if (per === 1) {
    const st = dtype === 'f32' ? `${value('c')}` : dtype === 'f16' ? `f16(${value('c')})` : `${dtype}(${value('c')})`;
    return `for (var c = lid; c < ${n}; c += ${wg}u) { ${buf}[${base} + c] = ${st}; }`;
  }
  if (per !== 2) throw new Error(`row store: unsupported output dtype ${dtype}`);
  const full = (a: string, b: string) =>
    dtype === 'bf16' ? `tess_pack_bf16(${a}, ${b})` : `pack2x16float(vec2<f32>(${a}, ${b}))`;
  const put = straddle
    ? (w: string, v: string) => `atomicStore(&${buf}[${w}], ${v});`
    : (w: string, v: string) => `${buf}[${w}] = ${v};`;
  const partial = straddle
    ? `else if (lo_in) { atomicAnd(&${buf}[tw], 0xffff0000u); atomicOr(&${buf}[tw], ${halfBits(dtype, 'tlo')}); }
    else { atomicAnd(&${buf}[tw], 0x0000ffffu); atomicOr(&${buf}[tw], ${halfBits(dtype, 'thi')} << 16u); }`
    : // without straddling, only the tensor's last word can be half used; its other half is padding
      `else { ${buf}[tw] = ${full('tlo', 'thi')}; }`;
  return `{
  let tb = ${base};
  let tn = ${n};
  let w_end = (tb + tn - 1u) >> 1u;
  for (var tw = (tb >> 1u) + lid; tw <= w_end; tw += ${wg}u) {
    let te = tw * 2u;
    let lo_in = te >= tb;
    let hi_in = te + 1u < tb + tn;
    var tlo = 0.0;
    var thi = 0.0;
    if (lo_in) { let c = te - tb; tlo = ${value('c')}; }
    if (hi_in) { let c = te + 1u - tb; thi = ${value('c')}; }
    if (lo_in && hi_in) { ${put('tw', full('tlo', 'thi'))} }
    ${partial}
  }
}`;
}
