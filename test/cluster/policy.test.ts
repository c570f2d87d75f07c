/**
 * The routing rules in order: room (running slots, then queue places, else full), longest cached
 * prefix, resident adapter, then consolidation onto the busiest instance with room; and the two
 * baselines. Cases are written out by hand: each names the rule that must decide it.
 */
import { describe, expect, it } from 'vitest';
import { type Candidate, chooseInstance } from '../../src/cluster/policy.js';
import { PrefixIndex, chatPrefixText, prefixBlockHashes } from '../../src/cluster/prefix-index.js';

const inst = (id: string, o: Partial<Candidate> = {}): Candidate => ({
  id,
  load: 0,
  maxRunning: 4,
  maxQueued: 2,
  pagesFree: 100,
  prefixBlocks: 0,
  adapterResident: false,
  ...o,
});
const plain = { usesAdapter: false };
const lora = { usesAdapter: true };

describe('chooseInstance (consolidate)', () => {
  it('packs onto the busiest instance that still has a running slot', () => {
    const d = chooseInstance(plain, [inst('a', { load: 1 }), inst('b', { load: 3 }), inst('c', { load: 4 })]);
    expect(d).toMatchObject({ kind: 'route', instance: 'b', reason: 'consolidate', load: 3, considered: 2 });
  });

  it('breaks ties by id, so an idle cluster fills one instance first', () => {
    expect(chooseInstance(plain, [inst('c'), inst('a'), inst('b')])).toMatchObject({ instance: 'a' });
  });

  it('skips an instance without free KV pages', () => {
    const d = chooseInstance(plain, [inst('a', { load: 3, pagesFree: 0 }), inst('b', { load: 1 })]);
    expect(d).toMatchObject({ instance: 'b', reason: 'consolidate' });
  });

  it('prefers the longest cached prefix over load', () => {
    const d = chooseInstance(plain, [
      inst('a', { load: 3, prefixBlocks: 1 }),
      inst('b', { load: 0, prefixBlocks: 5 }),
      inst('c', { load: 2, prefixBlocks: 5 }),
    ]);
    expect(d).toMatchObject({ instance: 'c', reason: 'prefix', prefixBlocks: 5 });
  });

  it('ignores the prefix of an instance without room', () => {
    const d = chooseInstance(plain, [inst('a', { load: 4, prefixBlocks: 9 }), inst('b', { load: 1 })]);
    expect(d).toMatchObject({ instance: 'b', reason: 'consolidate' });
  });

  it('prefers a resident adapter after the prefix', () => {
    const d = chooseInstance(lora, [inst('a', { load: 3 }), inst('b', { load: 0, adapterResident: true })]);
    expect(d).toMatchObject({ instance: 'b', reason: 'adapter', adapterResident: true });
    const withPrefix = chooseInstance(lora, [
      inst('a', { prefixBlocks: 2 }),
      inst('b', { prefixBlocks: 2, adapterResident: true }),
      inst('c', { prefixBlocks: 1, adapterResident: true, load: 3 }),
    ]);
    expect(withPrefix).toMatchObject({ instance: 'b', reason: 'prefix', adapterResident: true });
    // a resident adapter means nothing for a base-model request
    expect(chooseInstance(plain, [inst('a', { load: 2 }), inst('b', { adapterResident: true })])).toMatchObject({
      instance: 'a',
    });
  });

  it('queues on the shortest queue when no running slot is left, and is full beyond', () => {
    const d = chooseInstance(plain, [inst('a', { load: 5 }), inst('b', { load: 4 })]);
    expect(d).toMatchObject({ instance: 'b', reason: 'queue' });
    expect(chooseInstance(plain, [inst('a', { load: 6 }), inst('b', { load: 6 })])).toEqual({
      kind: 'full',
      reason: 'cluster_full',
      considered: 0,
    });
    expect(chooseInstance(plain, [])).toMatchObject({ kind: 'full', reason: 'no_instance' });
  });
});

describe('baselines', () => {
  const pool = [inst('a', { load: 2 }), inst('b', { load: 1, prefixBlocks: 4 }), inst('c', { load: 3 })];
  it('least-loaded ignores locality', () => {
    expect(chooseInstance(plain, pool, 'least-loaded')).toMatchObject({ instance: 'b', reason: 'least-loaded' });
    expect(chooseInstance(plain, [inst('a', { load: 2 }), inst('b', { load: 3 })], 'least-loaded')).toMatchObject({
      instance: 'a',
    });
  });
  it('round-robin turns through the instances with room', () => {
    const picks = [0, 1, 2, 3].map(
      (t) => (chooseInstance(plain, pool, 'round-robin', t) as { instance: string }).instance,
    );
    expect(picks).toEqual(['a', 'b', 'c', 'a']);
  });
});

describe('PrefixIndex', () => {
  it('matches the leading blocks an instance was sent, chained so a differing early block breaks the match', () => {
    const shared = 'S'.repeat(200);
    const a = prefixBlockHashes(`${shared} question one`, 64);
    const b = prefixBlockHashes(`${shared} question two is longer than the first one by far`, 64);
    expect(a.length).toBe(3);
    expect(b.slice(0, 3)).toEqual(a);
    const other = prefixBlockHashes(`X${shared.slice(1)} question one`, 64);
    expect(other.some((h, i) => h === a[i])).toBe(false);
    const index = new PrefixIndex(8);
    index.record('i1', a);
    expect(index.matchedBlocks('i1', b)).toBe(3);
    expect(index.matchedBlocks('i2', b)).toBe(0);
    expect(index.matchedBlocks('i1', other)).toBe(0);
    index.forget('i1');
    expect(index.matchedBlocks('i1', b)).toBe(0);
  });

  it('keeps at most its bound per instance, dropping the least recently used blocks', () => {
    const index = new PrefixIndex(4);
    const p1 = prefixBlockHashes('a'.repeat(64 * 3), 64);
    const p2 = prefixBlockHashes('b'.repeat(64 * 3), 64);
    index.record('i', p1);
    index.record('i', p2);
    expect(index.blocksHeld('i')).toBe(4);
    expect(index.matchedBlocks('i', p2)).toBe(3);
    expect(index.matchedBlocks('i', p1)).toBe(0); // its first block went first
  });

  it('renders chat messages with their roles, so the same text in another role is another prefix', () => {
    const user = chatPrefixText([{ role: 'user', content: 'hello' }]);
    const system = chatPrefixText([{ role: 'system', content: 'hello' }]);
    expect(user).not.toBe(system);
    expect(chatPrefixText([{ role: 'user', content: [{ type: 'text', text: 'x' }] }])).toContain('"text":"x"');
  });
});
