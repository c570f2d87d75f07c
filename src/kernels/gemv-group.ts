/**
 * One GEMV for a group of projections of the same rows (`linear_group`: Q, K and V), each weight
 * and each output in its own binding so nothing is concatenated or split. Workgroups walk the
 * heads of all members in order; a workgroup owns rows {o, o+1, o+D/2, o+D/2+1} of one head (as
 * the RoPE GEMV, gemv.ts), so it reads one member's weight — a branch that is uniform across the
 * workgroup — adds its bias and its per-row f32 term (a LoRA delta) if it has them, and rotates
 * the pairs itself when that member is RoPE'd. The RMSNorm prologue and 16-byte K loop follow
 * gemv-wgsl.ts (Σx² summed as a fifth accumulator); K must be a multiple of 8.
 */
import type { Capabilities } from '../backends/webgpu/capabilities.js';
import type { DType } from '../tensor/dtype.js';
import { reduceToRed } from './gemv.js';
import { actChunk, normScaleWgsl, range, ropeTurnsWgsl, unpack4 } from './gemv-wgsl.js';
import type { MatmulPlan } from './matmul-common.js';
import { PACK_WGSL, elemsPerWord, enables, loadF32, storageDecl, storeWord, uniformDecl } from './wgsl-dtype.js';

type Caps = Pick<Capabilities, 'f16' | 'subgroups'>;

export interface GroupLayout {
  /** Output columns of each member (multiples of the head dim). */
  readonly widths: readonly number[];
  /** Members 0…roped−1 are rotated. */
  readonly roped: number;
  readonly headDim: number;
  readonly weightDtype: DType;
  readonly normDtype?: DType;
  /** dtype of each member's bias (bound after the positions), added before RoPE. */
  readonly biasDtypes?: readonly DType[];
  /** Each member adds a per-row f32 term [M, N_i] (bound after the biases), before RoPE. */
  readonly deltas?: boolean;
  /**
   * Members 1 and 2 (K, V) stored into a paged KV pool instead of outputs of their own: the
   * token's pool slot (page · pageSize + offset, negative: not stored) is bound after the biases,
   * the pool (the outputs' dtype) after member 0's output.
   */
  readonly paged?: PagedKvStore;
}

/** Where `GroupLayout.paged` stores K and V: the pool's geometry (src/attention/kv-layout.ts). */
export interface PagedKvStore {
  readonly layout: 'NHD' | 'HND';
  readonly pageSize: number;
  readonly numKvHeads: number;
}

/** Uniform words: the matmul's first 8 (K at 2), eps at 8, then RoPE's frequency triples from 12. */
export const GROUP_FREQ_WORD = 12;

function declarations(p: MatmulPlan, caps: Caps, g: GroupLayout): { text: string; uniform: number } {
  const vecType = (d: DType) => (d === 'f32' ? 'vec4<f32>' : 'vec4<u32>');
  const lines = [`@group(0) @binding(0) var<storage, read> a: array<${vecType(p.aDtype)}>;`];
  let binding = 1;
  g.widths.forEach((_, s) =>
    lines.push(`@group(0) @binding(${binding++}) var<storage, read> b${s}: array<${vecType(g.weightDtype)}>;`),
  );
  if (g.normDtype) lines.push(storageDecl(binding++, 'nw', g.normDtype, caps, 'read'));
  lines.push(storageDecl(binding++, 'pos', 'i32', caps, 'read'));
  g.biasDtypes?.forEach((d, s) => lines.push(storageDecl(binding++, `bias${s}`, d, caps, 'read')));
  if (g.deltas) g.widths.forEach((_, s) => lines.push(storageDecl(binding++, `delta${s}`, 'f32', caps, 'read')));
  if (g.paged) {
    lines.push(storageDecl(binding++, 'slots', 'i32', caps, 'read'));
    lines.push(storageDecl(binding++, 'c0', p.outDtype, caps, 'read_write'));
    lines.push(storageDecl(binding++, 'pool', p.outDtype, caps, 'read_write'));
  } else g.widths.forEach((_, s) => lines.push(storageDecl(binding++, `c${s}`, p.outDtype, caps, 'read_write')));
  const dtypes = [p.aDtype, g.weightDtype, p.outDtype, ...(g.normDtype ? [g.normDtype] : []), ...(g.biasDtypes ?? [])];
  return {
    text: `${enables(dtypes, caps)}${caps.subgroups ? 'enable subgroups;\n' : ''}${lines.join('\n')}`,
    uniform: binding,
  };
}

