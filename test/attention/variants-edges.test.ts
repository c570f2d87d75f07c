/**
 * Attention variant hooks by hand: ALiBi slopes (the paper's sequence, interleaved for a head
 * count that is not a power of two), the mask and logit twins the oracle runs, RoPE frequencies
 * and rotation, the WGSL literals the templates splice in, and how a spec becomes parts and names.
 */
import { describe, expect, it } from 'vitest';
import {
  alibi,
  alibiSlopes,
  causal,
  customMask,
  isPositional,
  rope,
  ropeInvFreq,
  slidingWindow,
  softCap,
  variantName,
  variantParts,
  wgslF32,
  type MaskContext,
} from '../../src/attention/variants.js';

const c = (over: Partial<MaskContext>): MaskContext => ({
  b: 0,
  qi: 0,
  qpos: 0,
  kpos: 0,
  head: 0,
  kvLen: 1,
  numQoHeads: 1,
  ...over,
});

describe('ALiBi slopes', () => {
  it('8 heads: 2^-1 … 2^-8', () => {
    expect(Array.from(alibiSlopes(8))).toEqual([1, 2, 3, 4, 5, 6, 7, 8].map((i) => 2 ** -i));
  });
  it('1, 2 and 4 heads', () => {
    expect(Array.from(alibiSlopes(1))).toEqual([2 ** -8]);
    expect(Array.from(alibiSlopes(2))).toEqual([2 ** -4, 2 ** -8]);
    expect(Array.from(alibiSlopes(4))).toEqual([2 ** -2, 2 ** -4, 2 ** -6, 2 ** -8]);
  });
  it('12 heads: the 8-head slopes, then odd powers of 2^-0.5', () => {
    const s = alibiSlopes(12);
    [1, 2, 3, 4, 5, 6, 7, 8].forEach((i, h) => expect(s[h]).toBeCloseTo(2 ** -i, 15));
    [0.5, 1.5, 2.5, 3.5].forEach((e, n) => expect(s[8 + n]).toBeCloseTo(2 ** -e, 15));
  });
  it('the logit hook adds slope · (kpos − qpos), per head', () => {
    expect(alibi.logits!.ref(1, c({ head: 1, numQoHeads: 4, qpos: 5, kpos: 2 }))).toBeCloseTo(1 - 3 * 2 ** -4, 15);
    expect(alibi.logits!.ref(0, c({ head: 0, numQoHeads: 2, qpos: 3, kpos: 3 }))).toBe(0);
    expect(alibi.decls!({ headDim: 4, numQoHeads: 2 })).toBe(
      'const ALIBI = array<f32, 2>(0.0625000000, 0.00390625000);',
    );
  });
});

describe('masks and logit hooks', () => {
  it('causal keeps kpos ≤ qpos', () => {
    expect([0, 4, 5, 6].map((kpos) => causal.mask!.ref(c({ qpos: 5, kpos })))).toEqual([true, true, true, false]);
    expect(causal.mask!.wgsl).toBe('kpos <= qpos');
  });
  it('a window of w keeps qpos − kpos ≤ w, and refuses negative or fractional w', () => {
    const w = slidingWindow(2);
    expect([2, 3, 5, 6].map((kpos) => w.mask!.ref(c({ qpos: 5, kpos })))).toEqual([false, true, true, true]);
    expect(w.name).toBe('win2');
    expect(w.mask!.wgsl).toBe('qpos - kpos <= 2');
    expect(slidingWindow(0).mask!.ref(c({ qpos: 3, kpos: 3 }))).toBe(true);
    expect(slidingWindow(0).mask!.ref(c({ qpos: 3, kpos: 2 }))).toBe(false);
    expect(() => slidingWindow(-1)).toThrow('sliding window: windowLeft must be a non-negative integer, got -1');
    expect(() => slidingWindow(1.5)).toThrow(/non-negative integer/);
  });
  it('soft-cap: cap · tanh(s / cap), positive caps only', () => {
    const s = softCap(30);
    expect(s.logits!.ref(15, c({}))).toBeCloseTo(30 * Math.tanh(0.5), 14);
    expect(s.name).toBe('cap30');
    expect(s.logits!.wgsl).toBe('30.0000000 * tanh(clamp(s / 30.0000000, -15.0, 15.0))');
    expect(() => softCap(0)).toThrow('soft-cap must be positive, got 0');
    expect(() => softCap(-1)).toThrow(/positive/);
  });
  it('custom mask reads bit (offset + qi·kvLen + kpos)', () => {
    const mask = Float64Array.from([9, 9, 1, 0, 0, 1]);
    expect(customMask.mask!.ref(c({ mask, maskOffset: 2, kvLen: 2, qi: 0, kpos: 0 }))).toBe(true);
    expect(customMask.mask!.ref(c({ mask, maskOffset: 2, kvLen: 2, qi: 0, kpos: 1 }))).toBe(false);
    expect(customMask.mask!.ref(c({ mask, maskOffset: 2, kvLen: 2, qi: 1, kpos: 0 }))).toBe(false);
    expect(customMask.mask!.ref(c({ mask, maskOffset: 2, kvLen: 2, qi: 1, kpos: 1 }))).toBe(true);
    expect(customMask.usesMaskInput).toBe(true);
  });
});

