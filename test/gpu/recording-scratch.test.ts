/**
 * Kernel scratch inside a recorded dispatch stream (recording.ts): op calls share it by kind, one
 * call asking twice for a kind gets two buffers, and every buffer made is owned by the stream.
 * A real stream's use of the shared scratch (the attention's partial states across layers) is
 * checked end to end by test/models/prefill-record.test.ts against the float64 oracle.
 */
import { describe, expect, it } from 'vitest';
import { type Recording, recordingScratch } from '../../src/backends/webgpu/recording.js';

describe('scratch of a recording', () => {
  it('is shared by op calls and distinct within one call', () => {
    const rec: Recording = { dispatches: [], owned: [], bound: new Set(), scratch: new Map(), callScratch: new Map() };
    let made = 0;
    const make = () => ({ id: made++ }) as unknown as GPUBuffer;
    const call = (kinds: [number, string][]) => {
      rec.callScratch.clear();
      return kinds.map(([bytes, label]) => recordingScratch(rec, bytes, label, make));
    };
    const first = call([
      [1024, 'attention.tmp_o'],
      [64, 'attention.tmp_lse'],
    ]);
    const second = call([
      [1024, 'attention.tmp_o'],
      [64, 'attention.tmp_lse'],
    ]);
    expect(second).toEqual(first);
    expect(second[0]).toBe(first[0]);
    const twice = call([
      [1024, 'attention.tmp_o'],
      [1024, 'attention.tmp_o'],
      [1024, 'other'],
    ]);
    expect(twice[0]).toBe(first[0]);
    expect(twice[1]).not.toBe(twice[0]);
    expect(twice[2]).not.toBe(twice[0]);
    expect(made).toBe(4);
    expect(rec.owned).toHaveLength(4);
  });
});