/** `wload(seg, i)`: element i of member seg's weight; `store_pair(seg, m, col, v0, v1)`: two adjacent outputs. */
function memberAccess(p: MatmulPlan, caps: Caps, g: GroupLayout): string {
  const type = g.weightDtype === 'f32' ? 'vec4<f32>' : 'vec4<u32>';
  const pick = (f: (s: number) => string) =>
    g.widths.map((_, s) => (s + 1 < g.widths.length ? `if (seg == ${s}u) { ${f(s)} }` : `{ ${f(s)} }`)).join(' else ');
  const store = (s: number) => {
    const i = `m * ${g.widths[s]}u + col`;
    if (g.paged && s > 0) return storePaged(p, caps, g, g.paged, s - 1);
    return elemsPerWord(p.outDtype, caps) === 1
      ? `${storeWord(p.outDtype, caps, `c${s}`, i, ['v0'])} ${storeWord(p.outDtype, caps, `c${s}`, `${i} + 1u`, ['v1'])}`
      : storeWord(p.outDtype, caps, `c${s}`, `(${i}) >> 1u`, ['v0', 'v1']);
  };
  const bias = g.biasDtypes
    ? `\nfn bias_at(seg: u32, col: u32) -> f32 { ${pick((s) => `return ${loadF32(g.biasDtypes![s]!, caps, `bias${s}`, 'col')};`)} }`
    : '';
  const delta = g.deltas
    ? `\nfn delta_at(seg: u32, m: u32, col: u32) -> f32 { ${pick((s) => `return delta${s}[m * ${g.widths[s]}u + col];`)} }`
    : '';
  return `fn wload(seg: u32, i: u32) -> ${type} { ${pick((s) => `return b${s}[i];`)} }
fn store_pair(seg: u32, m: u32, col: u32, v0: f32, v1: f32) { ${pick(store)} }${bias}${delta}`;
}

/**
 * Stores v0, v1 (columns col, col+1 of K when `kv` is 0, of V when 1) of token m into the pool at
 * the token's slot: a pair never crosses a head, since col is even and the head dim a multiple of 4.
 */
function storePaged(p: MatmulPlan, caps: Caps, g: GroupLayout, kv: PagedKvStore, which: number): string {
  const P = kv.pageSize;
  const D = g.headDim;
  const row =
    kv.layout === 'NHD' ? `(slot % ${P}u) * ${kv.numKvHeads}u + col / ${D}u` : `(col / ${D}u) * ${P}u + slot % ${P}u`;
  const i = `((slot / ${P}u * 2u + ${which}u) * ${P * kv.numKvHeads}u + ${row}) * ${D}u + col % ${D}u`;
  const put =
    elemsPerWord(p.outDtype, caps) === 1
      ? `${storeWord(p.outDtype, caps, 'pool', 'i', ['v0'])} ${storeWord(p.outDtype, caps, 'pool', 'i + 1u', ['v1'])}`
      : storeWord(p.outDtype, caps, 'pool', 'i >> 1u', ['v0', 'v1']);
  return `let s = slots[m]; if (s >= 0) { let slot = u32(s); let i = ${i}; ${put} }`;
}

/** The K loop over the workgroup's four rows of member `seg`. */
function groupLoop(p: MatmulPlan, caps: Caps, g: GroupLayout, W: number): string {
  const half = g.headDim / 2;
  const S = 4 + (g.normDtype ? 1 : 0);
  const offs = [0, 1, half, half + 1];
  const chunk = (j: number) =>
    g.weightDtype === 'f32'
      ? `let w${j}lo = wload(seg, 2u * (rowc${j} + ch)); let w${j}hi = wload(seg, 2u * (rowc${j} + ch) + 1u);`
      : `let w${j}w = wload(seg, rowc${j} + ch); let w${j}lo = ${unpack4(g.weightDtype, `w${j}w.xy`)}; let w${j}hi = ${unpack4(g.weightDtype, `w${j}w.zw`)};`;
  const nw = (k: string) => loadF32(g.normDtype!, caps, 'nw', k);
  const normChunk = g.normDtype
    ? `    let nlo = vec4<f32>(${[0, 1, 2, 3].map((i) => nw(`8u * ch + ${i}u`)).join(', ')});
    let nhi = vec4<f32>(${[4, 5, 6, 7].map((i) => nw(`8u * ch + ${i}u`)).join(', ')});`
    : '';
  return `
  let chunks = K / 8u;
${offs.map((o, j) => `  let rowc${j} = (rbase + ${o}u) * chunks;`).join('\n')}
${range(p.g.M)
  .map((m) =>
    range(S)
      .map((j) => `  var acc${m}_${j} = 0.0;`)
      .join(' '),
  )
  .join('\n')}
  for (var ch = lid; ch < chunks; ch += ${W}u) {
${range(4)
  .map((j) => `    ${chunk(j)}`)
  .join('\n')}
${normChunk}
${range(p.g.M)
  .map(
    (
      m,
    ) => `    { ${actChunk(p.aDtype, 'x', `${m}u * chunks + ch`)}${g.normDtype ? ` let ylo = xlo * nlo; let yhi = xhi * nhi; acc${m}_4 += dot(xlo, xlo) + dot(xhi, xhi);` : ' let ylo = xlo; let yhi = xhi;'}
${range(4)
  .map((j) => `      acc${m}_${j} += dot(ylo, w${j}lo) + dot(yhi, w${j}hi);`)
  .join('\n')} }`,
  )
  .join('\n')}
  }`;
}

