/**
 * What bench/skinny-tune.ts sweeps and how it judges: the skinny GEMM parameter sets per M, the
 * baselines (GEMV, the split-K tensor-core GEMM), the weight of each Llama-3-8B shape in one decode
 * step, the host copy of the weights `fillRandom` writes (so sampled outputs are checked without
 * reading gigabytes back), and the table module written from the winners.
 */
import type {
  SkinnyBucket,
  SkinnyMidParams,
  SkinnyParams,
  SkinnySgmatParams,
  SkinnySimtParams,
  SkinnyTcParams,
} from '../src/kernels/skinny-gemm-params.js';
import type { MatmulPath } from '../src/ops/matmul.js';
import { SKINNY_TABLE } from '../src/kernels/skinny-gemm-table.js';

/**
 * In the order measured: the batch sizes decode serving lives at first, then M = 128 and 256
 * (prefill chunks), so a spent time budget costs the small M (which the GEMV keeps anyway) first.
 */
export const TUNE_M = [16, 64, 32, 128, 256, 8, 4, 2, 1];

/** N×K of the 8B linear layers and how many times each runs per decode step (32 layers, one head). */
export const TUNE_SHAPES: { N: number; K: number; what: string; perStep: number }[] = [
  { N: 4096, K: 4096, what: 'q/o', perStep: 64 },
  { N: 1024, K: 4096, what: 'k/v', perStep: 64 },
  { N: 14336, K: 4096, what: 'gate/up', perStep: 64 },
  { N: 4096, K: 14336, what: 'down', perStep: 32 },
  { N: 128256, K: 4096, what: 'lm_head', perStep: 1 },
];

export interface Variant {
  readonly name: string;
  readonly path: MatmulPath;
  readonly params: SkinnyParams | null;
}

function simtVariants(M: number): SkinnySimtParams[] {
  const out: SkinnySimtParams[] = [];
  const blocks: [number, number][] = [
    [4, 4],
    [8, 4],
    [4, 8],
    [2, 8],
    [8, 8],
    [16, 4],
  ];
  for (const KL of [32, 64]) {
    for (const [mt, RL] of blocks) {
      const MT = Math.min(M, mt);
      // enough lanes per workgroup to keep loads in flight, not so many accumulators that registers spill
      const groups = Math.ceil(M / MT);
      const RG = KL * groups >= 128 ? 1 : 2;
      if (MT * RL > 64) continue;
      out.push({ variant: 'simt', KL, MT, RL, RG });
    }
  }
  const seen = new Set<string>();
  return out.filter((v) => !seen.has(JSON.stringify(v)) && !!seen.add(JSON.stringify(v)));
}

/**
 * Tensor-core sets: the staged sets that placed in the top eight of some M in the 2026-12-07 H100
 * sweep (bench/tuning/skinny-tune-2026-12-07-h100.json; the others were never within 25% of the
 * best) plus the two small ones that fit M = 128 in 48 KB; the best staged sets again with two
 * slices in flight (D = 2); and in-place activation sets (AG) sized to keep 16–32 KB of weights in
 * flight per workgroup (D · TN·16 rows · S·BK columns · 2 bytes).
 */
function sgmatVariants(): SkinnySgmatParams[] {
  const sg = (S: number, TN: number, BK: number, D = 1, AG = false): SkinnySgmatParams =>
    D === 1 && !AG
      ? { variant: 'sgmat', S, TN, BK }
      : AG
        ? { variant: 'sgmat', S, TN, BK, D, AG }
        : { variant: 'sgmat', S, TN, BK, D };
  return [
    sg(4, 1, 32),
    sg(8, 1, 32),
    sg(4, 1, 64),
    sg(8, 2, 16),
    sg(4, 2, 32),
    sg(4, 2, 16),
    sg(2, 1, 64),
    sg(2, 1, 32),
    sg(2, 2, 16),
    sg(4, 1, 32, 2),
    sg(8, 2, 16, 2),
    sg(4, 2, 16, 2),
    sg(4, 1, 64, 2, true),
    sg(4, 1, 64, 4, true),
    sg(8, 1, 32, 2, true),
    sg(8, 1, 32, 4, true),
    sg(8, 1, 64, 2, true),
    sg(4, 2, 32, 2, true),
    sg(4, 2, 32, 4, true),
    sg(8, 2, 32, 2, true),
    sg(4, 2, 64, 2, true),
  ];
}

