/**
 * The streaming attention template (decode's fast path; also any small row tile): no K/V staging.
 *
 * The tiled template (`attention-wgsl.ts`) stages each 32-key tile of K and V in workgroup memory as
 * f32 behind three barriers, which caps decode near 450 GB/s on an H100. Here a work item's keys
 * are dealt to "slots": a slot is LR lanes of one subgroup that together hold one K/V row (lane `lr`
 * owns the 16-byte words lr, lr+LR, …, so a load instruction of the LR lanes is contiguous). Each
 * lane keeps its words' dims of every row's query and output in registers, so K and V go from
 * global memory straight into registers, each byte read once for the whole GQA group. A key's score
 * is the lanes' partial dots summed by shuffles. With the row scatter (default where the rows fit
 * the slot's lanes) the partial dots of all rows are reduce-scattered, so lane lr ends with the
 * scores of row lr >> log2(LR/TQ) only, runs that row's softmax alone and hands the probabilities
 * and rescale factor to the slot by indexed shuffles; otherwise every lane reduces and softmaxes
 * every row. Each slot runs its own base-2 online softmax over its keys (U keys per step, all their
 * loads issued before the first use, so several rows per lane are in flight). At the end of the item
 * the slots' (m, l, acc) states merge: a subgroup's slots by shuffles, then the subgroups through
 * workgroup memory (StreamConfig.slotMerge, stream-config.ts; docs/attention-tuning.md has the measurements). Barriers: two per item by default (four or five with
 * the shared merge), none per key. Output and split semantics match the tiled template (final o/lse,
 * or partial rows for the merge pass).
 */
import { PACK_WGSL } from '../kernels/wgsl-dtype.js';
import type { DType } from '../tensor/dtype.js';
import { type AttentionKernelParams, maskBindings, variantDecls } from './attention-wgsl.js';
import { wgslF32 } from './variants.js';
import { kvRowDecls, kvUnpackDecls, streamElemsPerWord } from './kv-quant-wgsl.js';
import {
  NEG,
  NEG_INF_DECL,
  elemsPerVec,
  unpackFns,
  attentionBindingsWgsl,
  attentionStorageBindings,
  prefetchedItemLoop,
  workItemLoop,
} from './wgsl-kv.js';
import { WORKGROUP } from './tile-config.js';
import { STREAM_DEFAULTS, type StreamConfig } from './stream-config.js';
import { type StreamCtx, qi, quads, r, streamContext, streamGeometry } from './stream-context.js';
import { directStore, mergeStore, subgroupStore } from './stream-merge.js';
import { keyStep, loadStep } from './stream-step.js';

export { type StreamGeometry, streamGeometry } from './stream-context.js';

/** Floats of query (and of output accumulator) one lane may hold; more spills or starves occupancy. */
const MAX_LANE_FLOATS = 64;
/** Why the streaming template cannot run this kernel (then the tiled template does), or null. */
export function streamWhyUnsupported(
  p: AttentionKernelParams,
  caps: { subgroups: boolean; subgroupMinSize: number; subgroupMaxSize: number },
  cfg: StreamConfig = STREAM_DEFAULTS,
): string | null {
  if (cfg.disable) return 'disabled by the stream configuration';
  if (!caps.subgroups || caps.subgroupMinSize !== caps.subgroupMaxSize) return 'needs subgroups of one fixed size';
  const S = caps.subgroupMaxSize;
  if (!(S >= 4 && S <= WORKGROUP && WORKGROUP % S === 0)) return `subgroup size ${S}`;
  if (p.headDim % streamElemsPerWord(p.kvDtype) !== 0) return 'head dim not a whole number of words';
  // rotations pair dims d and d + D/2, which sit in other lanes here
  if (variantDecls(p).transform) return 'q/k transform variants use the tiled template';
  const g = streamGeometry(p, S);
  if (p.tileRows * g.NV * g.epv > MAX_LANE_FLOATS)
    return `${p.tileRows} rows × ${g.NV * g.epv} dims per lane is over the register budget`;
  return null;
}

