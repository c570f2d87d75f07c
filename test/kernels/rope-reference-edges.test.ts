/**
 * The rope op's float64 reference and frequencies against values worked out by hand from the
 * rotate-half definition (HF Llama): pairs (i, i + rd/2), angle pos·θ^(−2i/rd), dims past rd
 * unchanged; and HF's Llama-3 frequency blend at the three wavelength bands. CPU only.
 */
import { describe, expect, it } from 'vitest';
import type { TensorDesc } from '../../src/backends/backend.js';
import { ROPE_MAX_POSITION, ropeDims, ropeInvFreqs, ropeOp, type RopeAttrs } from '../../src/ops/rope.js';

function run(attrs: RopeAttrs, x: number[], shape: [number, number, number], pos: number[]): number[] {
  const descs: TensorDesc[] = [
    { dtype: 'f32', shape },
    { dtype: 'i32', shape: [shape[0]] },
  ];
  return Array.from(ropeOp.reference(attrs, [Float64Array.from(x), Float64Array.from(pos)], descs, [])[0]!);
}

describe('rope frequencies', () => {
  it('θ^(−2i/rd): θ = 10000, rd = 4 gives 1 and 1/100; rd = 8 gives 1, 0.1, 0.01, 0.001', () => {
    expect(Array.from(ropeInvFreqs(10000, 4))).toEqual([1, 0.01]);
    const f = ropeInvFreqs(10000, 8);
    [1, 0.1, 0.01, 0.001].forEach((v, i) => expect(f[i]).toBeCloseTo(v, 15));
    expect(ropeInvFreqs(10000, 2)).toHaveLength(1);
  });

  it('Llama-3 scaling: short wavelengths kept, long ones divided by factor, the band between blended', () => {
    // original 100 positions, low factor 1, high factor 4: wavelength < 25 kept, > 100 divided, else blended
    const s = { factor: 10, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 100 };
    // i = 0 has inv 1 for any θ: wavelength 2π < 25 → kept
    expect(ropeInvFreqs(7, 2, s)[0]).toBe(1);
    // rd = 4, θ = 10000: inv[1] = 0.01, wavelength 628 > 100 → 0.001
    expect(ropeInvFreqs(10000, 4, s)[1]).toBeCloseTo(0.001, 15);
    // a blended one: θ such that inv[1] = 2π/50 (wavelength 50): smooth = (100/50 − 1)/(4 − 1) = 1/3
    const inv = (2 * Math.PI) / 50;
    const theta = 1 / inv ** 2; // inv[1] = θ^(−1/2) for rd = 4
    const want = (1 - 1 / 3) * (inv / 10) + (1 / 3) * inv;
    expect(ropeInvFreqs(theta, 4, s)[1]).toBeCloseTo(want, 12);
    // exactly at the bands' edges: wavelength 25 is in the blend with smooth = 1 (kept), 100 with smooth = 0 (divided)
    const at = (w: number) => ropeInvFreqs(1 / ((2 * Math.PI) / w) ** 2, 4, s)[1]!;
    expect(at(25)).toBeCloseTo((2 * Math.PI) / 25, 12);
    expect(at(100)).toBeCloseTo((2 * Math.PI) / 100 / 10, 12);
  });
});

