/** How the skinny sweep turns timings into table buckets (bench/skinny-variants.ts). */
import { describe, expect, it } from 'vitest';
import {
  type Measured,
  TUNE_M,
  TUNE_SHAPES,
  bucketsFrom,
  variantName,
  variantsFor,
} from '../../bench/skinny-variants.js';
import type { SkinnyParams } from '../../src/kernels/skinny-gemm-params.js';
import { SKINNY_TABLE } from '../../src/kernels/skinny-gemm-table.js';

const AG: SkinnyParams = { variant: 'sgmat', S: 4, TN: 2, BK: 32, D: 2, AG: true };
const STAGED: SkinnyParams = { variant: 'sgmat', S: 2, TN: 1, BK: 32 };

/** One row per 8B shape for a variant at M, `ms` the same on each. */
function rows(M: number, variant: string, params: SkinnyParams | null, ms: number): Measured[] {
  return TUNE_SHAPES.map((s) => ({ M, shape: `${s.N}x${s.K}`, variant, params, ms }));
}

describe('skinny sweep buckets', () => {
  it('measures M = 128 and gives it a bucket only when a skinny set beats the split-K GEMM', () => {
    expect(TUNE_M.slice(0, 4)).toEqual([16, 64, 32, 128]);
    const wins = bucketsFrom([...rows(128, 'sgmat split-K', null, 2), ...rows(128, 'ag', AG, 1)]);
    expect(wins.find((b) => b.maxM === 128)).toEqual({ maxM: 128, simt: null, sgmat: AG });
    const loses = bucketsFrom([...rows(128, 'sgmat split-K', null, 1), ...rows(128, 'staged', STAGED, 2)]);
    expect(loses.find((b) => b.maxM === 128)).toEqual({ maxM: 128, simt: null, sgmat: null });
  });

  it('keeps the committed SIMT entry where no SIMT set ran at that M', () => {
    const b = bucketsFrom([...rows(64, 'sgmat split-K', null, 2), ...rows(64, 'ag', AG, 1)]).find((x) => x.maxM === 64);
    expect(b?.sgmat).toEqual(AG);
    expect(b?.simt).toEqual(SKINNY_TABLE.buckets.find((x) => x.maxM === 64)?.simt ?? null);
  });

  it('sweeps the in-place and register-depth sets beside the staged ones, and two SIMT sets at M ≥ 16', () => {
    const names = variantsFor(64, true).map((v) => v.name);
    expect(names).toContain('sgmat S4 TN1 BK32');
    expect(names).toContain('sgmat S4 TN1 BK32 D2');
    expect(names).toContain('sgmat S8 TN2 BK32 D2 AG');
    expect(names.filter((n) => n.startsWith('simt'))).toHaveLength(2);
    expect(variantsFor(8, false).filter((v) => v.name.startsWith('simt')).length).toBeGreaterThan(2);
  });

  it('sweeps the mid-M sets from M = 48 up, M = 256 among the tuned M, and --only mid keeps the committed sets', () => {
    expect(TUNE_M).toContain(256);
    const names = (M: number, only?: 'mid') => variantsFor(M, true, only).map((v) => v.name);
    expect(names(32).some((n) => n.startsWith('mid'))).toBe(false);
    expect(names(64)).toContain('mid W2x2 T4x4 BK32 D2 SK8');
    expect(names(256)).toContain('mid W4x2 T4x4 BK16 D2 SK8');
    const only = names(64, 'mid');
    expect(only.slice(0, 1)).toEqual(['sgmat split-K']);
    // the committed table's sets for M = 64 (whatever the last sweep chose) stay in the sweep
    const bucket = SKINNY_TABLE.buckets.find((b) => 64 <= b.maxM)!;
    for (const p of [bucket.simt, bucket.sgmat]) if (p) expect(only).toContain(variantName(p));
    // and no other staged tensor-core set than a committed one
    const committedSgmat = bucket.sgmat?.variant === 'sgmat' ? 1 : 0;
    expect(only.filter((n) => n.startsWith('sgmat S'))).toHaveLength(committedSgmat);
    expect(names(256, 'mid').every((n) => n === 'sgmat split-K' || n.startsWith('mid'))).toBe(true);
  });

  it('a mid set that beats the split-K GEMM takes the tensor-core slot of its bucket', () => {
    const MID: SkinnyParams = { variant: 'mid', WM: 2, WN: 2, TM: 4, TN: 4, BK: 32, D: 2, SK: 8 };
    const b = bucketsFrom([...rows(256, 'sgmat split-K', null, 2), ...rows(256, 'mid', MID, 1)]);
    expect(b.find((x) => x.maxM === 256)).toEqual({ maxM: 256, simt: null, sgmat: MID });
    expect(b.find((x) => x.maxM === 128)).toEqual(SKINNY_TABLE.buckets.find((x) => x.maxM === 128));
  });
});
