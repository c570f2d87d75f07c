/**
 * The sampler against an independent float64 model of its contract (the device `sample` op's,
 * src/ops/sample.ts), draw by draw: penalties and bias are applied by hand, the kept set is the
 * tokens at or above the top-k, top-p and min-p logit thresholds (ties at a boundary all kept),
 * and the token is the inverse CDF of the kept weights in token-id order at the counter-based
 * uniform u(seed, stream, step) of src/util/rng.ts (shared with the GPU sampler, so it is the
 * contract's input rather than the code under test). Fixed seeds.
 */
import { describe, expect, it } from 'vitest';
import { argmax, sampleToken, type SamplerContext } from '../../src/engine/sampler.js';
import { resolveSamplingParams, type SamplingParams } from '../../src/engine/sampling-params.js';
import { Rng, uniformAt } from '../../src/util/rng.js';

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

/**
 * The expected token, in float64 from the definitions (the `sample` op's contract): T, top-p and
 * min-p as f32; each filter a threshold on the logit (ties at a boundary kept); the inverse CDF of
 * the kept weights in token-id order.
 */
function expectedDraw(logits: number[], p: SamplingParams, seed: number, stream: number, step: number): number {
  const T = Math.fround(p.temperature);
  const max = Math.max(...logits);
  const weight = logits.map((x) => Math.exp((x - max) / T));
  const desc = [...logits].sort((a, b) => b - a);
  const tk = p.topK > 0 && p.topK < logits.length ? desc[p.topK - 1]! : -Infinity;
  let tp = -Infinity;
  const topP = Math.fround(p.topP);
  if (topP < 1) {
    const massAtLeast = (v: number) => weight.reduce((a, w, i) => (logits[i]! >= v && logits[i]! >= tk ? a + w : a), 0);
    const Z = massAtLeast(tk);
    tp = desc.find((v) => v >= tk && massAtLeast(v) >= topP * Z)!;
  }
  const tm = p.minP > 0 ? max + T * Math.log(Math.fround(p.minP)) : -Infinity;
  const thr = Math.max(tk, tp, tm);
  const kept = weight.map((w, i) => (logits[i]! >= thr ? w : 0));
  const u = uniformAt(seed, stream, step) * kept.reduce((a, b) => a + b, 0);
  let acc = 0;
  for (let i = 0; i < kept.length; i++) {
    acc += kept[i]!;
    if (kept[i]! > 0 && u < acc) return i;
  }
  return kept.findLastIndex((w) => w > 0);
}

