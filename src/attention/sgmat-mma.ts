/**
 * Tensor-core prefill (attention-sgmat.ts), matrix products: S = Q·Kᵀ into the score rows and
 * O += P·V into the result matrices, as unrolled per-subgroup steps, and the phases that run them
 * (alone, or P·V of the previous tile interleaved with Q·Kᵀ of this one).
 */
import { type SgmatCtx, halfSubgroups, perSg, perSgIn, r } from './sgmat-context.js';

// one right matrix (a K or V block) times the left matrices of each of the subgroup's row blocks
function products(c: SgmatCtx, n: number, right: string, left: (i: number) => string, acc: (i: number) => string) {
  const { mo } = c;
  return n === 1
    ? `        ${acc(0)} = ${mo.mma(left(0), right, acc(0))};`
    : `        rm = ${right};\n${r(n)
        .map((i) => `        ${acc(i)} = ${mo.mma(left(i), 'rm', acc(i))};`)
        .join('\n')}`;
}

const rightLoad = (c: SgmatCtx, n: number, off: number, colMajor: boolean) =>
  c.mo.load('right', 'kvs', off, c.LDK, colMajor, n === 1 ? undefined : 'rm');

/** The shared right matrix, declared where a subgroup multiplies two row blocks by each K or V block. */
export const rmDecl = (c: SgmatCtx): string =>
  c.NRB === 1 && c.NRQ === 1 ? '' : `        ${c.mo.declare('rm', 'right')}`;

// S = Q·Kᵀ, one 16-key block at a time, stored to the score rows
// (score matrices are named by their index among the subgroup's key blocks: the same names in every case)
const qkDecl = (c: SgmatCtx, g: number) =>
  r(c.NRQ)
    .map((i) =>
      c
        .keyBlocks(g)
        .map((_, k) => `        ${c.mo.declare(`s${i}_${k}`, 'result')}`)
        .join('\n'),
    )
    .join('\n');

const qkSteps = (c: SgmatCtx, g: number) =>
  c.drop('qk')
    ? []
    : r(c.DB).flatMap((db) =>
        c.keyBlocks(g).map((kb, k) =>
          products(
            c,
            c.NRQ,
            rightLoad(c, c.NRQ, kb * 16 * c.LDK + db * 2, !c.drop('kcol')),
            (i) => `q${i}_${db}`,
            (i) => `s${i}_${k}`,
          ),
        ),
      );

const qkStore = (c: SgmatCtx, g: number) =>
  c
    .qkRowBlocks(g)
    .map((rb, i) =>
      c
        .keyBlocks(g)
        .map((kb, k) => `        ${c.mo.store('ss', c.so(rb * 16 * c.LDS + kb * 16), `s${i}_${k}`, c.LS)}`)
        .join('\n'),
    )
    .join('\n');

// O += P·V: the P rows as left matrices, then one V block at a time
const pvLoad = (c: SgmatCtx, g: number) =>
  c
    .rowBlocks(g)
    .map((rb, i) =>
      r(c.KB)
        .map(
          (kb) =>
            `        ${c.mo.declare(`p${i}_${kb}`, 'left')} p${i}_${kb} = ${c.mo.load('left', 'ps', rb * 16 * c.LDP + kb * 2, c.LDP, false, `p${i}_${kb}`)};`,
        )
        .join('\n'),
    )
    .join('\n');

const pvSteps = (c: SgmatCtx, g: number) =>
  c.drop('pv')
    ? []
    : c.colBlocks(g).flatMap((db, j) =>
        r(c.KB).map((kb) =>
          products(
            c,
            c.NRB,
            rightLoad(c, c.NRB, c.VOFF + kb * 16 * c.LDK + db * 2, false),
            (i) => `p${i}_${kb}`,
            (i) => `o${i}_${j}`,
          ),
        ),
      );

const zip = (a: string[], b: string[]) =>
  r(Math.max(a.length, b.length)).flatMap((i) => [a[i], b[i]].filter((x): x is string => x !== undefined));

const qkBody = (c: SgmatCtx, g: number) => [qkDecl(c, g), rmDecl(c), ...qkSteps(c, g), qkStore(c, g)].join('\n');
const pvBody = (c: SgmatCtx, g: number) => [pvLoad(c, g), rmDecl(c), ...pvSteps(c, g)].join('\n');
// deferred P·V: the previous tile's P·V steps alternate with this tile's Q·Kᵀ steps in one phase
const qkPvBody = (c: SgmatCtx, g: number) =>
  [qkDecl(c, g), pvLoad(c, g), rmDecl(c), ...zip(qkSteps(c, g), pvSteps(c, g)), qkStore(c, g)].join('\n');

/** Q·Kᵀ of the staged K tile, every subgroup. */
export const qkPhase = (c: SgmatCtx): string => perSg(c, (g) => qkBody(c, g));
/** P·V of the staged V tile, every subgroup. */
export const pvPhase = (c: SgmatCtx): string => perSg(c, (g) => pvBody(c, g));
/** P·V of the previous tile interleaved with Q·Kᵀ of this one, every subgroup. */
export const qkPvPhase = (c: SgmatCtx): string => perSg(c, (g) => qkPvBody(c, g));
/** The same for ping-pong half G only. */
export const qkPvHalf = (c: SgmatCtx, G: number): string => perSgIn(c, halfSubgroups(c, G), (g) => qkPvBody(c, g));
export const pvHalf = (c: SgmatCtx, G: number): string => perSgIn(c, halfSubgroups(c, G), (g) => pvBody(c, g));
