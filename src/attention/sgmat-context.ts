/**
 * The geometry and switches of one tensor-core prefill kernel (attention-sgmat.ts), worked out once
 * from the kernel's parameters and its SgmatConfig; the WGSL pieces (sgmat-load, sgmat-mma,
 * sgmat-softmax, sgmat-output, sgmat-loops) read them from here.
 */
import type { Capabilities } from '../backends/webgpu/capabilities.js';
import type { AttentionKernelParams } from './attention-wgsl.js';
import { variantDecls } from './attention-wgsl.js';
import { type MatrixOps, REAL_OPS, emulatedOps } from './sgmat-ops.js';
import type { SgmatConfig } from './sgmat-config.js';
import { wgslF32 } from './variants.js';

/** Rows of the Q tile staged at once through the K/V buffer. */
export const Q_PASS = 64;

export const r = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/** Workgroup-memory geometry (element units: vec4<u32> of 8 halves for K/V/Q/P, f32 for S). */
export function sgmatLayout(d: number, tk: number, rows: number) {
  const LDK = d / 8 + 1; // one 16-byte element of padding per staged row, against bank conflicts
  const LDS = tk + 4; // column tk of a score row carries the row's rescale factor
  const LDP = tk / 8 + 1;
  const kvLen = Math.max(2 * tk, Q_PASS) * LDK; // K then V; the Q tile at item start, Q_PASS rows at a time
  return { LDK, LDS, LDP, kvLen, sLen: rows * LDS, pLen: rows * LDP };
}

// a pair is subgroups 2i and 2i+1: both take the pair's two row blocks, each its half of n blocks
const rowsOf = (paired: boolean) => (g: number) => (paired ? [g & ~1, g | 1] : [g]);
const halfOf = (paired: boolean, n: number) => (g: number) =>
  paired ? r(n / 2).map((k) => (g & 1) * (n / 2) + k) : r(n);

/** Tile geometry: block counts, workgroup size, which blocks each subgroup multiplies, workgroup-memory layout. */
function sgmatGeometry(p: AttentionKernelParams, cfg: SgmatConfig) {
  const TK = cfg.tileKeys;
  if (TK % 16 !== 0 || TK < 32) throw new Error(`sgmat attention: ${TK} keys per tile (multiples of 16 from 32)`);
  const D = p.headDim;
  const DB = D / 16; // 16-wide blocks of the head dim
  const KB = TK / 16; // 16-key blocks of a tile
  const DC = D / 8; // 16-byte chunks per row
  const R = p.tileRows;
  const NSG = R / 16; // subgroups
  const WG = 32 * NSG;
  // which 16-row blocks, 16-key blocks (of Q·Kᵀ) and 16-dim blocks (of P·V and O) subgroup g multiplies
  // (Q·Kᵀ and P·V choose separately whether subgroup pairs share 32 rows)
  const qkPair = cfg.qkRows === 32 && KB % 2 === 0 && NSG % 2 === 0;
  const pair = cfg.pvRows === 32 && DB % 2 === 0 && NSG % 2 === 0;
  const lay = sgmatLayout(D, TK, R);
  return {
    TK,
    D,
    DB,
    KB,
    DC,
    HK: TK / 2, // keys per softmax lane
    R,
    NSG,
    WG,
    HALF: NSG / 2, // ping-pong: half A is the subgroups below HALF
    qkPair,
    pair,
    NRQ: qkPair ? 2 : 1, // row blocks of Q·Kᵀ (Q matrices held, S matrices made)
    NRB: pair ? 2 : 1, // row blocks of P·V (P matrices loaded, O matrices held)
    NCB: pair ? DB / 2 : DB,
    rowBlocks: rowsOf(pair),
    qkRowBlocks: rowsOf(qkPair),
    keyBlocks: halfOf(qkPair, KB),
    colBlocks: halfOf(pair, DB),
    ...lay,
    VOFF: TK * lay.LDK,
    group: p.numQoHeads / p.numKvHeads,
    NL: Math.ceil((TK * DC) / WG), // K (and V) chunks per invocation per tile
  };
}

/** The geometry plus the code paths taken: the config's switches where the variant and the device allow them. */
export function sgmatContext(p: AttentionKernelParams, caps: Pick<Capabilities, 'subgroupMaxSize'>, cfg: SgmatConfig) {
  const g = sgmatGeometry(p, cfg);
  const mo: MatrixOps = cfg.emulate ? emulatedOps() : REAL_OPS;
  const V4 = cfg.ssVec4;
  const ab = cfg.ablate;
  const lateV = cfg.lateV;
  const v = variantDecls(p);
  // tiles every row sees whole skip the mask test; only when the variant masks causally or not at all
  const interior =
    cfg.interiorNoMask && !p.variant.customMask && !(p.variant.windowLeft !== undefined && p.variant.windowLeft >= 0);
  // ping-pong halves need whole subgroup pairs each (NSG a multiple of 4), and subgroups no wider than
  // our 32-lane ones so that a half's branch is uniform in each (the softmax's shuffle runs in it)
  const pp = cfg.pingPong && g.NSG % 4 === 0 && caps.subgroupMaxSize <= 32;
  const drop = (stage: string) => ab.split('+').includes(stage);
  return {
    p,
    cfg,
    mo,
    ...g,
    TH: cfg.rescaleLog2,
    V4,
    ab,
    drop,
    lateV,
    early: cfg.earlyFetch && !lateV,
    beforePv: lateV && cfg.fetchBeforePv && !cfg.deferPv,
    defer: cfg.deferPv,
    pp,
    qAhead: cfg.qAhead,
    // score-buffer offsets and strides count its elements: floats, or vec4s of 4 floats
    so: (floats: number) => (V4 ? floats / 4 : floats),
    LS: V4 ? g.LDS / 4 : g.LDS,
    interior,
    v,
    scale: v.logits ? 'SCALE' : `${wgslF32(p.scale * Math.LOG2E)}`,
    // fastSoftmax: tiles every row sees whole keep the raw scores (max taken raw, then scaled: the same
    // value for a positive scale) and make each probability with one FMA
    fast: cfg.fastSoftmax && interior && !v.logits && p.scale > 0 && !drop('softmax'),
    PE: Math.max(0, Math.min(g.HK, cfg.polyExp)),
    // restart mode: no rescale in the loop (see rescaleMode)
    restart: pp && cfg.rescaleMode === 'restart' && !v.logits,
    RT: cfg.restartLog2,
    HR: cfg.restartHeadroom,
  };
}

export type SgmatCtx = ReturnType<typeof sgmatContext>;

/**
 * One unrolled copy of `body` per subgroup in `gs`, in a switch on the subgroup index, so that every
 * matrix offset in a copy is a compile-time constant. (Ablation onecase: every subgroup runs the code
 * of subgroup 0 or 1, to see what eight copies of the loop cost in instruction fetch.)
 */
export function perSgIn(c: SgmatCtx, gs: number[], body: (g: number) => string): string {
  const one = c.drop('onecase');
  return `switch (sg${one ? ' % 2u' : ''}) {
${(one ? [0, 1] : gs).map((g) => `      case ${g}u: {\n${body(g)}\n      }`).join('\n')}
      default: {}
    }`;
}

export const perSg = (c: SgmatCtx, body: (g: number) => string): string => perSgIn(c, r(c.NSG), body);

/** The subgroups of ping-pong half G: half A (G = 0) = subgroups below HALF (rows below R/2), half B the others. */
export const halfSubgroups = (c: SgmatCtx, G: number): number[] => r(c.NSG).filter((g) => g < c.HALF === (G === 0));