/** The mid-M sets sweep from this M up (below it a 64-row tile is mostly padding). */
export const MID_MIN_M = 48;

/**
 * Output-tiled tensor-core sets for M = 64–256 (docs/notes/2026-12-07-mid-m-gemm.md), all within
 * 48 KB of workgroup memory at the M they tile: 128×128 tiles of 4 or 8 subgroups, 128×256 tiles
 * at BK 16 (activation bytes half the weight bytes), 64-row tiles for M = 64 and one 256×128 tile
 * that covers M = 256 in one pass; D = 2 or 4 slices in flight, D = 4 only where accumulators and
 * register sets stay near 200 registers a lane (8 per result matrix, 4 per 16-byte chunk per set).
 * The cap on the K split (SK 8, 4, 2) trades workgroups against f32 partial traffic (8·split·M·N
 * bytes against 2·N·K of weights).
 */
function midVariants(): SkinnyMidParams[] {
  const mid = (WM: number, WN: number, TM: number, TN: number, BK: number, D: number, SK = 8): SkinnyMidParams => ({
    variant: 'mid',
    WM,
    WN,
    TM,
    TN,
    BK,
    D,
    SK,
  });
  return [
    mid(2, 2, 4, 4, 32, 2),
    mid(2, 4, 4, 2, 32, 4, 4),
    mid(2, 2, 4, 4, 32, 2, 2),
    mid(2, 4, 4, 2, 32, 2),
    mid(4, 2, 2, 4, 32, 2),
    mid(2, 4, 4, 2, 16, 4),
    mid(2, 4, 4, 4, 16, 2),
    mid(2, 4, 4, 4, 16, 4),
    mid(2, 4, 4, 4, 16, 2, 4),
    mid(2, 2, 2, 4, 32, 2),
    mid(1, 4, 4, 4, 16, 4),
    mid(4, 2, 4, 4, 16, 2),
  ];
}

export function variantName(p: SkinnyParams): string {
  if (p.variant === 'simt') return `simt KL${p.KL} MT${p.MT} RL${p.RL} RG${p.RG}`;
  if (p.variant === 'mid') return `mid W${p.WM}x${p.WN} T${p.TM}x${p.TN} BK${p.BK} D${p.D} SK${p.SK}`;
  return `sgmat S${p.S} TN${p.TN} BK${p.BK}${p.D && p.D > 1 ? ` D${p.D}` : ''}${p.AG ? ' AG' : ''}`;
}

/**
 * The SIMT blockings (KL, MT, RL) kept at M ≥ 16 where tensor cores exist: the best two at M = 16 on
 * 2026-12-07, for the table's SIMT entry (RG follows from M).
 */
const SIMT_BESIDE_SGMAT: readonly [number, number, number][] = [
  [32, 2, 8],
  [32, 8, 8],
];

/**
 * Baselines first, then the skinny sets. Where tensor cores exist, SIMT at M ≥ 16 ran at ≤ 0.85×
 * the best tensor-core set on every 8B shape (2026-12-07), so only two SIMT sets stay there.
 * `only: 'mid'` keeps the baselines, the committed table's sets for M and the mid-M sets.
 */
export function variantsFor(M: number, sgmat: boolean, only?: 'mid'): Variant[] {
  const base: Variant[] = [
    ...(M <= 16 ? [{ name: 'gemv', path: 'gemv' as const, params: null }] : []),
    ...(sgmat ? [{ name: 'sgmat split-K', path: 'subgroup-matrix' as const, params: null }] : []),
  ];
  const all = simtVariants(M);
  const simt =
    sgmat && M >= 16
      ? all.filter((p) => SIMT_BESIDE_SGMAT.some(([KL, MT, RL]) => p.KL === KL && p.MT === MT && p.RL === RL))
      : all.slice(0, M <= 32 ? undefined : 2);
  const mid = sgmat && M >= MID_MIN_M ? midVariants() : [];
  const named = (ps: readonly SkinnyParams[]) =>
    ps.map((p) => ({ name: variantName(p), path: 'skinny' as const, params: p }));
  if (only === 'mid') {
    const b = SKINNY_TABLE.buckets.find((x) => M <= x.maxM);
    const committed = [b?.simt, sgmat ? b?.sgmat : null].filter((p): p is SkinnyParams => !!p);
    return [...base, ...named([...committed, ...mid])];
  }
  const sg = sgmat ? sgmatVariants() : [];
  return [...base, ...named([...simt, ...sg, ...mid])];
}

