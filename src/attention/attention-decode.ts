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
import {
  NEG,
  NEG_INF,
  NEG_INF_DECL,
  elemsPerVec,
  kvRowFn,
  storeOutputVec4,
  unpackFns,
  ATTENTION_BINDINGS_WGSL,
  prefetchedItemLoop,
  workItemLoop,
} from './wgsl-kv.js';
import { WORKGROUP } from './tile-config.js';
import { STREAM_DEFAULTS, type StreamConfig } from './stream-config.js';

/** Floats of query (and of output accumulator) one lane may hold; more spills or starves occupancy. */
const MAX_LANE_FLOATS = 64;
/** Workgroup bytes for the end-of-item merge of the slots' accumulators (merged in rounds if more). */
const MERGE_BYTES = 16384;
/** Workgroup bytes the subgroup slot merge may take (both item-parity buffers); over it, one buffer or the shared merge. */
const SG_MERGE_BYTES = 24576;

export interface StreamGeometry {
  /** Subgroup size (fixed on the device). */
  readonly S: number;
  /** 16-byte words of one K/V row. */
  readonly L: number;
  /** Lanes per row (a power of two dividing L and S). */
  readonly LR: number;
  /** Words per lane per row. */
  readonly NV: number;
  /** Slots in the workgroup (rows in flight per step and U). */
  readonly slots: number;
  /** Elements per 16-byte word of the pool. */
  readonly epv: number;
}

export function streamGeometry(
  p: Pick<AttentionKernelParams, 'headDim' | 'kvDtype'>,
  subgroupSize: number,
): StreamGeometry {
  const epv = elemsPerVec(p.kvDtype);
  const L = p.headDim / epv;
  let LR = 1;
  while (LR * 2 <= Math.min(L, subgroupSize) && L % (LR * 2) === 0) LR *= 2;
  return { S: subgroupSize, L, LR, NV: L / LR, slots: (WORKGROUP / subgroupSize) * (subgroupSize / LR), epv };
}

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
  if (p.headDim % elemsPerVec(p.kvDtype) !== 0) return 'head dim not a whole number of 16-byte words';
  // rotations pair dims d and d + D/2, which sit in other lanes here
  if (variantDecls(p).transform) return 'q/k transform variants use the tiled template';
  const g = streamGeometry(p, S);
  if (p.tileRows * g.NV * g.epv > MAX_LANE_FLOATS)
    return `${p.tileRows} rows × ${g.NV * g.epv} dims per lane is over the register budget`;
  return null;
}

const r = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/** vec4<f32> of q elements [elem, elem+4) of the row starting at word `base` (elem a multiple of 4). */
function qQuad(dtype: DType, base: string, elem: string): string {
  if (elemsPerVec(dtype) === 4) return `ldq_lo(q[${base} + (${elem}) / 4u])`;
  return `select(ldq_hi(q[${base} + (${elem}) / 8u]), ldq_lo(q[${base} + (${elem}) / 8u]), ((${elem}) & 4u) == 0u)`;
}

