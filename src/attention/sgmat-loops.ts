/**
 * Tensor-core prefill (attention-sgmat.ts), the K/V loop: both halves in step (two barriers a
 * tile), or the shipped ping-pong, whose halves run a phase apart (see pingPong in
 * docs/attention-tuning.md).
 */
import { type SgmatCtx, halfSubgroups, r } from './sgmat-context.js';
import { fetchTile, stageTile, transformRows } from './sgmat-load.js';
import { pvHalf, pvPhase, qkPhase, qkPvHalf, qkPvPhase } from './sgmat-mma.js';
import { rescaleOutput } from './sgmat-output.js';
import { softmaxStep } from './sgmat-softmax.js';

/**
 * The K/V loop, both halves in step: Q·Kᵀ | stage, softmax | P·V, fetch (two barriers a tile). The
 * fetch and stage placements that the knobs move stay in one piece, in the order they run.
 */
export function stepLoop(c: SgmatCtx): string {
  const { TK, VOFF, lateV, early, defer, beforePv, v } = c;
  const pv = pvPhase(c);
  return `    for (var kt = k0; kt < k1; kt += ${TK}u) {
    ${defer ? qkPvPhase(c) : qkPhase(c)}
      workgroupBarrier();
      // every read of K and V of the previous phase is done: stage this tile's V and the next tile's K
${stageTile(c, 'rv', VOFF)}
      if (kt + ${TK}u < k1) {
${stageTile(c, 'rk', 0)}
${lateV ? '' : fetchTile(c, 'rv', 1, `kt + ${TK}u`)}
      }
      ${
        early
          ? `if (kt + ${2 * TK}u < k1) {
${fetchTile(c, 'rk', 0, `kt + ${2 * TK}u`)}
      }`
          : ''
      }
      ${v.transform ? `workgroupBarrier();\n      if (kt + ${TK}u < k1) { ${transformRows(c, TK, '0u', `i32(kt + ${TK}u + row)`, true)} }` : ''}
${softmaxStep(c, 'kt', 'resc')}
      ${
        c.drop('barrier')
          ? ''
          : `if (workgroupUniformLoad(&resc) != 0u) {
${rescaleOutput(c, r(c.NSG), '')}
      }`
      }
      if (t == 0u) { resc = 0u; }
    ${defer || beforePv ? '' : pv}
      ${
        lateV
          ? `if (kt + ${TK}u < k1) {
${fetchTile(c, 'rv', 1, `kt + ${TK}u`)}
      }`
          : ''
      }
      ${
        early
          ? ''
          : `if (kt + ${2 * TK}u < k1) {
${fetchTile(c, 'rk', 0, `kt + ${2 * TK}u`)}
      }`
      }
    ${beforePv ? pv : ''}
    }
    ${
      defer
        ? `// the last tile's P·V (its P and V were made visible by the loop's last barrier)
    ${pv}`
        : ''
    }`;
}

// after half G's softmax: the barrier, and in check mode the rescale of that half's output if flagged
function rescaleIf(c: SgmatCtx, G: number, flag: string): string {
  if (c.drop('barrier')) return '';
  if (c.restart || c.drop('uload')) return 'workgroupBarrier();';
  if (c.drop('uload2')) return 'workgroupBarrier();\n      workgroupBarrier();';
  if (c.drop('ucheap')) return `if (workgroupUniformLoad(&${flag}) != 0u) { if (t == 0u) { ${flag} = 0u; } }`;
  return `if (workgroupUniformLoad(&${flag}) != 0u) {
${rescaleOutput(c, halfSubgroups(c, G), ` && (sg < ${c.HALF}u) == ${G === 0}`)}
      }
      if (t == 0u) { ${flag} = 0u; }`;
}

const nextT = (body: string) => `if (m + 1u < n_t) {\n${body}\n      }`;

// this tile's V and the next K fetched; A multiplies while B makes the previous tile's P
const phaseA = (c: SgmatCtx) => `      // this tile's V and the next K, in flight through the first phase (see pingPong)
${fetchTile(c, 'rv', 1, 'kt')}
      ${nextT(fetchTile(c, 'rk', 0, 'kn'))}
      // A multiplies (P·V of the previous tile, Q·Kᵀ of this one) while B makes the previous tile's P
      if (sg < ${c.HALF}u) {
    ${qkPvHalf(c, 0)}
      } else {
        if (m > 0u) {
${softmaxStep(c, 'kp', 'resc_b')}
        }
      }`;

const phaseB = (c: SgmatCtx) => `      // and the other way round
      if (sg >= ${c.HALF}u) {
    ${qkPvHalf(c, 1)}
      } else {
${softmaxStep(c, 'kt', 'resc')}
      }`;

const phaseC = (
  c: SgmatCtx,
) => `      // every read of this tile's K and the previous tile's V is done: stage the ones fetched at the top
${stageTile(c, 'rv', c.VOFF)}
      ${nextT(stageTile(c, 'rk', 0))}
      ${c.drop('gbar') ? '' : 'workgroupBarrier();'}
      ${c.v.transform ? `if (m + 1u < n_t) { ${transformRows(c, c.TK, '0u', 'i32(kn + row)', true)} }\n      workgroupBarrier();` : ''}`;

/** The K/V loop in ping-pong: half A = subgroups below HALF (rows below R/2), half B the others. */
export function pingPongLoop(c: SgmatCtx): string {
  const { TK, HALF } = c;
  // ping-pong walks the tiles in loop order (n_d from the last down, see restartHeadroom, then up from k0): kt is
  // this tile, kn the next, kp the previous. Stepping kt measured 1% faster than computing it from the index m.
  const tileVars = `      let kn = select(select(kt + ${TK}u, k0, m + 1u == n_d), kt - ${TK}u, m + 1u < n_d);`;
  const tiles = `    var kt = k_first;
    var kp = k_first;
    for (var m = 0u; m < n_t; m++) {
${tileVars}
${phaseA(c)}
      ${rescaleIf(c, 1, 'resc_b')}
${phaseB(c)}
      ${rescaleIf(c, 0, 'resc')}
${phaseC(c)}
      kp = kt;
      kt = kn;
    }
`;
  return `${tiles}    if (k1 > k0) {
      // the last tile: A's P·V while B makes its P, then B's P·V
      if (sg < ${HALF}u) {
    ${pvHalf(c, 0)}
      } else {
${softmaxStep(c, 'kp', 'resc_b')}
      }
      ${rescaleIf(c, 1, 'resc_b')}
      if (sg >= ${HALF}u) {
    ${pvHalf(c, 1)}
      }
    }`;
}
