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
import type { KvDtype } from './kv-quant.js';
import { isQuantKv } from './kv-quant.js';
import { kvQuads, kvRowDecls, kvUnpackDecls } from './kv-quant-wgsl.js';
import { mergeOffset, mergeTaskOffset } from './plan.js';
import { mergeKernelWgsl } from './split-merge-wgsl.js';
import { tileScores } from './tiled-scores.js';
import { type VariantSpec, variantParts, wgslF32 } from './variants.js';
import {
  NEG,
  NEG_INF,
  NEG_INF_DECL,
  elemsPerVec,
  storeOutputVec4,
  unpackFns,
  attentionBindingsWgsl,
  attentionStorageBindings,
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
  /** What the pool stores: a float dtype, or int8/int4 codes (kv-quant.ts), dequantized as they are read. */
  readonly kvDtype: KvDtype;
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
  /** The compact binding layout (wgsl-kv.ts): 9 storage buffers rather than 11, for devices that allow 10. */
  readonly compactBindings?: boolean;
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

/** The custom-mask reader (the two bindings after the layout's, 11 and 12 in the full one) when the variant uses one. */
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

/** stageRow for a K/V word: float words unpacked, quantized words dequantized with their row's (scale, zero) `sz`. */
function stageKvRow(dtype: KvDtype, dst: string, base: string, e: string, w: string, sz: string): string {
  if (!isQuantKv(dtype)) return stageRow(dtype, 'ldkv', dst, base, e, w);
  const qs = kvQuads(dtype, w, sz);
  return qs.map((x, c) => `${dst}[${base} + ${qs.length}u * ${e} + ${c}u] = ${x};`).join(' ');
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

/** Sizes the tiled template derives from the params, shared by its pieces. */
interface TiledShape {
  readonly p: AttentionKernelParams;
  readonly v: ReturnType<typeof variantDecls>;
  /** vec4<u32> words per Q row and per K/V row. */
  readonly qVpr: number;
  readonly kvVpr: number;
  /** Accumulator vec4s per thread, and K/V words each thread fetches per tile. */
  readonly opt: number;
  readonly nl: number;
  readonly sgSoftmax: boolean;
}

function tiledShape(p: AttentionKernelParams): TiledShape {
  const D = p.headDim;
  const kvVpr = D / elemsPerVec(p.kvDtype);
  return {
    p,
    v: variantDecls(p),
    qVpr: D / elemsPerVec(p.qDtype),
    kvVpr,
    opt: Math.ceil((p.tileRows * D) / 4 / WORKGROUP),
    nl: Math.ceil((p.tileKeys * kvVpr) / WORKGROUP),
    sgSoftmax: !!p.subgroupSoftmax && p.tileRows * p.tileKeys === WORKGROUP,
  };
}

/** Everything at module scope: unpackers, bindings, the variant's declarations, constants, tiles in workgroup memory. */
function moduleDecls({ p, v, sgSoftmax }: TiledShape): string {
  const D = p.headDim;
  const TQ = p.tileRows;
  const TK = p.tileKeys;
  const group = p.numQoHeads / p.numKvHeads;
  return `${sgSoftmax ? 'enable subgroups;\n' : ''}// attention: D=${D} TQ=${TQ} TK=${TK} group=${group}${sgSoftmax ? ' (subgroup softmax)' : ''}
${unpackFns('ldq', p.qDtype)}
${kvUnpackDecls(p)}
${PACK_WGSL}
${NEG_INF_DECL}
${attentionBindingsWgsl(p.compactBindings)}
${v.usesMask ? maskBindings(attentionStorageBindings(p.compactBindings)) : ''}
${p.dynamicLoops ? uniformDecl(attentionStorageBindings(p.compactBindings) + (v.usesMask ? 2 : 0), 3) : ''}
${v.decls}
${kvRowDecls(p.layout, p)}
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
var<workgroup> a_sh: array<f32, ${TQ}>;`;
}

/** The K/V tile's global loads into registers, issued a tile ahead of their use. */
function fetchTileFn({ p, kvVpr, nl }: TiledShape): string {
  const epv = elemsPerVec(p.kvDtype);
  const quant = isQuantKv(p.kvDtype);
  return `/** Loads this thread's words of the K/V tile starting at key kt (zeros past k1) into registers. */
fn fetch_tile(kt: u32, k1: u32, page_base: u32, hk: u32, t: u32, pk: ptr<function, array<vec4<u32>, ${nl}>>, pv: ptr<function, array<vec4<u32>, ${nl}>>${quant ? `, sk: ptr<function, array<vec2<f32>, ${nl}>>, sv: ptr<function, array<vec2<f32>, ${nl}>>` : ''}) {
  for (var n = 0u; n < ${nl}u; n++) {
    let i = t + n * ${WORKGROUP}u;
    let c = i / ${kvVpr}u; let e = i % ${kvVpr}u; let j = kt + c;
    var wk = vec4<u32>(0u); var wv = vec4<u32>(0u);${quant ? ' var zk = vec2<f32>(0.0); var zv = vec2<f32>(0.0);' : ''}
    if (i < TK * ${kvVpr}u && j < k1) {
      let page = u32(kv_indices[page_base + j / PS]);
      let row = kv_row(page, 0u, j % PS, hk) / ${epv}u + e;
      wk = pool[row];
      wv = pool[row + ${(p.pageSize * p.numKvHeads * p.headDim) / epv}u];${quant ? '\n      zk = kv_param(page, 0u, j % PS, hk); zv = kv_param(page, 1u, j % PS, hk);' : ''}
    }
    (*pk)[n] = wk;
    (*pv)[n] = wv;${quant ? '\n    (*sk)[n] = zk;\n    (*sv)[n] = zv;' : ''}
  }
}`;
}

/** The item's Q rows into `qs` (rows past r1 zero), the softmax state reset, the optional q transform. */
function stageQTile({ p, v, qVpr }: TiledShape): string {
  return `// stage the Q tile (rows past r1 are zero and masked below)
    for (var i = t; i < TQ * ${qVpr}u; i += ${WORKGROUP}u) {
      let lr = i / ${qVpr}u; let e = i % ${qVpr}u; let r = r0 + lr;
      var w = vec4<u32>(0u);
      if (r < r1) { w = q[((q_start + r / GRP) * HQ + hk * GRP + r % GRP) * ${qVpr}u + e]; }
      ${stageRow(p.qDtype, 'ldq', 'qs', 'lr * RS', 'e', 'w')}
    }
    if (t < TQ) { m_sh[t] = ${NEG}; l_sh[t] = 0.0; }
    workgroupBarrier();
    ${v.transform ? transformTile('qs', p.tileRows, p.headDim, 'kv_len - q_len + i32((r0 + row) / GRP)', false) : ''}`;
}

/** Registers → `ks`/`vs` for this tile, then the next tile's fetch, then the optional k transform. */
function stageKvTile({ p, v, kvVpr, nl }: TiledShape): string {
  return `// the tile fetched last iteration goes to workgroup memory; the next tile's loads are then issued, to land during this tile's math
      for (var n = 0u; n < ${nl}u; n++) {
        let i = t + n * ${WORKGROUP}u;
        if (i < TK * ${kvVpr}u) {
          let c = i / ${kvVpr}u; let e = i % ${kvVpr}u;
          ${stageKvRow(p.kvDtype, 'ks', 'c * RS', 'e', 'pk[n]', 'psk[n]')}
          ${stageKvRow(p.kvDtype, 'vs', 'c * RS', 'e', 'pv[n]', 'psv[n]')}
        }
      }
      workgroupBarrier();
      if (kt + TK < k1) { fetch_tile(kt + TK, k1, page_base, hk, t, &pk, &pv${isQuantKv(p.kvDtype) ? ', &psk, &psv' : ''}); }
      ${v.transform ? transformTile('ks', p.tileKeys, p.headDim, 'i32(kt + row)', true) : ''}`;
}

/** acc ← acc·alpha + P·V for the thread's vec4s of the row tile. */
function accumulatePv(): string {
  return `for (var k = 0u; k < L_OPT; k++) {
        let i = t + k * ${WORKGROUP}u;
        if (i < TQ * DV4) {
          let lr = i / DV4; let e = i % DV4;
          var a = acc[k] * a_sh[lr];
          for (var c = 0u; c < L_TK; c++) { a += ss[lr * TK + c] * vs[c * RS + e]; }
          acc[k] = a;
        }
      }
      workgroupBarrier();`;
}

/** Normalise by the row sums and store o with its base-2 LSE (final rows or a split's partial rows). */
function epilogue({ p, v }: TiledShape): string {
  return `for (var k = 0u; k < L_OPT; k++) {
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
    }`;
}

export function attentionWgsl(p: AttentionKernelParams): string {
  const s = tiledShape(p);
  return `${moduleDecls(s)}

${fetchTileFn(s)}

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let cta = wid.x;
  ${p.dynamicLoops ? 'let L_DV4 = uw(0u); let L_TK = uw(1u); let L_OPT = uw(2u);' : `let L_DV4 = DV4; let L_TK = TK; let L_OPT = ${s.opt}u;`}
  ${workItemLoop(p.grid, 'slot')}
    ${stageQTile(s)}
    var acc: array<vec4<f32>, ${s.opt}>;
    for (var k = 0u; k < L_OPT; k++) { acc[k] = vec4<f32>(0.0); }
    var pk: array<vec4<u32>, ${s.nl}>;
    var pv: array<vec4<u32>, ${s.nl}>;
    ${isQuantKv(p.kvDtype) ? `var psk: array<vec2<f32>, ${s.nl}>;\n    var psv: array<vec2<f32>, ${s.nl}>;\n    ` : ''}if (k0 < k1) { fetch_tile(k0, k1, page_base, hk, t, &pk, &pv${isQuantKv(p.kvDtype) ? ', &psk, &psv' : ''}); }
    for (var kt = k0; kt < k1; kt += TK) {
      ${stageKvTile(s)}
${tileScores(s.sgSoftmax, s.v.mask, s.v.logits)}      ${accumulatePv()}
    }
    ${epilogue(s)}
    workgroupBarrier();
  }
}`;
}

/** The merge pass of a split plan (split-merge-wgsl.ts) for these params. */
export function mergeWgsl(p: AttentionKernelParams, mergeGrid: number): string {
  const v = variantDecls(p);
  return mergeKernelWgsl({
    headDim: p.headDim,
    tileRows: p.tileRows,
    numQoHeads: p.numQoHeads,
    group: p.numQoHeads / p.numKvHeads,
    oDtype: p.oDtype,
    variantDecls: v.decls,
    output: v.output,
    taskOffset: mergeTaskOffset(p.grid, p.maxItems),
    unitOffset: mergeOffset(p.grid, p.maxItems),
    grid: mergeGrid,
  });
}