/**
 * fillRandom's generator on the host for element i of a bf16 tensor filled with `seed`, scale 1.
 * fillRandom substitutes the index text into `hash(i * 2654435761u + seed)`, so the odd element of
 * word w hashes `2u * w + 1u * 2654435761u + seed`: reproduced as written.
 */
export function fillValue(i: number, seed: number): number {
  const x = i % 2 === 0 ? Math.imul(i, 2654435761 | 0) + seed : i - 1 + 2654435761 + seed;
  let h = x >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b | 0);
  h = (h ^ (h >>> 16)) >>> 0;
  return ((h >>> 8) / 16777216) * 2 - 1;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The same element stored as bf16 (fillRandom truncates the f32). */
export function fillValueBf16(i: number, seed: number): number {
  f32[0] = fillValue(i, seed);
  u32[0] = u32[0]! & 0xffff0000;
  return f32[0]!;
}

export interface Measured {
  readonly M: number;
  readonly shape: string;
  readonly variant: string;
  readonly params: SkinnyParams | null;
  readonly ms: number;
}

/** Decode-step ms (Σ shape ms × runs per step) per variant measured on every shape reached, fastest first. */
export function stepTimes(rows: readonly Measured[]): [string, number, SkinnyParams | null][] {
  const perStep = new Map(TUNE_SHAPES.map((s) => [`${s.N}x${s.K}`, s.perStep]));
  const shapes = new Set(rows.map((r) => r.shape)).size;
  const acc = new Map<string, { params: SkinnyParams | null; ms: number; n: number }>();
  for (const r of rows) {
    const e = acc.get(r.variant) ?? { params: r.params, ms: 0, n: 0 };
    e.ms += r.ms * (perStep.get(r.shape) ?? 1);
    e.n++;
    acc.set(r.variant, e);
  }
  return [...acc]
    .filter(([, e]) => e.n === shapes)
    .map(([v, e]): [string, number, SkinnyParams | null] => [v, e.ms, e.params])
    .sort((x, y) => x[1] - y[1]);
}

/**
 * One bucket per tuned M from the decode-step time (Σ shape ms × runs per step, over the variants
 * measured on every shape this M reached): the best SIMT set,
 * the best tensor-core set where it beats the best SIMT set, and both null where a baseline is
 * faster than every skinny set (the other kernels keep that M).
 */
export function bucketsFrom(rows: readonly Measured[]): SkinnyBucket[] {
  return [...TUNE_M]
    .sort((x, y) => x - y)
    .map((M) => {
      // an M the run did not reach keeps the committed bucket
      if (!rows.some((r) => r.M === M))
        return { ...(SKINNY_TABLE.buckets.find((b) => M <= b.maxM) ?? { simt: null, sgmat: null }), maxM: M };
      const full = stepTimes(rows.filter((r) => r.M === M)).map(([, ms, params]) => ({ ms, params }));
      const best = (kind: 'simt' | 'tc') =>
        full.find((e) => e.params && (kind === 'simt') === (e.params.variant === 'simt'));
      const base = full.find((e) => e.params === null);
      const simt = best('simt');
      const sg = best('tc');
      const bestSkinny = Math.min(simt?.ms ?? Infinity, sg?.ms ?? Infinity);
      if (base && base.ms <= bestSkinny) return { maxM: M, simt: null, sgmat: null };
      // no SIMT set ran on every shape (none fits this M on the device): the committed SIMT entry stays
      const committedSimt = SKINNY_TABLE.buckets.find((b) => M <= b.maxM)?.simt ?? null;
      return {
        maxM: M,
        simt: (simt?.params as SkinnySimtParams | undefined) ?? committedSimt,
        sgmat: sg && sg.ms < (simt?.ms ?? Infinity) ? (sg.params as SkinnyTcParams) : null,
      };
    });
}

export function tableModule(buckets: readonly SkinnyBucket[], source: string): string {
  return `/**
 * The skinny GEMM's parameters per M bucket: the first bucket whose \`maxM\` ≥ M applies; \`params\`
 * null leaves that M to the other matmul kernels. \`sgmat\` entries apply where the device has f16
 * subgroup matrices, \`simt\` everywhere else. Written by bench/skinny-tune.ts from its winners.
 */
import type { SkinnyTable } from './skinny-gemm-params.js';

export const SKINNY_TABLE: SkinnyTable = ${JSON.stringify({ source, buckets }, null, 2)};
`;
}
