/**
 * Streaming decode (attention-decode.ts), the end of an item: the slots' (m, l, acc) states merged
 * (a subgroup's slots by shuffles, then the subgroups through workgroup memory; or all slots through
 * workgroup memory) and the rows written out.
 */
import { type StreamCtx, ai, r, xor } from './stream-context.js';
import { WORKGROUP } from './tile-config.js';
import { NEG, NEG_INF, storeOutputVec4 } from './wgsl-kv.js';

// the end of an item: invocation t finishes output words t, t + WG, …; `combine(k)` leaves the
// row's merged sum in `a`, its max in `mx` and its softmax denominator in `lsum`
function finishRows(ctx: StreamCtx, combine: (k: number) => string): string {
  const { p, v, outPerThread } = ctx;
  return r(outPerThread)
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
}

// merge the slots: global row max, each slot's share rescaled, then summed in rounds
export function mergeStore(ctx: StreamCtx): string {
  const { TQ, LR, NV, SLOTS, Q4, perRound, rounds, outPerThread } = ctx;
  return `    if (lr == 0u) {
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
              `        red_o[(rs * TQ + ${row}u) * DV4 + (lr + ${n * LR}u) * ${Q4}u + ${c}u] = ${ai(ctx, row, n, c)} * scale_r[${row}];`,
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
  ctx,
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
}

// subgroup slot merge: shuffle levels LR, 2LR, … S/2, then NSG subgroup states in workgroup memory
export function subgroupStore(ctx: StreamCtx): string {
  const { TQ, S, LR, NV, Q4, NSG, levels, NB } = ctx;
  return `    let mb = ${NB === 2 ? `(u32(it) & 1u) * ${NSG * TQ}u` : '0u'};
    {
      let sgi = t / ${S}u;
${r(TQ)
  .map(
    (row) => `      {
        var mx = m[${row}]; ${levels.map((k) => `mx = max(mx, subgroupShuffleXor(mx, ${k}u));`).join(' ')}
        var sc = 0.0;
        if (m[${row}] > ${NEG}) { sc = exp2(m[${row}] - mx); }
        var ls = l[${row}] * sc; ${xor(ctx, 'ls')}
${r(NV)
  .map((n) =>
    r(Q4)
      .map(
        (c) =>
          `        { var a = ${ai(ctx, row, n, c)} * sc; ${xor(ctx, 'a')} if (lane < ${LR}u) { sg_o[(mb + sgi * TQ + ${row}u) * DV4 + (lr + ${n * LR}u) * ${Q4}u + ${c}u] = a; } }`,
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
  ctx,
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
}

// ablate=merge: each thread stores one accumulator word as if it were merged (timing only)
export function directStore(ctx: StreamCtx): string {
  const { TQ, NV, Q4 } = ctx;
  return finishRows(ctx, (k) => `let a = acc[${k % (TQ * NV * Q4)}]; let mx = m[0]; let lsum = max(l[0], 1.0);`);
}
