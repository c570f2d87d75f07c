/** Which stream serves a step, in how many rows (step-padding.ts `stepShape`), checked case by case against the rules written there. */
import { describe, expect, it } from 'vitest';
import { StepError } from '../../src/models/llama/step-rows.js';
import {
  bucketKey,
  defaultDecodeBatchBuckets,
  defaultMixedRowBuckets,
  stepShape,
} from '../../src/models/llama/step-padding.js';

const on = {
  recordable: true,
  recordDecode: true,
  prefillCapacity: 3,
  mixedCapacity: 8,
  mixedRowBuckets: defaultMixedRowBuckets(512),
  maxTokens: 512,
  maxSeqs: 64,
};

describe('stepShape', () => {
  it('sends each step to its stream and row bucket', () => {
    expect(stepShape(5, 5, on)).toEqual({ kind: 'decode', rows: 5, logitRows: 5 });
    expect(stepShape(100, 1, on)).toEqual({ kind: 'prefill', rows: 128, logitRows: 1 });
    expect(stepShape(1, 1, on)).toEqual({ kind: 'decode', rows: 1, logitRows: 1 });
    // a prefill chunk beside 5 decodes: 70 + 5 rows in the 128-row bucket, logits rows min(128, maxSeqs),
    // the same for any sequence count in that bucket (one recording serves them all)
    expect(stepShape(75, 6, on)).toEqual({ kind: 'mixed', rows: 128, logitRows: 64 });
    expect(stepShape(75, 40, on)).toEqual({ kind: 'mixed', rows: 128, logitRows: 64 });
    expect(stepShape(12, 3, on)).toEqual({ kind: 'mixed', rows: 16, logitRows: 16 });
  });

  it('replays the smallest decode batch bucket that holds the batch', () => {
    // 1, 2, 4, then multiples of 8, then maxSeqs itself
    expect(defaultDecodeBatchBuckets(64)).toEqual([1, 2, 4, 8, 16, 24, 32, 40, 48, 56, 64]);
    expect(defaultDecodeBatchBuckets(20)).toEqual([1, 2, 4, 8, 16, 20]);
    expect(defaultDecodeBatchBuckets(3)).toEqual([1, 2, 3]);
    expect(defaultDecodeBatchBuckets(1)).toEqual([1]);
    expect(defaultDecodeBatchBuckets(256)).toHaveLength(35);
    const bucketed = { ...on, decodeBatchBuckets: defaultDecodeBatchBuckets(64) };
    expect(stepShape(3, 3, bucketed)).toEqual({ kind: 'decode', rows: 4, logitRows: 4 });
    expect(stepShape(9, 9, bucketed)).toEqual({ kind: 'decode', rows: 16, logitRows: 16 });
    expect(stepShape(16, 16, bucketed)).toEqual({ kind: 'decode', rows: 16, logitRows: 16 });
    expect(stepShape(57, 57, bucketed)).toEqual({ kind: 'decode', rows: 64, logitRows: 64 });
    expect(stepShape(1, 1, bucketed)).toEqual({ kind: 'decode', rows: 1, logitRows: 1 });
    // steps that are not pure decodes are untouched by the decode buckets
    expect(stepShape(12, 3, bucketed)).toEqual(stepShape(12, 3, on));
  });

  it('runs unrecorded where recording is off, in buckets only where they are on', () => {
    expect(stepShape(75, 6, { ...on, mixedCapacity: 0 })).toEqual({ kind: 'transient', rows: 128, logitRows: 6 });
    expect(stepShape(75, 6, { ...on, mixedRowBuckets: null, mixedCapacity: 0 })).toEqual({
      kind: 'transient',
      rows: 75,
      logitRows: 6,
    });
    expect(stepShape(5, 5, { ...on, recordable: false })).toEqual({ kind: 'transient', rows: 5, logitRows: 5 });
    expect(stepShape(100, 1, { ...on, recordable: false })).toEqual({ kind: 'transient', rows: 100, logitRows: 1 });
    expect(stepShape(100, 1, { ...on, prefillCapacity: 0 })).toEqual({ kind: 'transient', rows: 128, logitRows: 1 });
  });

  it('takes padTo as the rows of an unrecorded step and refuses rows that cannot hold the step', () => {
    const test = { ...on, recordable: false, padTo: 40 };
    expect(stepShape(33, 2, test)).toEqual({ kind: 'transient', rows: 40, logitRows: 2 });
    expect(() => stepShape(41, 2, test)).toThrow(StepError);
    expect(() => stepShape(3, 2, { ...test, padTo: 600 })).toThrow(/runs in 3…512 rows/);
  });

  it('sends a lone prompt whose prefill bucket is not recorded to its recorded mixed bucket, else to the prefill bucket', () => {
    const recordedKeys = { prefill: new Set([256, 512]), mixed: new Set([bucketKey(128, 64), bucketKey(32, 32)]) };
    const recorded = (kind: 'prefill' | 'mixed', key: number) => recordedKeys[kind].has(key);
    // 100 tokens: prefill bucket 128 is not recorded, mixed bucket 128 (64 logits rows) is
    expect(stepShape(100, 1, { ...on, recorded })).toEqual({ kind: 'mixed', rows: 128, logitRows: 64 });
    // 20 tokens: the mixed bucket of 32 rows, logits rows min(32, maxSeqs)
    expect(stepShape(20, 1, { ...on, recorded })).toEqual({ kind: 'mixed', rows: 32, logitRows: 32 });
    // 200 tokens: prefill bucket 256 is recorded, so it serves
    expect(stepShape(200, 1, { ...on, recorded })).toEqual({ kind: 'prefill', rows: 256, logitRows: 1 });
    // 40 tokens: neither prefill 64 nor mixed 64 recorded: the prefill bucket is recorded (it runs cheaper)
    expect(stepShape(40, 1, { ...on, recorded })).toEqual({ kind: 'prefill', rows: 64, logitRows: 1 });
    // mixed buckets off: always the prefill bucket
    expect(stepShape(100, 1, { ...on, mixedRowBuckets: null, mixedCapacity: 0, recorded })).toEqual({
      kind: 'prefill',
      rows: 128,
      logitRows: 1,
    });
  });
});
