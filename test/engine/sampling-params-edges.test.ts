/**
 * Range checks of resolveSamplingParams at every boundary: the last accepted value and the first
 * rejected one on each side, with the error naming the field. The ranges are the documented ones
 * (OpenAI's API and the SamplingParams comments), written out here, not read from the code.
 */
import { describe, expect, it } from 'vitest';
import { defaultSamplingParams, resolveSamplingParams, type SamplingParams } from '../../src/engine/sampling-params.js';

type Case = [field: keyof SamplingParams, value: number, message: RegExp | null];

const cases: Case[] = [
  ['temperature', 0, null],
  ['temperature', 2.5, null],
  ['temperature', -1e-9, /^temperature must be ≥ 0$/],
  ['temperature', Infinity, /^temperature/],
  ['temperature', NaN, /^temperature/],
  ['topK', 0, null],
  ['topK', 40, null],
  ['topK', -1, /^top_k must be an integer ≥ 0$/],
  ['topK', 2.5, /^top_k/],
  ['topP', 1, null],
  ['topP', 1e-9, null],
  ['topP', 0, /^top_p must be in \(0, 1\]$/],
  ['topP', 1.000001, /^top_p/],
  ['minP', 0, null],
  ['minP', 1, null],
  ['minP', -1e-9, /^min_p must be in \[0, 1\]$/],
  ['minP', 1.000001, /^min_p/],
  ['repetitionPenalty', 1e-9, null],
  ['repetitionPenalty', 0, /^repetition_penalty must be > 0$/],
  ['repetitionPenalty', -1, /^repetition_penalty/],
  ['presencePenalty', -2, null],
  ['presencePenalty', Infinity, /^penalties must be finite$/],
  ['frequencyPenalty', 2, null],
  ['frequencyPenalty', -Infinity, /^penalties must be finite$/],
  ['frequencyPenalty', NaN, /^penalties/],
  ['maxTokens', 1, null],
  ['maxTokens', 0, /^max_tokens must be an integer ≥ 1$/],
  ['maxTokens', 1.5, /^max_tokens/],
  ['n', 1, null],
  ['n', 0, /^n must be an integer ≥ 1$/],
  ['n', 2.5, /^n must/],
  ['topLogprobs', 0, null],
  ['topLogprobs', 20, null],
  ['topLogprobs', 21, /^top_logprobs must be an integer in \[0, 20\]$/],
  ['topLogprobs', -1, /^top_logprobs/],
  ['topLogprobs', 1.5, /^top_logprobs/],
];

describe('sampling parameter ranges', () => {
  it.each(cases)('%s = %d → %s', (field, value, message) => {
    const resolve = () => resolveSamplingParams({ [field]: value });
    if (message === null) expect(resolve()[field]).toBe(value);
    else expect(resolve).toThrow(message);
  });

  it('an empty request gets the documented defaults', () => {
    const p = resolveSamplingParams({});
    expect(p).toMatchObject({
      temperature: 1,
      topK: 0,
      topP: 1,
      minP: 0,
      presencePenalty: 0,
      frequencyPenalty: 0,
      repetitionPenalty: 1,
      logprobs: false,
      topLogprobs: 0,
      ignoreEos: false,
      maxTokens: 16,
      n: 1,
    });
    expect(p.stop).toEqual([]);
    expect(p.stopTokenIds).toEqual([]);
    expect(p.logitBias.size).toBe(0);
    expect(p.seed).toBeUndefined();
  });

  it('given fields override the defaults and leave the defaults object alone', () => {
    const p = resolveSamplingParams({ temperature: 0, maxTokens: 3 });
    expect(p.temperature).toBe(0);
    expect(p.maxTokens).toBe(3);
    expect(defaultSamplingParams.temperature).toBe(1);
    expect(defaultSamplingParams.maxTokens).toBe(16);
  });

  it('errors are RangeErrors', () => {
    expect(() => resolveSamplingParams({ n: 0 })).toThrow(RangeError);
  });
});
