/**
 * Kernel scratch of recorded dispatch streams (recording.ts): op calls share it by kind, one call
 * asking twice for a kind gets two buffers, other streams share the same buffers, and a buffer is
 * destroyed exactly when the last stream that binds it is released. A real stream's use of the
 * shared scratch (the attention's partial states across layers) is checked end to end by
 * test/models/prefill-record.test.ts against the float64 oracle, and streams that share it
 * replaying in turn by test/models/decode-shared-storage.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { RecordedScratch, type Recording, recordingScratch } from '../../src/backends/webgpu/recording.js';

/** Stand-in buffers that count their destruction. */
function maker() {
  const destroyed: number[] = [];
  let made = 0;
  const make = () => {
    const id = made++;
    return { id, size: 1024, destroy: () => destroyed.push(id) } as unknown as GPUBuffer;
  };
  return { make, destroyed, made: () => made };
}

const recording = (scratch: RecordedScratch): Recording => ({
  dispatches: [],
  owned: [],
  bound: new Set(),
  scratch,
  taken: new Set(),
  callScratch: new Map(),
});

function call(rec: Recording, make: () => GPUBuffer, kinds: [number, string][]): GPUBuffer[] {
  rec.callScratch.clear();
  return kinds.map(([bytes, label]) => recordingScratch(rec, bytes, label, make));
}

describe('scratch of recorded streams', () => {
  it('is shared by op calls and distinct within one call', () => {
    const m = maker();
    const rec = recording(new RecordedScratch());
    const pair: [number, string][] = [
      [1024, 'attention.tmp_o'],
      [64, 'attention.tmp_lse'],
    ];
    const first = call(rec, m.make, pair);
    const second = call(rec, m.make, pair);
    expect(second[0]).toBe(first[0]);
    expect(second[1]).toBe(first[1]);
    const twice = call(rec, m.make, [
      [1024, 'attention.tmp_o'],
      [1024, 'attention.tmp_o'],
      [1024, 'other'],
    ]);
    expect(twice[0]).toBe(first[0]);
    expect(twice[1]).not.toBe(twice[0]);
    expect(twice[2]).not.toBe(twice[0]);
    expect(m.made()).toBe(4);
    expect(rec.owned, 'scratch is not the stream own').toHaveLength(0);
    expect(rec.taken.size).toBe(4);
  });

  it('is shared across streams and destroyed with the last stream that binds it', () => {
    const m = maker();
    const shared = new RecordedScratch();
    const a = recording(shared);
    const b = recording(shared);
    const [a0] = call(a, m.make, [[1024, 'attention.tmp_o']]);
    const [b0, b1] = call(b, m.make, [
      [1024, 'attention.tmp_o'],
      [1024, 'attention.tmp_o'],
    ]);
    expect(b0).toBe(a0);
    expect(m.made()).toBe(2);
    shared.release(a.taken);
    expect(m.destroyed, 'b still binds both').toEqual([]);
    // a third stream recorded now reuses what b keeps alive
    const c = recording(shared);
    expect(call(c, m.make, [[1024, 'attention.tmp_o']])[0]).toBe(b0);
    shared.release(b.taken);
    expect(m.destroyed, 'only c binds the first').toEqual([(b1 as unknown as { id: number }).id]);
    shared.release(c.taken);
    expect(m.destroyed.sort()).toEqual([0, 1]);
    expect(shared.bytes).toBe(0);
  });
});
