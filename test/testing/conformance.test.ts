import { describe, expect, it } from 'vitest';
import { compare } from '../../src/testing/conformance.js';
import { describeConformance } from '../conformance-suite.js';

await describeConformance('conformance', { missingKernel: 'every op must have a WebGPU kernel' });

describe('compare', () => {
  it('never passes NaN', () => {
    expect(compare(new Float64Array([NaN]), new Float64Array([1]), { abs: 1, rel: 1 })).toMatch(/NaN/);
  });
  it('names the worst element', () => {
    expect(compare(new Float64Array([1, 2, 5]), new Float64Array([1, 2, 3]), { abs: 0.1, rel: 0 })).toMatch(/\[2\]/);
  });
  it('exact mode rejects any difference', () => {
    expect(compare(new Float64Array([3]), new Float64Array([3.0000001]), 'exact')).not.toBeNull();
  });
});