/** vec4<f32> of q elements [elem, elem+4) of the row starting at word `base` (elem a multiple of 4). */
function qQuad(dtype: DType, base: string, elem: string): string {
  if (elemsPerVec(dtype) === 4) return `ldq_lo(q[${base} + (${elem}) / 4u])`;
  return `select(ldq_hi(q[${base} + (${elem}) / 8u]), ldq_lo(q[${base} + (${elem}) / 8u]), ((${elem}) & 4u) == 0u)`;
}

// enables, unpackers, bindings, constants and the merge's workgroup memory
function moduleDecls(ctx: StreamCtx, loop: ReturnType<typeof prefetchedItemLoop>): string {
  const { p, cfg, D, TQ, group, v, S, LR, NV, SLOTS, epv, U, DV4, perRound, scatter, NSG, NB, sgMerge, nr } = ctx;
  return `enable subgroups;
// attention (streaming): D=${D} TQ=${TQ} group=${group} S=${S} LR=${LR} NV=${NV} slots=${SLOTS} U=${U}${scatter ? ' row-scatter' : ''}${cfg.ablate ? ` ABLATED(${cfg.ablate}): wrong results` : ''}${nr ? ' next-record' : ''}${sgMerge ? ` subgroup-merge×${NB}` : ''}
${unpackFns('ldq', p.qDtype)}
${kvUnpackDecls(p)}
${PACK_WGSL}
${NEG_INF_DECL}
${ctx.word === 'vec4<u32>' ? attentionBindingsWgsl(p.compactBindings) : attentionBindingsWgsl(p.compactBindings).replace('pool: array<vec4<u32>>', `pool: array<${ctx.word}>`)}
${v.usesMask ? maskBindings(attentionStorageBindings(p.compactBindings)) : ''}
${v.decls}
${kvRowDecls(p.layout, p, ctx.word)}
const D = ${D}u;
const DV4 = ${DV4}u;
const TQ = ${TQ}u;
const GRP = ${group}u;
const HQ = ${p.numQoHeads}u;
const PS = ${p.pageSize}u;
const SCALE = ${wgslF32(p.scale)};
const LOG2E = 1.4426950408889634;
// words from a K row to its V row
const VOFF = ${(p.pageSize * p.numKvHeads * D) / epv}u;
${
  sgMerge
    ? `var<workgroup> sg_m: array<f32, ${NB * NSG * TQ}>;
var<workgroup> sg_l: array<f32, ${NB * NSG * TQ}>;
var<workgroup> sg_o: array<vec4<f32>, ${NB * NSG * TQ * DV4}>;`
    : `var<workgroup> red_m: array<f32, ${SLOTS * TQ}>;
var<workgroup> red_l: array<f32, ${SLOTS * TQ}>;
var<workgroup> red_o: array<vec4<f32>, ${perRound * TQ * DV4}>;`
}
${nr ? loop.decl : ''}
`;
}

// this lane's dims of every row's query, in registers for the whole item
function queryLoad(ctx: StreamCtx): string {
  const { p, TQ, LR, NV, epv, Q4, qVpr, ab } = ctx;
  return `    // this lane's dims of every row's query (rows past r1 are zero and masked)
    var qr: array<vec4<f32>, ${TQ * NV * Q4}>;
${r(TQ)
  .map(
    (row) => `    {
      let r = min(r0 + ${row}u, r1 - 1u);
      let base = ((q_start + r / GRP) * HQ + hk * GRP + r % GRP) * ${qVpr}u;
      let keep = r0 + ${row}u < r1;
${r(NV)
  .map((n) =>
    r(Q4)
      .map(
        (c) =>
          `      ${qi(ctx, row, n, c)} = select(vec4<f32>(0.0), ${ab.includes('query') ? `vec4<f32>(f32(base % 7u) * 0.01)` : qQuad(p.qDtype, 'base', `(lr + ${n * LR}u) * ${epv}u + ${4 * c}u`)}, keep);`,
      )
      .join('\n'),
  )
  .join('\n')}
    }`,
  )
  .join('\n')}
`;
}