describe('rope reference, by hand', () => {
  it('rotates pairs (i, i + D/2) by pos·inv_i', () => {
    const x = [1, 2, 3, 4];
    const [c0, s0, c1, s1] = [Math.cos(1), Math.sin(1), Math.cos(0.01), Math.sin(0.01)];
    const got = run({ theta: 10000 }, x, [1, 1, 4], [1]);
    const want = [1 * c0 - 3 * s0, 2 * c1 - 4 * s1, 3 * c0 + 1 * s0, 4 * c1 + 2 * s1];
    got.forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 14));
  });

  it('position 0 is the identity; each token uses its own position; heads share it', () => {
    const x = [1, 0, 0, 1, 5, 6, 7, 8];
    expect(run({ theta: 10000 }, x, [2, 1, 4], [0, 0])).toEqual(x);
    // token 1 at position 3: pair 0 rotates by 3 rad, pair 1 by 0.03
    const got = run({ theta: 10000 }, x, [2, 1, 4], [0, 3]);
    expect(got.slice(0, 4)).toEqual([1, 0, 0, 1]);
    expect(got[4]).toBeCloseTo(5 * Math.cos(3) - 7 * Math.sin(3), 14);
    expect(got[7]).toBeCloseTo(8 * Math.cos(0.03) + 6 * Math.sin(0.03), 14);
    // two heads of one token rotate alike
    const two = run({ theta: 10000 }, [1, 2, 3, 4, 1, 2, 3, 4], [1, 2, 4], [2]);
    expect(two.slice(4)).toEqual(two.slice(0, 4));
    expect(two[0]).toBeCloseTo(Math.cos(2) - 3 * Math.sin(2), 14);
  });

  it('partial rotary: only the first rotaryDim dims rotate, the rest pass through', () => {
    const x = [1, 2, 3, 4, 5];
    const got = run({ theta: 10000, rotaryDim: 2 }, x, [1, 1, 5], [1]);
    expect(got[0]).toBeCloseTo(Math.cos(1) - 2 * Math.sin(1), 14);
    expect(got[1]).toBeCloseTo(2 * Math.cos(1) + Math.sin(1), 14);
    expect(got.slice(2)).toEqual([3, 4, 5]);
  });

  it('positions must be integers in [0, 2^24)', () => {
    expect(ROPE_MAX_POSITION).toBe(16777216);
    expect(() => run({ theta: 10000 }, [1, 2], [1, 1, 2], [ROPE_MAX_POSITION - 1])).not.toThrow();
    expect(() => run({ theta: 10000 }, [1, 2], [1, 1, 2], [ROPE_MAX_POSITION])).toThrow(
      'rope: position 16777216 at token 0 is outside [0, 2^24)',
    );
    expect(() => run({ theta: 10000 }, [1, 2, 1, 2], [2, 1, 2], [0, -1])).toThrow('position -1 at token 1');
    expect(() => run({ theta: 10000 }, [1, 2], [1, 1, 2], [0.5])).toThrow(RangeError);
  });
});