describe('sampler draws match the float64 model draw by draw', () => {
  const rng = new Rng(2024);
  // well-separated logits, so no float32 rounding can move a top-p or min-p boundary
  const logits = Array.from({ length: 12 }, (_, i) => 0.37 * i - 2 + 0.01 * rng.next());
  const configs: Partial<SamplingParams>[] = [
    { temperature: 1 },
    { temperature: 0.6 },
    { temperature: 1.7 },
    { temperature: 1, topK: 1 },
    { temperature: 1, topK: 3 },
    { temperature: 1, topK: 12 },
    { temperature: 1, topK: 50 },
    { temperature: 1, topP: 0.5 },
    { temperature: 0.8, topP: 0.93 },
    { temperature: 1, minP: 0.2 },
    { temperature: 1, minP: 1 },
    { temperature: 1.3, topK: 6, topP: 0.9, minP: 0.05 },
  ];
  it.each(configs.map((c) => [JSON.stringify(c), c] as const))('%s (seed 77, streams 0 and 3, steps 0…299)', (_, c) => {
    const p = params(c);
    const x = Float32Array.from(logits);
    const f64 = Array.from(x);
    for (const stream of [0, 3]) {
      for (let step = 0; step < 300; step++) {
        expect(sampleToken(x, p, ctx({ seed: 77, stream, step })).token, `stream ${stream} step ${step}`).toBe(
          expectedDraw(f64, p, 77, stream, step),
        );
      }
    }
  });

  it('tied logits at a boundary are kept together, draw by draw', () => {
    const tied = [1, 0.5, 1, 1, -0.5, 0.5];
    for (const c of [{ temperature: 1 }, { temperature: 1, topK: 2 }, { temperature: 1, topP: 0.5 }]) {
      const p = params(c);
      for (let step = 0; step < 200; step++)
        expect(
          sampleToken(Float32Array.from(tied), p, ctx({ seed: 5, step })).token,
          `${JSON.stringify(c)} step ${step}`,
        ).toBe(expectedDraw(tied, p, 5, 0, step));
    }
  });

  it('large logits neither overflow nor change the draw (softmax ignores a common shift)', () => {
    const base = [0.3, -1, 2, 1.5, 0];
    const p = params({ temperature: 1, topP: 0.9 });
    for (let step = 0; step < 100; step++) {
      const want = expectedDraw(base, p, 8, 0, step);
      expect(
        sampleToken(
          Float32Array.from(base, (v) => v + 400),
          p,
          ctx({ seed: 8, step }),
        ).token,
      ).toBe(want);
    }
  });

  it('top-k keeps every token tied with the k-th', () => {
    const x = Float32Array.from([1, 2, 2, 2, 0]);
    const p = params({ temperature: 1, topK: 2 });
    const seen = new Set<number>();
    for (let step = 0; step < 200; step++) seen.add(sampleToken(x, p, ctx({ step })).token);
    expect([...seen].sort()).toEqual([1, 2, 3]);
  });

  it('tokens far below the best and after it in id order hold a sliver at the top of [0, Z): not drawn', () => {
    const x = Float32Array.from([0, -41, -39.5]);
    const p = params({ temperature: 1 });
    expect(sampleToken(x, p, ctx()).token).toBe(0);
    // temperature 0.5 doubles the gap: −30 becomes 60 below
    const hot = params({ temperature: 0.5 });
    expect(sampleToken(Float32Array.from([0, -30]), hot, ctx()).token).toBe(0);
  });
});

describe('penalties and bias, by hand', () => {
  it('repetition penalty divides a positive logit and multiplies a negative one', () => {
    // token 0: 2 / 4 = 0.5; token 1: −0.2 · 4 = −0.8; token 2 (unseen): 0.6 → token 2 wins
    const x = Float32Array.from([2, -0.2, 0.6]);
    const p = params({ temperature: 0, repetitionPenalty: 4 });
    expect(sampleToken(x, p, ctx({ seen: new Set([0, 1]) })).token).toBe(2);
    // only token 1 seen: −0.8 against 2 and 0.6 → token 0
    expect(sampleToken(x, p, ctx({ seen: new Set([1]) })).token).toBe(0);
    // a penalty below 1 boosts a negative seen logit: −0.2 · 0.01 = −0.002 > −0.1
    const y = Float32Array.from([-0.1, -0.2]);
    expect(sampleToken(y, params({ temperature: 0, repetitionPenalty: 0.01 }), ctx({ seen: new Set([1]) })).token).toBe(
      1,
    );
    // seen ids past the vocabulary are ignored
    expect(sampleToken(x, p, ctx({ seen: new Set([7]) })).token).toBe(0);
  });

  it('presence subtracts once, frequency once per occurrence', () => {
    const x = Float32Array.from([1, 1.25]);
    // presence 0.2: 1.25 − 0.2 = 1.05 > 1 → still token 1; with count 3 and frequency 0.05: 1.25 − 0.2 − 0.15 = 0.9 → token 0
    expect(
      sampleToken(x, params({ temperature: 0, presencePenalty: 0.2 }), ctx({ outputCounts: new Map([[1, 3]]) })).token,
    ).toBe(1);
    expect(
      sampleToken(
        x,
        params({ temperature: 0, presencePenalty: 0.2, frequencyPenalty: 0.05 }),
        ctx({ outputCounts: new Map([[1, 3]]) }),
      ).token,
    ).toBe(0);
    // frequency alone: 1.25 − 0.1·2 = 1.05 → token 1; count 3 → 0.95 → token 0
    expect(
      sampleToken(x, params({ temperature: 0, frequencyPenalty: 0.1 }), ctx({ outputCounts: new Map([[1, 2]]) })).token,
    ).toBe(1);
    expect(
      sampleToken(x, params({ temperature: 0, frequencyPenalty: 0.1 }), ctx({ outputCounts: new Map([[1, 3]]) })).token,
    ).toBe(0);
    // a negative presence penalty raises the token
    expect(
      sampleToken(x, params({ temperature: 0, presencePenalty: -0.5 }), ctx({ outputCounts: new Map([[0, 1]]) })).token,
    ).toBe(0);
  });

  it('logit bias adds (negative too) and ignores ids outside the vocabulary', () => {
    const x = Float32Array.from([1, 2, 1.5]);
    expect(sampleToken(x, params({ temperature: 0, logitBias: new Map([[1, -0.6]]) }), ctx()).token).toBe(2);
    expect(sampleToken(x, params({ temperature: 0, logitBias: new Map([[0, 0.9]]) }), ctx()).token).toBe(1);
    expect(sampleToken(x, params({ temperature: 0, logitBias: new Map([[0, 1.1]]) }), ctx()).token).toBe(0);
    expect(
      sampleToken(
        x,
        params({
          temperature: 0,
          logitBias: new Map([
            [-1, 100],
            [3, 100],
          ]),
        }),
        ctx(),
      ).token,
    ).toBe(1);
  });

  it('every token masked out or −∞ is an error, greedy or not', () => {
    const x = Float32Array.from([-Infinity, -Infinity]);
    expect(() => sampleToken(x, params({ temperature: 0 }), ctx())).toThrow('sampling: no token is allowed');
    expect(() => sampleToken(x, params({ temperature: 1 }), ctx())).toThrow('sampling: no token is allowed');
    expect(() => sampleToken(Float32Array.from([NaN, NaN]), params({ temperature: 1 }), ctx())).toThrow(/no token/);
  });
});