export function gemvGroupWgsl(p: MatmulPlan, caps: Caps, W: number, g: GroupLayout): string {
  const M = p.g.M;
  const S = 4 + (g.normDtype ? 1 : 0);
  const rs = g.normDtype ? ' * rs' : '';
  const half = g.headDim / 2;
  const { text, uniform } = declarations(p, caps, g);
  // first head of each member, in the order workgroups walk them
  const firstHead = g.widths.map((_, s) => g.widths.slice(0, s).reduce((x, y) => x + y, 0) / g.headDim);
  const segment = firstHead
    .slice(1)
    .map((h, s) => `  if (hg >= ${h}u) { seg = ${s + 1}u; h0 = ${h}u; }`)
    .join('\n');
  return `${text}
${uniformDecl(uniform, GROUP_FREQ_WORD + 3 * half)}
${PACK_WGSL}
${ropeTurnsWgsl(GROUP_FREQ_WORD)}
${memberAccess(p, caps, g)}
var<workgroup> red: array<f32, ${caps.subgroups ? M * S * (W / 4) : M * S * W}>;
fn red_sum(i: u32, nsg: u32) -> f32 { var v = 0.0; for (var s = 0u; s < nsg; s++) { v += red[s * ${M * S}u + i]; } return v; }
@compute @workgroup_size(${W})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32${caps.subgroups ? ', @builtin(subgroup_invocation_id) sgi: u32, @builtin(subgroup_size) sgs: u32' : ''}) {
  let K = uw(2u);
  let wid = wg.x + wg.y * nwg.x;
  let hg = wid / ${half / 2}u;
  var seg = 0u; var h0 = 0u;
${segment}
  let o = (wid % ${half / 2}u) * 2u;
  let rbase = (hg - h0) * ${g.headDim}u + o;
${groupLoop(p, caps, g, W)}
${reduceToRed(M, S, W, caps.subgroups)}
  if (lid < ${M}u) {
    let m = lid;
    ${g.normDtype ? normScaleWgsl(S, 4, 8) : ''}
    var e0 = red_sum(m * ${S}u, nsg)${rs}; var e1 = red_sum(m * ${S}u + 1u, nsg)${rs};
    var f0 = red_sum(m * ${S}u + 2u, nsg)${rs}; var f1 = red_sum(m * ${S}u + 3u, nsg)${rs};
    ${g.biasDtypes ? `e0 += bias_at(seg, rbase); e1 += bias_at(seg, rbase + 1u); f0 += bias_at(seg, rbase + ${half}u); f1 += bias_at(seg, rbase + ${half + 1}u);` : ''}
    ${g.deltas ? `e0 += delta_at(seg, m, rbase); e1 += delta_at(seg, m, rbase + 1u); f0 += delta_at(seg, m, rbase + ${half}u); f1 += delta_at(seg, m, rbase + ${half + 1}u);` : ''}
    if (seg < ${g.roped}u) {
      let q = pos[m];
      let a0 = turns(u32(abs(q)), o) * select(1.0, -1.0, q < 0) * 6.28318530717958647;
      let a1 = turns(u32(abs(q)), o + 1u) * select(1.0, -1.0, q < 0) * 6.28318530717958647;
      let c0 = cos(a0); let s0 = sin(a0); let c1 = cos(a1); let s1 = sin(a1);
      let r0 = e0 * c0 - f0 * s0; let r1 = e1 * c1 - f1 * s1;
      f0 = f0 * c0 + e0 * s0; f1 = f1 * c1 + e1 * s1; e0 = r0; e1 = r1;
    }
    store_pair(seg, m, rbase, e0, e1);
    store_pair(seg, m, rbase + ${half}u, f0, f1);
  }
}`;
}