export function streamAttentionWgsl(
  p: AttentionKernelParams,
  subgroupSize: number,
  cfg: StreamConfig = STREAM_DEFAULTS,
): string {
  const D = p.headDim;
  const TQ = p.tileRows;
  const group = p.numQoHeads / p.numKvHeads;
  const v = variantDecls(p);
  const g = streamGeometry(p, subgroupSize);
  const { S, LR, NV, slots: SLOTS, epv } = g;
  const U = cfg.keysPerSlot;
  const Q4 = epv / 4; // vec4<f32> per word
  const qVpr = D / elemsPerVec(p.qDtype);
  const DV4 = D / 4;
  // slots merged per round so the merge buffer stays within MERGE_BYTES
  let perRound = SLOTS;
  while (perRound > 1 && perRound * TQ * D * 4 > MERGE_BYTES) perRound /= 2;
  const rounds = SLOTS / perRound;
  const outPerThread = Math.ceil((TQ * DV4) / WORKGROUP);
  const lo = (w: string) => `ldkv_lo(${w})`;
  const hi = (w: string) => `ldkv_hi(${w})`;
  // the quads of word w: f32 pools give one, 16-bit pools two
  const quads = (w: string): string[] => (Q4 === 1 ? [lo(w)] : [lo(w), hi(w)]);
  const qi = (row: number, n: number, c: number) => `qr[${(row * NV + n) * Q4 + c}]`;
  const ai = (row: number, n: number, c: number) => `acc[${(row * NV + n) * Q4 + c}]`;
  const shuffles = (x: string): string =>
    r(Math.log2(LR))
      .map((i) => `${x} += subgroupShuffleXor(${x}, ${LR >> (i + 1)}u);`)
      .join(' ');

  const ab = cfg.ablate.split('+');
  const pageOf = ab.includes('pages') ? 'page_base + j / PS' : 'u32(kv_indices[page_base + j / PS])';
  const loadStep = r(U)
    .map(
      (u) => `
      {
        let j = kt + ${u * SLOTS}u + slot;
        if (j < k1) {
          let page = ${pageOf};
          let w0 = kv_row(page, 0u, j % PS, hk) / ${epv}u + lr;
${r(NV)
  .map((n) => `          kw[${u * NV + n}] = pool[w0 + ${n * LR}u]; vw[${u * NV + n}] = pool[w0 + ${n * LR}u + VOFF];`)
  .join('\n')}
        } else {
${r(NV)
  .map((n) => `          kw[${u * NV + n}] = vec4<u32>(0u); vw[${u * NV + n}] = vec4<u32>(0u);`)
  .join('\n')}
        }
      }`,
    )
    .join('');

  // the raw dot `x` of key u of this step becomes a scaled base-2 logit, or NEG where masked
  const scored = (x: string, u: number) => `{
          let j = kt + ${u * SLOTS}u + slot;
          let kpos = i32(j);
          var s = ${x} * SCALE;
          if (r < r1 && j < k1 && (${v.mask})) {
            ${v.logits}
            s = s * LOG2E;
          } else {
            s = ${NEG};
          }
          ${x} = s;
        }`;
  const scoreStep = (): string =>
    r(TQ)
      .map(
        (row) => `
      {
        let r = r0 + ${row}u;
        let qi = i32(r / GRP);
        let head = hk * GRP + r % GRP;
        let qpos = kv_len - q_len + qi;
${r(U)
  .map(
    (u) => `        var s${u} = 0.0;
${r(NV)
  .map((n) =>
    quads(`kw[${u * NV + n}]`)
      .map((k, c) => `        s${u} += dot(${qi(row, n, c)}, ${k});`)
      .join('\n'),
  )
  .join('\n')}
        ${shuffles(`s${u}`)}
        ${scored(`s${u}`, u)}`,
  )
  .join('\n')}
        let mx = max(m[${row}], ${
          U === 1
            ? 's0'
            : r(U)
                .map((u) => `s${u}`)
                .reduce((a, b) => `max(${a}, ${b})`)
        });
        var alpha = 1.0;
        if (mx > ${NEG}) { alpha = exp2(m[${row}] - mx); }
${r(U)
  .map((u) => `        var p${u} = 0.0; if (s${u} > ${NEG}) { p${u} = exp2(s${u} - mx); }`)
  .join('\n')}
        m[${row}] = mx;
        l[${row}] = l[${row}] * alpha + ${r(U)
          .map((u) => `p${u}`)
          .join(' + ')};
${r(NV)
  .map((n) =>
    r(Q4)
      .map(
        (c) =>
          `        ${ai(row, n, c)} = ${ai(row, n, c)} * alpha + ${r(U)
            .map((u) => `p${u} * vq${u}_${n}_${c}`)
            .join(' + ')};`,
      )
      .join('\n'),
  )
  .join('\n')}
      }`,
      )
      .join('');

  // row scatter (cfg.rowScatter): lane lr finishes row lr >> RSH, the top log2(TQ) bits of lr
  const scatter = cfg.rowScatter && TQ <= LR && (TQ & (TQ - 1)) === 0;
  const TB = Math.log2(TQ);
  const RSH = Math.log2(LR) - TB;
  const scatterStep = (): string => {
    const lines: string[] = [];
    r(U).forEach((u) =>
      r(NV).forEach((n) =>
        quads(`kw[${u * NV + n}]`).forEach((k, c) => lines.push(`      let kq${u}_${n}_${c} = ${k};`)),
      ),
    );
    r(TQ).forEach((row) =>
      r(U).forEach((u) =>
        lines.push(
          `      let d0_${row}_${u} = ${r(NV)
            .flatMap((n) => r(Q4).map((c) => `dot(${qi(row, n, c)}, kq${u}_${n}_${c})`))
            .join(' + ')};`,
        ),
      ),
    );
    // level i halves the rows a lane carries: it keeps the half its bit (LR >> (i + 1)) selects, the partner sends it
    for (let i = 0; i < TB; i++) {
      const n = TQ >> i;
      const bit = `hb${i}`;
      lines.push(`      let ${bit} = (lr & ${LR >> (i + 1)}u) != 0u;`);
      for (let a = 0; a < n / 2; a++) {
        for (const u of r(U)) {
          const lo = `d${i}_${a}_${u}`;
          const hi = `d${i}_${a + n / 2}_${u}`;
          lines.push(
            `      let d${i + 1}_${a}_${u} = select(${lo}, ${hi}, ${bit}) + subgroupShuffleXor(select(${hi}, ${lo}, ${bit}), ${LR >> (i + 1)}u);`,
          );
        }
      }
    }
    r(U).forEach((u) =>
      lines.push(
        `      var f${u} = d${TB}_0_${u}; ${r(RSH)
          .map((k) => `f${u} += subgroupShuffleXor(f${u}, ${1 << (RSH - 1 - k)}u);`)
          .join(' ')}`,
      ),
    );
    return `
      {
${lines.join('\n')}
        let r = r0 + (lr >> ${RSH}u);
        let qi = i32(r / GRP);
        let head = hk * GRP + r % GRP;
        let qpos = kv_len - q_len + qi;
${r(U)
  .map((u) => `        ${scored(`f${u}`, u)}`)
  .join('\n')}
        let mx = max(m_own, ${
          U === 1
            ? 'f0'
            : r(U)
                .map((u) => `f${u}`)
                .reduce((a, b) => `max(${a}, ${b})`)
        });
        var alpha = 1.0;
        if (mx > ${NEG}) { alpha = exp2(m_own - mx); }
${r(U)
  .map((u) => `        var p${u} = 0.0; if (f${u} > ${NEG}) { p${u} = exp2(f${u} - mx); }`)
  .join('\n')}
        m_own = mx;
        l_own = l_own * alpha + ${r(U)
          .map((u) => `p${u}`)
          .join(' + ')};
${r(TQ)
  .map(
    (row) => `        {
          let a = subgroupShuffle(alpha, rsrc | ${row << RSH}u);
${r(U)
  .map((u) => `          let pg${u} = subgroupShuffle(p${u}, rsrc | ${row << RSH}u);`)
  .join('\n')}
${r(NV)
  .map((n) =>
    r(Q4)
      .map(
        (c) =>
          `          ${ai(row, n, c)} = ${ai(row, n, c)} * a + ${r(U)
            .map((u) => `pg${u} * vq${u}_${n}_${c}`)
            .join(' + ')};`,
      )
      .join('\n'),
  )
  .join('\n')}
        }`,
  )
  .join('\n')}
      }`;
  };
  const step = scatter ? scatterStep() : scoreStep();

  // the end of an item: invocation t finishes output words t, t + WG, …; `combine(k)` leaves the
  // row's merged sum in `a`, its max in `mx` and its softmax denominator in `lsum`
  const finishRows = (combine: (k: number) => string): string =>
    r(outPerThread)
      .map(
        (k) => `    {
      let i = t + ${k * WORKGROUP}u;
      let lrow = i / DV4; let e = i % DV4; let r = r0 + lrow;
      if (i < TQ * DV4 && r < r1) {
        ${combine(k)}
        var inv = 0.0;
        var lse = ${NEG_INF};
        if (lsum > 0.0) { inv = 1.0 / lsum; lse = mx + log2(lsum); }
        let val = a * inv;
        let head = hk * GRP + r % GRP;
        let orow = (q_start + r / GRP) * HQ + head;
        ${storeOutputVec4(p.oDtype, v.output, 'out_slot', 'lrow')}
      }
    }`,
      )
      .join('\n');
  // merge the slots: global row max, each slot's share rescaled, then summed in rounds
  const mergeStore = (): string => `    if (lr == 0u) {
${r(TQ)
  .map((row) => `      red_m[slot * TQ + ${row}u] = m[${row}]; red_l[slot * TQ + ${row}u] = l[${row}];`)
  .join('\n')}
    }
    workgroupBarrier();
    var scale_r: array<f32, ${TQ}>;
${r(TQ)
  .map(
    (row) => `    {
      var mx = ${NEG};
      for (var s = 0u; s < ${SLOTS}u; s++) { mx = max(mx, red_m[s * TQ + ${row}u]); }
      var sc = 0.0;
      if (m[${row}] > ${NEG}) { sc = exp2(m[${row}] - mx); }
      scale_r[${row}] = sc;
    }`,
  )
  .join('\n')}
    var outv: array<vec4<f32>, ${outPerThread}>;
${r(outPerThread)
  .map((k) => `    outv[${k}] = vec4<f32>(0.0);`)
  .join('\n')}
    for (var round = 0u; round < ${rounds}u; round++) {
      if (slot / ${perRound}u == round) {
        let rs = slot % ${perRound}u;
${r(TQ)
  .map((row) =>
    r(NV)
      .map((n) =>
        r(Q4)
          .map(
            (c) =>
              `        red_o[(rs * TQ + ${row}u) * DV4 + (lr + ${n * LR}u) * ${Q4}u + ${c}u] = ${ai(row, n, c)} * scale_r[${row}];`,
          )
          .join('\n'),
      )
      .join('\n'),
  )
  .join('\n')}
      }
      workgroupBarrier();
${r(outPerThread)
  .map(
    (k) => `      {
        let i = t + ${k * WORKGROUP}u;
        if (i < TQ * DV4) {
          var a = outv[${k}];
          for (var s = 0u; s < ${perRound}u; s++) { a += red_o[s * TQ * DV4 + i]; }
          outv[${k}] = a;
        }
      }`,
  )
  .join('\n')}
      workgroupBarrier();
    }
${finishRows(
  (k) => `var a = outv[${k}];
        var mx = ${NEG};
        for (var s = 0u; s < ${SLOTS}u; s++) { mx = max(mx, red_m[s * TQ + lrow]); }
        var lsum = 0.0;
        if (mx > ${NEG}) {
          for (var s = 0u; s < ${SLOTS}u; s++) {
            let ms = red_m[s * TQ + lrow];
            if (ms > ${NEG}) { lsum += red_l[s * TQ + lrow] * exp2(ms - mx); }
          }
        }`,
)}`;
  // subgroup slot merge: shuffle levels LR, 2LR, … S/2, then NSG subgroup states in workgroup memory
  const NSG = WORKGROUP / S;
  const levels = r(Math.log2(S / LR)).map((i) => LR << i);
  const sgBytes = NSG * TQ * (D * 4 + 8);
  const NB = 2 * sgBytes <= SG_MERGE_BYTES ? 2 : 1;
  const sgMerge = cfg.slotMerge === 'subgroup' && sgBytes <= SG_MERGE_BYTES;
  const xor = (x: string) => levels.map((k) => `${x} += subgroupShuffleXor(${x}, ${k}u);`).join(' ');
  const subgroupStore = (): string => `    let mb = ${NB === 2 ? `(u32(it) & 1u) * ${NSG * TQ}u` : '0u'};
    {
      let sgi = t / ${S}u;
${r(TQ)
  .map(
    (row) => `      {
        var mx = m[${row}]; ${levels.map((k) => `mx = max(mx, subgroupShuffleXor(mx, ${k}u));`).join(' ')}
        var sc = 0.0;
        if (m[${row}] > ${NEG}) { sc = exp2(m[${row}] - mx); }
        var ls = l[${row}] * sc; ${xor('ls')}
${r(NV)
  .map((n) =>
    r(Q4)
      .map(
        (c) =>
          `        { var a = ${ai(row, n, c)} * sc; ${xor('a')} if (lane < ${LR}u) { sg_o[(mb + sgi * TQ + ${row}u) * DV4 + (lr + ${n * LR}u) * ${Q4}u + ${c}u] = a; } }`,
      )
      .join('\n'),
  )
  .join('\n')}
        if (lane == 0u) { sg_m[mb + sgi * TQ + ${row}u] = mx; sg_l[mb + sgi * TQ + ${row}u] = ls; }
      }`,
  )
  .join('\n')}
    }
    workgroupBarrier();
${finishRows(
  () => `var mx = ${NEG};
        for (var s = 0u; s < ${NSG}u; s++) { mx = max(mx, sg_m[mb + s * TQ + lrow]); }
        var lsum = 0.0;
        var a = vec4<f32>(0.0);
        if (mx > ${NEG}) {
          for (var s = 0u; s < ${NSG}u; s++) {
            let ms = sg_m[mb + s * TQ + lrow];
            if (ms > ${NEG}) { let w = exp2(ms - mx); lsum += sg_l[mb + s * TQ + lrow] * w; a += sg_o[(mb + s * TQ + lrow) * DV4 + e] * w; }
          }
        }`,
)}`;
  // the closing barrier: the next item rewrites what this one's merge reads, unless double-buffered
  const closeItem =
    sgMerge && NB === 2 && !ab.includes('merge')
      ? ''
      : `    // the merge's workgroup memory is read above; the next item rewrites it
    workgroupBarrier();`;
  // ablate=merge: each thread stores one accumulator word as if it were merged (timing only)
  const directStore = (): string =>
    finishRows((k) => `let a = acc[${k % (TQ * NV * Q4)}]; let mx = m[0]; let lsum = max(l[0], 1.0);`);
  const nr = cfg.nextRecord;
  const loop = prefetchedItemLoop(p.grid, 'out_slot');
  return `enable subgroups;
// attention (streaming): D=${D} TQ=${TQ} group=${group} S=${S} LR=${LR} NV=${NV} slots=${SLOTS} U=${U}${scatter ? ' row-scatter' : ''}${cfg.ablate ? ` ABLATED(${cfg.ablate}): wrong results` : ''}${nr ? ' next-record' : ''}${sgMerge ? ` subgroup-merge×${NB}` : ''}
${unpackFns('ldq', p.qDtype)}
${unpackFns('ldkv', p.kvDtype)}
${PACK_WGSL}
${NEG_INF_DECL}
${ATTENTION_BINDINGS_WGSL}
${v.usesMask ? maskBindings(11) : ''}
${v.decls}
${kvRowFn(p.layout, p.pageSize, p.numKvHeads, D)}
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

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let cta = wid.x;
  // slot = (subgroup, row group within it); lanes of a slot are consecutive subgroup lanes
  let lane = t % ${S}u;
  let slot = (t / ${S}u) * ${S / LR}u + lane / ${LR}u;
  let lr = lane % ${LR}u;
  ${nr ? loop.open : workItemLoop(p.grid, 'out_slot')}
    // this lane's dims of every row's query (rows past r1 are zero and masked)
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
          `      ${qi(row, n, c)} = select(vec4<f32>(0.0), ${ab.includes('query') ? `vec4<f32>(f32(base % 7u) * 0.01)` : qQuad(p.qDtype, 'base', `(lr + ${n * LR}u) * ${epv}u + ${4 * c}u`)}, keep);`,
      )
      .join('\n'),
  )
  .join('\n')}
    }`,
  )
  .join('\n')}
    var m: array<f32, ${TQ}>;
    var l: array<f32, ${TQ}>;
    var acc: array<vec4<f32>, ${TQ * NV * Q4}>;
${r(TQ)
  .map((row) => `    m[${row}] = ${NEG}; l[${row}] = 0.0;`)
  .join('\n')}
    ${scatter ? `var m_own = ${NEG}; var l_own = 0.0; let rsrc = lane & ${~(((TQ - 1) << RSH) >>> 0) >>> 0}u;` : ''}
${r(TQ * NV * Q4)
  .map((i) => `    acc[${i}] = vec4<f32>(0.0);`)
  .join('\n')}
    var kw: array<vec4<u32>, ${U * NV}>;
    var vw: array<vec4<u32>, ${U * NV}>;
    for (var kt = k0; kt < k1; kt += ${SLOTS * U}u) {
      // every load of the step first, so U·NV K and V words per lane are in flight together${loadStep}
${r(U)
  .map((u) =>
    r(NV)
      .map((n) =>
        quads(`vw[${u * NV + n}]`)
          .map((x, c) => `      let vq${u}_${n}_${c} = ${x};`)
          .join('\n'),
      )
      .join('\n'),
  )
  .join('\n')}
${step}
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
${ab.includes('merge') ? directStore() : sgMerge ? subgroupStore() : mergeStore()}
    ${nr ? loop.end : ''}
${closeItem}
  }
}`;
}
