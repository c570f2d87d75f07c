import { describe, expect, it } from 'vitest';
import { argmax, sampleToken, type SamplerContext } from '../../src/engine/sampler.js';
import { resolveSamplingParams, type SamplingParams } from '../../src/engine/sampling-params.js';
import { Rng } from '../../src/util/rng.js';

const ctx = (over: Partial<SamplerContext> = {}): SamplerContext => ({
  seen: new Set(),
  outputCounts: new Map(),
  seed: 1,
  stream: 0,
  step: 0,
  mask: null,
  ...over,
});
const params = (over: Partial<SamplingParams>) => resolveSamplingParams(over);

/** Empirical distribution of `draws` samples with steps 0 … draws−1. */
function histogram(logits: Float32Array, p: SamplingParams, draws: number): number[] {
  const counts = new Array(logits.length).fill(0);
  for (let s = 0; s < draws; s++) counts[sampleToken(logits, p, ctx({ step: s, seed: 5 })).token]++;
  return counts.map((c) => c / draws);
}

describe('sampler', () => {
  const logits = Float32Array.from([2, 1, 0.5, 0, -1, 3]);

  it('greedy picks the argmax (lowest index on ties) and respects the mask', () => {
    expect(sampleToken(logits, params({ temperature: 0 }), ctx()).token).toBe(5);
    expect(argmax(Float32Array.from([1, 4, 4]))).toBe(1);
    const mask = new Int32Array([0b000110]);
    expect(sampleToken(logits, params({ temperature: 0 }), ctx({ mask })).token).toBe(1);
    for (let s = 0; s < 50; s++)
      expect([1, 2]).toContain(sampleToken(logits, params({ temperature: 1 }), ctx({ mask, step: s })).token);
    expect(() => sampleToken(logits, params({ temperature: 0 }), ctx({ mask: new Int32Array([0]) }))).toThrow(
      /no token/,
    );
  });

  it('temperature sampling follows softmax(logits / T)', () => {
    const T = 0.7;
    const probs = Array.from(logits, (x) => Math.exp(x / T));
    const z = probs.reduce((a, b) => a + b);
    const freq = histogram(logits, params({ temperature: T }), 20000);
    probs.forEach((p, i) => expect(Math.abs(freq[i]! - p / z)).toBeLessThan(0.015));
  });

  it('top-k, top-p and min-p keep exactly the intended tokens, renormalized', () => {
    const topK = histogram(logits, params({ temperature: 1, topK: 2 }), 4000);
    expect(topK.map((f, i) => (f > 0 ? i : -1)).filter((i) => i >= 0)).toEqual([0, 5]);
    expect(Math.abs(topK[5]! - Math.exp(3) / (Math.exp(3) + Math.exp(2)))).toBeLessThan(0.03);
    // softmax: p5 ≈ .594, p0 ≈ .219, p1 ≈ .080: top_p 0.8 needs tokens 5 and 0 (.813).
    const topP = histogram(logits, params({ temperature: 1, topP: 0.8 }), 4000);
    expect(topP.map((f, i) => (f > 0 ? i : -1)).filter((i) => i >= 0)).toEqual([0, 5]);
    // min_p 0.1 of p5: keeps p ≥ .0594 → tokens 5, 0, 1.
    const minP = histogram(logits, params({ temperature: 1, minP: 0.1 }), 4000);
    expect(minP.map((f, i) => (f > 0 ? i : -1)).filter((i) => i >= 0)).toEqual([0, 1, 5]);
  });

  it('penalties and logit bias move the choice', () => {
    const flat = Float32Array.from([1, 1.2, 0.9]);
    expect(sampleToken(flat, params({ temperature: 0 }), ctx()).token).toBe(1);
    expect(
      sampleToken(flat, params({ temperature: 0, presencePenalty: 0.5 }), ctx({ outputCounts: new Map([[1, 1]]) }))
        .token,
    ).toBe(0);
    expect(
      sampleToken(flat, params({ temperature: 0, frequencyPenalty: 0.1 }), ctx({ outputCounts: new Map([[1, 3]]) }))
        .token,
    ).toBe(0);
    expect(
      sampleToken(flat, params({ temperature: 0, repetitionPenalty: 1.5 }), ctx({ seen: new Set([1]) })).token,
    ).toBe(0);
    expect(sampleToken(flat, params({ temperature: 0, logitBias: new Map([[2, 5]]) }), ctx()).token).toBe(2);
  });

  it('is a pure function of (seed, stream, step) and differs across streams', () => {
    const rng = new Rng(3);
    const wide = Float32Array.from({ length: 1000 }, () => rng.normal());
    const p = params({ temperature: 1 });
    const a = Array.from({ length: 20 }, (_, s) => sampleToken(wide, p, ctx({ seed: 9, step: s })).token);
    const b = Array.from({ length: 20 }, (_, s) => sampleToken(wide, p, ctx({ seed: 9, step: s })).token);
    const c = Array.from({ length: 20 }, (_, s) => sampleToken(wide, p, ctx({ seed: 9, step: s, stream: 1 })).token);
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
  });

  it('logprobs come from the raw distribution, top alternatives best first', () => {
    const r = sampleToken(
      logits,
      params({ temperature: 0, logprobs: true, topLogprobs: 3, presencePenalty: 2 }),
      ctx({ outputCounts: new Map([[5, 1]]) }),
    );
    const lse = Math.log(Array.from(logits).reduce((a, x) => a + Math.exp(x), 0));
    // The penalty moves the choice (token 5: 3 − 2 < 2) but not the reported distribution.
    expect(r.token).toBe(0);
    expect(r.logprob).toBeCloseTo(2 - lse, 5);
    expect(r.topLogprobs!.map((t) => t.token)).toEqual([5, 0, 1]);
    expect(r.topLogprobs![0]!.logprob).toBeCloseTo(3 - lse, 5);
  });
});