describe('RoPE variant', () => {
  it('frequencies θ^(−2i/D), with the Llama-3 bands', () => {
    expect(Array.from(ropeInvFreq({ theta: 10000 }, 4))).toEqual([1, 0.01]);
    const scaling = { factor: 10, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 100 };
    // wavelength 2π (kept), 628 (> 100: divided by 10)
    const f = ropeInvFreq({ theta: 10000, scaling }, 4);
    expect(f[0]).toBe(1);
    expect(f[1]).toBeCloseTo(0.001, 15);
    // wavelength 50: blended with smooth = (100/50 − 1)/3
    const inv = (2 * Math.PI) / 50;
    const g = ropeInvFreq({ theta: inv ** -2, scaling }, 4);
    expect(g[1]).toBeCloseTo((2 / 3) * (inv / 10) + (1 / 3) * inv, 12);
    const edge = ropeInvFreq({ theta: ((2 * Math.PI) / 25) ** -2, scaling }, 4);
    expect(edge[1]).toBeCloseTo((2 * Math.PI) / 25, 12);
    // low factor 2: wavelengths > 50 divided, 25…50 blended (40: smooth = (100/40 − 2)/2 = 1/4)
    const two = { ...scaling, lowFreqFactor: 2 };
    const at = (w: number) => ropeInvFreq({ theta: ((2 * Math.PI) / w) ** -2, scaling: two }, 4)[1]!;
    expect(at(60)).toBeCloseTo((2 * Math.PI) / 600, 14);
    const i40 = (2 * Math.PI) / 40;
    expect(at(40)).toBeCloseTo((3 / 4) * (i40 / 10) + (1 / 4) * i40, 14);
  });
  it('rotates element d with its partner by pos · f[d mod D/2]', () => {
    const r = rope({ theta: 10000 }).qkTransform!;
    const ctx = { headDim: 4, numQoHeads: 1 };
    expect(r.ref(2, 3, 0, 1, false, ctx)).toBeCloseTo(2 * Math.cos(1) - 3 * Math.sin(1), 14);
    expect(r.ref(2, 3, 3, 5, true, ctx)).toBeCloseTo(2 * Math.cos(0.05) + 3 * Math.sin(0.05), 14);
    expect(r.ref(2, 3, 1, 0, false, ctx)).toBe(2);
  });
  it('WGSL carries the frequencies in turns (f / 2π) and D/2', () => {
    const w = rope({ theta: 10000 }).qkTransform!.wgsl({ headDim: 4, numQoHeads: 1 });
    expect(w).toContain(`array<f32, 2>(${wgslF32(1 / (2 * Math.PI))}, ${wgslF32(0.01 / (2 * Math.PI))})`);
    expect(w).toContain('let half = 2u;');
    expect(w).toContain('if (d < half) { return x * cos(a) - partner * sin(a); }');
    expect(rope({ theta: 10000 }).name).toBe('rope10000');
    expect(
      rope({ theta: 5e5, scaling: { factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 8192 } })
        .name,
    ).toBe('rope3_500000_8');
  });
});

describe('WGSL float literals', () => {
  it('always carry a decimal point or exponent, rounded to f32', () => {
    expect(wgslF32(1)).toBe('1.00000000');
    expect(wgslF32(0.1)).toBe('0.100000001');
    expect(wgslF32(1e-20)).toBe('9.99999968e-21');
    expect(wgslF32(-2)).toBe('-2.00000000');
    expect(wgslF32(123456789)).toBe('123456792.0');
  });
});

describe('specs to parts', () => {
  it('orders rope, soft-cap, alibi, causal, window, custom mask, then user parts', () => {
    const extra = { name: 'mine' };
    const parts = variantParts({
      customMask: true,
      windowLeft: 3,
      causal: true,
      alibi: true,
      softCap: 5,
      rope: { theta: 10 },
      extra: [extra],
    });
    expect(parts.map((p) => p.name)).toEqual(['rope10', 'cap5', 'alibi', 'causal', 'win3', 'mask', 'mine']);
  });
  it('a negative window is off; an empty spec is plain', () => {
    expect(variantName({ windowLeft: -1 })).toBe('plain');
    expect(variantName({})).toBe('plain');
    expect(variantName({ windowLeft: 0, causal: true })).toBe('causal+win0');
    expect(variantName({ softCap: 0.5 })).toBe('cap0.5');
  });
  it('at most one query/key transform', () => {
    const t = { name: 't', qkTransform: rope({ theta: 1 }).qkTransform };
    expect(() => variantParts({ rope: { theta: 10 }, extra: [t] })).toThrow(
      'attention variant: at most one query/key transform',
    );
    expect(variantParts({ extra: [t] })).toHaveLength(1);
  });
  it('positional variants are those that read absolute positions', () => {
    expect(isPositional({})).toBe(false);
    expect(isPositional({ causal: true, softCap: 3 })).toBe(false);
    expect(isPositional({ windowLeft: -1 })).toBe(false);
    expect(isPositional({ rope: { theta: 1 } })).toBe(true);
    expect(isPositional({ alibi: true })).toBe(true);
    expect(isPositional({ windowLeft: 0 })).toBe(true);
    expect(isPositional({ customMask: true })).toBe(true);
  });
});
