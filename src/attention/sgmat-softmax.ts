/**
 * Tensor-core prefill (attention-sgmat.ts), softmax: two lanes per row, HK keys each. A lane reads
 * its raw scores, masks and scales them, keeps the row's running max (restart or check mode, see
 * rescaleMode) and sum, and writes its probabilities to ps as f16.
 */
import { type SgmatCtx, r } from './sgmat-context.js';
import { NEG } from './wgsl-kv.js';
import { wgslF32 } from './variants.js';

// this lane's HK raw scores: HK/4 vec4 reads, or HK scalar ones
const raw = (c: SgmatCtx, k: number) => (c.V4 ? `sv${k >> 2}[${k & 3}]` : `ss[sb + ${k}u]`);

const scored = (c: SgmatCtx, kx: string, k: number, test: string) => {
  const { v } = c;
  return `      { let j = ${kx} + h * ${c.HK}u + ${k}u; let kpos = i32(j);
        if (${test}) { var s = ${raw(c, k)} * ${c.scale}; ${v.logits ? `${v.logits} s = s * LOG2E;` : ''} s${k} = s; } }`;
};

const masked = (c: SgmatCtx, kx: string) =>
  r(c.HK)
    .map((k) => scored(c, kx, k, `row_ok && j < k1 && (${c.v.mask})`))
    .join('\n');

// rows past r1 score zero here (their Q is zero) and are never stored
const unmasked = (c: SgmatCtx, kx: string) =>
  r(c.HK)
    .map((k) => scored(c, kx, k, 'true'))
    .join('\n');

/** A balanced tree of `op` over xs (shorter dependency chains than a left fold). */
const tree = (xs: string[], op: (a: string, b: string) => string): string =>
  xs.length === 1
    ? xs[0]!
    : tree(
        r(Math.ceil(xs.length / 2)).map((i) =>
          xs[2 * i + 1] === undefined ? xs[2 * i]! : op(xs[2 * i]!, xs[2 * i + 1]!),
        ),
        op,
      );

const maxOf = (c: SgmatCtx, xs: string[]) =>
  c.fast
    ? `      mx = ${tree(xs, (a, b) => `max(${a}, ${b})`)};`
    : xs.map((x) => `      mx = max(mx, ${x});`).join('\n');

const full = (c: SgmatCtx, kx: string) => `${kx} + ${c.TK}u <= k_full`;

// the scores of a tile every row sees whole or not: fast (raw max, then scaled), unmasked, or masked
function scoreBranches(c: SgmatCtx, kx: string): string {
  const sNames = r(c.HK).map((k) => `s${k}`);
  if (c.fast)
    return `if (${full(c, kx)}) {
${r(c.HK)
  .map((k) => `        s${k} = ${raw(c, k)};`)
  .join('\n')}
  ${maxOf(c, sNames)}
        mx = mx * ${c.scale};
      } else {
${masked(c, kx)}
  ${maxOf(c, sNames)}
      }`;
  return `${
    c.interior
      ? `if (${full(c, kx)}) {
${unmasked(c, kx)}
      } else {
${masked(c, kx)}
      }`
      : masked(c, kx)
  }
${maxOf(c, sNames)}`;
}

function scores(c: SgmatCtx, kx: string): string {
  if (c.drop('softmax'))
    return r(c.HK)
      .map((k) => `      let s${k} = 0.0;`)
      .join('\n');
  return `${r(c.HK)
    .map((k) => `      var s${k} = ${NEG};`)
    .join('\n')}
${
  c.V4
    ? r(c.HK / 4)
        .map((k) => `      let sv${k} = ss[sb + ${k}u];`)
        .join('\n')
    : ''
}
      ${scoreBranches(c, kx)}`;
}

const ex = (c: SgmatCtx, k: number) => (k < c.PE ? 'exp2_fma' : 'exp2');

function probs(c: SgmatCtx, kx: string): string {
  if (!c.fast)
    return r(c.HK)
      .map((k) =>
        c.drop('softmax')
          ? `      let p${k} = s${k};`
          : `      let p${k} = select(0.0, ${ex(c, k)}(s${k} - m_run), s${k} > ${NEG});`,
      )
      .join('\n');
  return `${r(c.HK)
    .map((k) => `      var p${k}: f32;`)
    .join('\n')}
      if (${full(c, kx)}) {
        let nm = -m_run;
${r(c.HK)
  .map((k) => `        p${k} = ${ex(c, k)}(fma(s${k}, ${c.scale}, nm));`)
  .join('\n')}
      } else {
${r(c.HK)
  .map((k) => `        p${k} = select(0.0, ${ex(c, k)}(s${k} - m_run), s${k} > ${NEG});`)
  .join('\n')}
      }`;
}

const pSum = (c: SgmatCtx) =>
  c.fast
    ? tree(
        r(c.HK).map((k) => `p${k}`),
        (a, b) => `(${a} + ${b})`,
      )
    : r(c.HK)
        .map((k) => `p${k}`)
        .join(' + ');

const packP = (c: SgmatCtx) =>
  r(c.HK / 8)
    .map(
      (w) =>
        `      ps[lr * ${c.LDP}u + h * ${c.HK / 8}u + ${w}u] = vec4<u32>(${r(4)
          .map((k) => `pack2x16float(vec2<f32>(p${8 * w + 2 * k}, p${8 * w + 2 * k + 1}))`)
          .join(', ')});`,
    )
    .join('\n');

/**
 * This lane's half row of the tile at kx: scores → running max (in check mode a rise past the
 * threshold sets `flag` and the factor goes to the row's spare score column; in restart mode a climb
 * past the reference sets `restart`) → probabilities in ps.
 */
export function softmaxStep(c: SgmatCtx, kx: string, flag: string): string {
  if (c.restart)
    return `      var mx = ${NEG};
${scores(c, kx)}
      mx = max(mx, subgroupShuffleXor(mx, 1u));
      m_seen = max(m_seen, mx);
      if (m_run == ${NEG}) { if (mx > ${NEG}) { m_run = mx + ${wgslF32(c.HR)}; } } else if (mx > m_run + ${wgslF32(c.RT)}) { restart = 1u; }
${probs(c, kx)}
      l_run += ${pSum(c)};
${packP(c)}`;
  return `      var mx = ${NEG};
${scores(c, kx)}
      mx = max(mx, subgroupShuffleXor(mx, 1u));
      var alpha = 1.0;
      if (mx > m_run + ${wgslF32(c.TH)}) {
        if (m_run > ${NEG}) { alpha = exp2(m_run - mx); ${flag} = 1u; }
        m_run = mx;
      }
${probs(c, kx)}
      l_run = l_run * alpha + ${pSum(c)};
${packP(c)}
      if (h == 0u) { ${c.V4 ? `ss[lr * ${c.LS}u + ${c.TK / 4}u].x = alpha;` : `ss[lr * ${c.LDS}u + ${c.TK}u] = alpha;`} }`;
}