describe('rope shapes and attributes', () => {
  const x = (shape: number[], dtype = 'f32'): TensorDesc => ({ dtype, shape }) as TensorDesc;
  const p = (n: number): TensorDesc => ({ dtype: 'i32', shape: [n] });
  it('returns T, H, D and rd', () => {
    expect(ropeDims({ theta: 1 }, [x([3, 2, 8]), p(3)])).toEqual({ T: 3, H: 2, D: 8, rd: 8 });
    expect(ropeDims({ theta: 1, rotaryDim: 2 }, [x([1, 1, 3]), p(1)])).toEqual({ T: 1, H: 1, D: 3, rd: 2 });
    expect(ropeDims({ theta: 1, rotaryDim: 8 }, [x([1, 1, 8]), p(1)]).rd).toBe(8);
  });
  it('names each problem', () => {
    expect(() => ropeDims({ theta: 1 }, [x([1, 1, 4])])).toThrow('rope: takes 2 inputs (x, positions), 1 given');
    expect(() => ropeDims({ theta: 1 }, [x([1, 4]), p(1)])).toThrow(
      'rope: x must be a float [T, H, D] tensor, got f32 [1, 4]',
    );
    expect(() => ropeDims({ theta: 1 }, [x([1, 1, 4], 'i32'), p(1)])).toThrow(/x must be a float/);
    expect(() => ropeDims({ theta: 1 }, [x([2, 1, 4]), { dtype: 'i32', shape: [2, 1] }])).toThrow(
      'rope: positions must be i32 [2], got i32 [2, 1]',
    );
    expect(() => ropeDims({ theta: 0 }, [x([1, 1, 4]), p(1)])).toThrow('rope: theta must be > 0, got 0');
    expect(() => ropeDims({ theta: NaN }, [x([1, 1, 4]), p(1)])).toThrow(/theta must be > 0/);
    expect(() => ropeDims({ theta: 1, rotaryDim: 0 }, [x([1, 1, 4]), p(1)])).toThrow(
      'rope: rotaryDim must be an even integer in [2, 4], got 0',
    );
    expect(() => ropeDims({ theta: 1, rotaryDim: 2.5 }, [x([1, 1, 4]), p(1)])).toThrow(/rotaryDim/);
    const good = { factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 8192 };
    expect(() => ropeDims({ theta: 1, scaling: good }, [x([1, 1, 4]), p(1)])).not.toThrow();
    for (const bad of [{ factor: 0 }, { originalMaxPositions: 0 }, { lowFreqFactor: 0 }, { highFreqFactor: 1 }]) {
      expect(
        () => ropeDims({ theta: 1, scaling: { ...good, ...bad } }, [x([1, 1, 4]), p(1)]),
        JSON.stringify(bad),
      ).toThrow(/Llama-3 scaling needs/);
    }
  });

  it('odd head dims, odd rotary dims, position tensors of the wrong type or length', () => {
    expect(() => ropeDims({ theta: 1 }, [x([1, 1, 5]), p(1)])).toThrow(/head dim 5 is odd/);
    expect(() => ropeDims({ theta: 1, rotaryDim: 3 }, [x([1, 1, 4]), p(1)])).toThrow(
      'rope: rotaryDim must be an even integer in [2, 4], got 3',
    );
    expect(() => ropeDims({ theta: 1 }, [x([3, 1, 4]), p(2)])).toThrow('rope: positions must be i32 [3], got i32 [2]');
    expect(() => ropeDims({ theta: 1 }, [x([3, 1, 4]), { dtype: 'f32', shape: [3] }])).toThrow(
      'rope: positions must be i32 [3], got f32 [3]',
    );
  });
});

describe('rope reference over several tokens and heads', () => {
  it('token t, head h reads and writes its own row', () => {
    // T = 2, H = 2, D = 2 (one pair, frequency 1): row (t, h) = [a, b] rotates by its token's position
    const x = [1, 2, 3, 4, 5, 6, 7, 8];
    const got = run({ theta: 10000 }, x, [2, 2, 2], [1, 2]);
    const rot = (a: number, b: number, ang: number) => [
      a * Math.cos(ang) - b * Math.sin(ang),
      b * Math.cos(ang) + a * Math.sin(ang),
    ];
    const want = [...rot(1, 2, 1), ...rot(3, 4, 1), ...rot(5, 6, 2), ...rot(7, 8, 2)];
    got.forEach((v, k) => expect(v).toBeCloseTo(want[k]!, 14));
  });

  it('Llama-3 bands with a low-frequency factor other than 1', () => {
    // original 100, low factor 2, high factor 4: wavelengths > 50 divided by 10, < 25 kept, 25…50 blended
    const s = { factor: 10, lowFreqFactor: 2, highFreqFactor: 4, originalMaxPositions: 100 };
    const at = (w: number) => ropeInvFreqs(1 / ((2 * Math.PI) / w) ** 2, 4, s)[1]!;
    expect(at(60)).toBeCloseTo((2 * Math.PI) / 60 / 10, 14);
    expect(at(20)).toBeCloseTo((2 * Math.PI) / 20, 14);
    // wavelength 40: smooth = (100/40 − 2)/(4 − 2) = 1/4
    const inv = (2 * Math.PI) / 40;
    expect(at(40)).toBeCloseTo((3 / 4) * (inv / 10) + (1 / 4) * inv, 14);
  });
});