describe('argmax', () => {
  it('first maximum, −1 when nothing is finite or greater than −∞', () => {
    expect(argmax(Float32Array.from([-5, -2, -2, -7]))).toBe(1);
    expect(argmax(Float32Array.from([3]))).toBe(0);
    expect(argmax(Float32Array.from([-Infinity, -Infinity]))).toBe(-1);
    expect(argmax(new Float32Array(0))).toBe(-1);
    expect(argmax(Float32Array.from([NaN, 1, NaN]))).toBe(1);
  });
});

describe('raw logprobs', () => {
  const x = [0.5, 2, -1, 2, 1];
  const lse = Math.log(x.reduce((a, v) => a + Math.exp(v), 0));
  it('the sampled token gets log softmax of the raw logits; no list without top_logprobs', () => {
    const r = sampleToken(Float32Array.from(x), params({ temperature: 0, logprobs: true }), ctx());
    expect(r.token).toBe(1);
    expect(r.logprob).toBeCloseTo(2 - lse, 6);
    expect(r.topLogprobs).toBeUndefined();
    expect(sampleToken(Float32Array.from(x), params({ temperature: 0 }), ctx())).toEqual({ token: 1 });
  });
  it('log-probabilities stay finite next to a logit 800 above the rest', () => {
    const r = sampleToken(
      Float32Array.from([800, 0]),
      params({ temperature: 0, logprobs: true, topLogprobs: 2 }),
      ctx(),
    );
    expect(r.logprob).toBeCloseTo(0, 12);
    expect(r.topLogprobs!.map((t) => t.logprob)).toEqual([r.logprob, -800]);
  });
  it('top alternatives: best first, ties by lower id, at most the vocabulary', () => {
    const r = sampleToken(Float32Array.from(x), params({ temperature: 0, logprobs: true, topLogprobs: 4 }), ctx());
    expect(r.topLogprobs!.map((t) => t.token)).toEqual([1, 3, 4, 0]);
    r.topLogprobs!.forEach((t) => expect(t.logprob).toBeCloseTo(x[t.token]! - lse, 6));
    const all = sampleToken(Float32Array.from(x), params({ temperature: 0, logprobs: true, topLogprobs: 20 }), ctx());
    expect(all.topLogprobs!.map((t) => t.token)).toEqual([1, 3, 4, 0, 2]);
    const one = sampleToken(Float32Array.from(x), params({ temperature: 0, logprobs: true, topLogprobs: 1 }), ctx());
    expect(one.topLogprobs!.map((t) => t.token)).toEqual([1]);
  });
});