// each slot's online-softmax state (m, l, acc), per row
function itemState(ctx: StreamCtx): string {
  const { TQ, NV, Q4, scatter, RSH } = ctx;
  return `    var m: array<f32, ${TQ}>;
    var l: array<f32, ${TQ}>;
    var acc: array<vec4<f32>, ${TQ * NV * Q4}>;
${r(TQ)
  .map((row) => `    m[${row}] = ${NEG}; l[${row}] = 0.0;`)
  .join('\n')}
    ${scatter ? `var m_own = ${NEG}; var l_own = 0.0; let rsrc = lane & ${~(((TQ - 1) << RSH) >>> 0) >>> 0}u;` : ''}
${r(TQ * NV * Q4)
  .map((i) => `    acc[${i}] = vec4<f32>(0.0);`)
  .join('\n')}
`;
}

// the item's keys, SLOTS·U a step; with the row scatter, each row's state back to every lane
function keyLoop(ctx: StreamCtx): string {
  const { TQ, NV, SLOTS, U, scatter, RSH, quant } = ctx;
  return `    var kw: array<${ctx.word}, ${U * NV}>;
    var vw: array<${ctx.word}, ${U * NV}>;
${
  quant
    ? `    var ksz: array<vec2<f32>, ${U}>;
    var vsz: array<vec2<f32>, ${U}>;
`
    : ''
}    for (var kt = k0; kt < k1; kt += ${SLOTS * U}u) {
      // every load of the step first, so U·NV K and V words per lane are in flight together${loadStep(ctx)}
${r(U)
  .map((u) =>
    r(NV)
      .map((n) =>
        quads(ctx, `vw[${u * NV + n}]`, `vsz[${u}]`)
          .map((x, c) => `      let vq${u}_${n}_${c} = ${x};`)
          .join('\n'),
      )
      .join('\n'),
  )
  .join('\n')}
${keyStep(ctx)}
    }
${
  scatter
    ? r(TQ)
        .map(
          (row) =>
            `    m[${row}] = subgroupShuffle(m_own, rsrc | ${row << RSH}u); l[${row}] = subgroupShuffle(l_own, rsrc | ${row << RSH}u);`,
        )
        .join('\n')
    : ''
}
`;
}

export function streamAttentionWgsl(
  p: AttentionKernelParams,
  subgroupSize: number,
  cfg: StreamConfig = STREAM_DEFAULTS,
): string {
  const ctx = streamContext(p, subgroupSize, cfg);
  const { S, LR, ab, sgMerge, NB, nr } = ctx;
  // the closing barrier: the next item rewrites what this one's merge reads, unless double-buffered
  const closeItem =
    sgMerge && NB === 2 && !ab.includes('merge')
      ? ''
      : `    // the merge's workgroup memory is read above; the next item rewrites it
    workgroupBarrier();`;
  const loop = prefetchedItemLoop(p.grid, 'out_slot');
  return `${moduleDecls(ctx, loop)}
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let cta = wid.x;
  // slot = (subgroup, row group within it); lanes of a slot are consecutive subgroup lanes
  let lane = t % ${S}u;
  let slot = (t / ${S}u) * ${S / LR}u + lane / ${LR}u;
  let lr = lane % ${LR}u;
  ${nr ? loop.open : workItemLoop(p.grid, 'out_slot')}
${queryLoad(ctx)}${itemState(ctx)}${keyLoop(ctx)}${ab.includes('merge') ? directStore(ctx) : sgMerge ? subgroupStore(ctx) : mergeStore(ctx)}
    ${nr ? loop.end : ''}
${closeItem}
  }
}`;
}
