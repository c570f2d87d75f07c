/**
 * Tensor-core prefill (attention-sgmat.ts), the result matrices: their declarations, their rounds
 * through the score rows (to be rescaled in check mode, or written out at the end of an item), and
 * the output epilogue.
 */
import { type SgmatCtx, perSgIn, r } from './sgmat-context.js';
import { storeVec4 } from './wgsl-kv.js';

/**
 * Result matrices pass through the score rows in rounds of two 16-column slots (columns 0-15 and
 * 16-31): with 16 rows a subgroup, dim blocks 2k and 2k+1 in round k; with 32, each subgroup of a
 * pair puts block k of its dim half in its slot, for both its row blocks.
 */
export function outputRounds(c: SgmatCtx) {
  const { pair, NCB, DB } = c;
  return r(pair ? NCB : Math.ceil(DB / 2)).map((k) => ({
    slots: pair ? 2 : Math.min(2, DB - 2 * k),
    db: pair ? `h * ${NCB}u + ${k}u` : `${2 * k}u + h`,
    // (matrix, row block, slot) of subgroup g
    mats: (g: number) =>
      pair
        ? c.rowBlocks(g).map((rb, i) => [`o${i}_${k}`, rb, g & 1] as const)
        : r(Math.min(2, DB - 2 * k)).map((s) => [`o0_${2 * k + s}`, g, s] as const),
  }));
}

type Round = ReturnType<typeof outputRounds>[number];

const oToShared = (c: SgmatCtx, rd: Round, gs = r(c.NSG)) =>
  perSgIn(c, gs, (g) =>
    rd
      .mats(g)
      .map(([m, rb, s]) => `        ${c.mo.store('ss', c.so(rb * 16 * c.LDS + 16 * s), m, c.LS)}`)
      .join('\n'),
  );

const oFromShared = (c: SgmatCtx, rd: Round, gs = r(c.NSG)) =>
  perSgIn(c, gs, (g) =>
    rd
      .mats(g)
      .map(
        ([m, rb, s]) => `        ${m} = ${c.mo.load('result', 'ss', c.so(rb * 16 * c.LDS + 16 * s), c.LS, false, m)};`,
      )
      .join('\n'),
  );

/** The result matrices of subgroups gs (lanes passing `lanes`) scaled by their rows' factors. */
export function rescaleOutput(c: SgmatCtx, gs: number[], lanes: string): string {
  const { V4, LS, LDS, TK } = c;
  return outputRounds(c)
    .map(
      (rd) => `      ${oToShared(c, rd, gs)}
      workgroupBarrier();
      if (h < ${rd.slots}u${lanes}) {
        ${
          V4
            ? `let a = ss[lr * ${LS}u + ${TK / 4}u].x;
        for (var k = 0u; k < 4u; k++) { ss[lr * ${LS}u + h * 4u + k] *= a; }`
            : `let a = ss[lr * ${LDS}u + ${TK}u];
        for (var c = 0u; c < 16u; c++) { ss[lr * ${LDS}u + h * 16u + c] *= a; }`
        }
      }
      workgroupBarrier();
      ${oFromShared(c, rd, gs)}
      workgroupBarrier();`,
    )
    .join('\n');
}

// one round of the output: normalised, through the variant's output hook, to o_out (or to the
// split's partial state when slot ≥ 0); the first round also writes the row's log-sum-exp
function outputRound(c: SgmatCtx, rd: Round, first: boolean): string {
  const { V4, LS, LDS, D, v } = c;
  return `    ${oToShared(c, rd)}
    workgroupBarrier();
    if (row_ok && h < ${rd.slots}u) {
      let db = ${rd.db};
${r(4)
  .map((k) =>
    V4
      ? `      var v${k} = ss[lr * ${LS}u + h * 4u + ${k}u] * inv;`
      : `      var v${k} = vec4<f32>(${r(4)
          .map((e) => `ss[lr * ${LDS}u + h * 16u + ${4 * k + e}u]`)
          .join(', ')}) * inv;`,
  )
  .join('\n')}
      if (slot < 0) {
${r(4)
  .map(
    (k) => `        ${v.output ? `for (var z = 0u; z < 4u; z++) { var o = v${k}[z]; ${v.output} v${k}[z] = o; }` : ''}
        ${storeVec4(c.p.oDtype, 'o_out', `orow * ${D}u + db * 16u + ${4 * k}u`, `v${k}`)}`,
  )
  .join('\n')}
        ${first ? 'if (h == 0u) { lse_out[orow] = lse; }' : ''}
      } else {
        let tr = u32(slot) + lr;
${r(4)
  .map((k) => `        tmp_o[tr * ${D / 4}u + db * 4u + ${k}u] = v${k};`)
  .join('\n')}
        ${first ? 'if (h == 0u) { tmp_lse[tr] = lse; }' : ''}
      }
    }
    workgroupBarrier();`;
}

/** Every round of the output epilogue. */
export const outputEpilogue = (c: SgmatCtx): string =>
  outputRounds(c)
    .map((rd, i) => outputRound(c, rd, i === 0))
    .join('\n');

/** Q rows (left) and the output (result) of this subgroup, kept for the whole item. */
export const itemMatrices = (c: SgmatCtx): string =>
  [
    ...r(c.NRQ).flatMap((i) => r(c.DB).map((db) => `  ${c.mo.declare(`q${i}_${db}`, 'left')}`)),
    ...r(c.NRB).flatMap((i) => r(c.NCB).map((j) => `  ${c.mo.declare(`o${i}_${j}`, 'result')}`)),
  ].join('\n');
