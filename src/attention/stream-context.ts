/**
 * The geometry and switches of one streaming decode kernel (attention-decode.ts), worked out once
 * from the kernel's parameters, the subgroup size and its StreamConfig; the WGSL pieces
 * (stream-step, stream-merge) read them from here.
 */
import type { AttentionKernelParams } from './attention-wgsl.js';
import { variantDecls } from './attention-wgsl.js';
import type { StreamConfig } from './stream-config.js';
import { WORKGROUP } from './tile-config.js';
import { elemsPerVec } from './wgsl-kv.js';
import { kvQuads, streamElemsPerWord, streamWord } from './kv-quant-wgsl.js';
import { isQuantKv } from './kv-quant.js';

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
  /** Elements per word of the pool (16-byte words; 8-byte ones for 4-bit rows: streamWord). */
  readonly epv: number;
}

export function streamGeometry(
  p: Pick<AttentionKernelParams, 'headDim' | 'kvDtype'>,
  subgroupSize: number,
): StreamGeometry {
  const epv = streamElemsPerWord(p.kvDtype);
  const L = p.headDim / epv;
  let LR = 1;
  while (LR * 2 <= Math.min(L, subgroupSize) && L % (LR * 2) === 0) LR *= 2;
  return { S: subgroupSize, L, LR, NV: L / LR, slots: (WORKGROUP / subgroupSize) * (subgroupSize / LR), epv };
}

export const r = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

export function streamContext(p: AttentionKernelParams, subgroupSize: number, cfg: StreamConfig) {
  const D = p.headDim;
  const TQ = p.tileRows;
  const { S, LR, NV, slots: SLOTS, epv } = streamGeometry(p, subgroupSize);
  const DV4 = D / 4;
  // slots merged per round so the merge buffer stays within MERGE_BYTES
  let perRound = SLOTS;
  while (perRound > 1 && perRound * TQ * D * 4 > MERGE_BYTES) perRound /= 2;
  const TB = Math.log2(TQ);
  // subgroup slot merge: shuffle levels LR, 2LR, … S/2, then NSG subgroup states in workgroup memory
  const NSG = WORKGROUP / S;
  const sgBytes = NSG * TQ * (D * 4 + 8);
  return {
    p,
    cfg,
    D,
    TQ,
    group: p.numQoHeads / p.numKvHeads,
    v: variantDecls(p),
    S,
    LR,
    NV,
    SLOTS,
    epv,
    U: cfg.keysPerSlot,
    Q4: epv / 4, // vec4<f32> per word
    quant: isQuantKv(p.kvDtype),
    word: streamWord(p.kvDtype),
    qVpr: D / elemsPerVec(p.qDtype),
    DV4,
    perRound,
    rounds: SLOTS / perRound,
    outPerThread: Math.ceil((TQ * DV4) / WORKGROUP),
    ab: cfg.ablate.split('+'),
    // row scatter (cfg.rowScatter): lane lr finishes row lr >> RSH, the top log2(TQ) bits of lr
    scatter: cfg.rowScatter && TQ <= LR && (TQ & (TQ - 1)) === 0,
    TB,
    RSH: Math.log2(LR) - TB,
    NSG,
    levels: r(Math.log2(S / LR)).map((i) => LR << i),
    NB: 2 * sgBytes <= SG_MERGE_BYTES ? 2 : 1,
    sgMerge: cfg.slotMerge === 'subgroup' && sgBytes <= SG_MERGE_BYTES,
    nr: cfg.nextRecord,
  };
}

export type StreamCtx = ReturnType<typeof streamContext>;

/** The quads of word w: f32 pools give one, 16-bit pools two, 8/4-bit pools four/eight (`sz`: the row's scale and zero). */
export const quads = (c: StreamCtx, w: string, sz: string): string[] => kvQuads(c.p.kvDtype, w, sz, c.epv);
/** Register of query quad k of word n of row `row`. */
export const qi = (c: StreamCtx, row: number, n: number, k: number): string => `qr[${(row * c.NV + n) * c.Q4 + k}]`;
/** Register of accumulator quad k of word n of row `row`. */
export const ai = (c: StreamCtx, row: number, n: number, k: number): string => `acc[${(row * c.NV + n) * c.Q4 + k}]`;
/** `x` summed over the LR lanes of a slot. */
export const shuffles = (c: StreamCtx, x: string): string =>
  r(Math.log2(c.LR))
    .map((i) => `${x} += subgroupShuffleXor(${x}, ${c.LR >> (i + 1)}u);`)
    .join(' ');
/** `x` summed over the slots of a subgroup. */
export const xor = (c: StreamCtx, x: string): string =>
  c.levels.map((k) => `${x} += subgroupShuffleXor(${x}, ${k}u);`).join(' ');
