/**
 * Streaming decode (attention-decode.ts), one step of a slot's keys: the K/V loads, the scores (every
 * lane every row, or the row scatter) and the online softmax into the accumulators.
 */
import { type StreamCtx, ai, qi, quads, r, shuffles } from './stream-context.js';
import { NEG } from './wgsl-kv.js';

/** Every load of the step, so U·NV K and V words per lane are in flight together. */
export function loadStep(ctx: StreamCtx): string {
  const { U, SLOTS, epv, NV, LR, ab, quant } = ctx;
  const pageOf = ab.includes('pages') ? 'page_base + j / PS' : 'u32(kv_indices[page_base + j / PS])';
  return r(U)
    .map(
      (u) => `
      {
        let j = kt + ${u * SLOTS}u + slot;
        if (j < k1) {
          let page = ${pageOf};
          let w0 = kv_row(page, 0u, j % PS, hk) / ${epv}u + lr;
${r(NV)
  .map((n) => `          kw[${u * NV + n}] = pool[w0 + ${n * LR}u]; vw[${u * NV + n}] = pool[w0 + ${n * LR}u + VOFF];`)
  .join(
    '\n',
  )}${quant ? `\n          ksz[${u}] = kv_param(page, 0u, j % PS, hk); vsz[${u}] = kv_param(page, 1u, j % PS, hk);` : ''}
        } else {${quant ? `\n          ksz[${u}] = vec2<f32>(0.0); vsz[${u}] = vec2<f32>(0.0);` : ''}
${r(NV)
  .map((n) => `          kw[${u * NV + n}] = ${ctx.word}(0u); vw[${u * NV + n}] = ${ctx.word}(0u);`)
  .join('\n')}
        }
      }`,
    )
    .join('');
}

// the raw dot `x` of key u of this step becomes a scaled base-2 logit, or NEG where masked
function scored(ctx: StreamCtx, x: string, u: number): string {
  const { v, SLOTS } = ctx;
  return `{
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
}

function scoreStep(ctx: StreamCtx): string {
  const { TQ, NV, U, Q4 } = ctx;
  return r(TQ)
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
    quads(ctx, `kw[${u * NV + n}]`, `ksz[${u}]`)
      .map((k, c) => `        s${u} += dot(${qi(ctx, row, n, c)}, ${k});`)
      .join('\n'),
  )
  .join('\n')}
        ${shuffles(ctx, `s${u}`)}
        ${scored(ctx, `s${u}`, u)}`,
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
          `        ${ai(ctx, row, n, c)} = ${ai(ctx, row, n, c)} * alpha + ${r(U)
            .map((u) => `p${u} * vq${u}_${n}_${c}`)
            .join(' + ')};`,
      )
      .join('\n'),
  )
  .join('\n')}
      }`,
    )
    .join('');
}

/**
 * Row scatter, the dots: every row's partial dots of this lane, reduce-scattered over the slot's
 * lanes so that lane lr ends with f_u, the full dots of row lr >> RSH only.
 */
function scatterReduce(ctx: StreamCtx): string {
  const { TQ, LR, NV, U, Q4, TB, RSH } = ctx;
  const lines: string[] = [];
  r(U).forEach((u) =>
    r(NV).forEach((n) =>
      quads(ctx, `kw[${u * NV + n}]`, `ksz[${u}]`).forEach((k, c) => lines.push(`      let kq${u}_${n}_${c} = ${k};`)),
    ),
  );
  r(TQ).forEach((row) =>
    r(U).forEach((u) =>
      lines.push(
        `      let d0_${row}_${u} = ${r(NV)
          .flatMap((n) => r(Q4).map((c) => `dot(${qi(ctx, row, n, c)}, kq${u}_${n}_${c})`))
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
  return lines.join('\n');
}

// row scatter (cfg.rowScatter): lane lr finishes row lr >> RSH, the top log2(TQ) bits of lr
function scatterStep(ctx: StreamCtx): string {
  const { TQ, NV, U, Q4, RSH } = ctx;
  return `
      {
${scatterReduce(ctx)}
        let r = r0 + (lr >> ${RSH}u);
        let qi = i32(r / GRP);
        let head = hk * GRP + r % GRP;
        let qpos = kv_len - q_len + qi;
${r(U)
  .map((u) => `        ${scored(ctx, `f${u}`, u)}`)
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
          `          ${ai(ctx, row, n, c)} = ${ai(ctx, row, n, c)} * a + ${r(U)
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
}

/** The step's scores, softmax and accumulation. */
export const keyStep = (ctx: StreamCtx): string => (ctx.scatter ? scatterStep(ctx) : scoreStep(ctx));
