/** The adapter registry's slots: LRU eviction, pins held by running steps, budgets, removal. */
import { describe, expect, it } from 'vitest';
import { slotBlock, slotBytes } from '../../src/lora/adapter-stacks.js';
import { AdapterRegistry } from '../../src/lora/adapter-registry.js';
import { llamaLoraShapes, type LoraModule } from '../../src/lora/modules.js';
import type { LoraAdapter } from '../../src/lora/peft-adapter.js';
import { parseLoraConfig } from '../../src/lora/peft-config.js';

const base = llamaLoraShapes({
  numLayers: 1,
  hiddenSize: 4,
  intermediateSize: 6,
  numHeads: 2,
  numKvHeads: 1,
  headDim: 2,
});

function fake(name: string, rank: number, targets: LoraModule[] = ['q_proj']): LoraAdapter {
  const config = parseLoraConfig({ r: rank, lora_alpha: rank, target_modules: targets });
  const layer = new Map(
    targets.map((m) => {
      const [out, inn] = base.modules[m];
      return [
        m,
        {
          a: Float32Array.from({ length: rank * inn }, (_, i) => i + 1),
          b: Float32Array.from({ length: out * rank }, (_, i) => -(i + 1)),
        },
      ];
    }),
  );
  return { name, config, layers: [layer], bytes: 0 };
}

function registry(slots: number) {
  const log: string[] = [];
  const r = new AdapterRegistry({ slots, rmax: 8, upload: (s, a) => log.push(`${a.name}->${s}`) });
  for (const n of ['a', 'b', 'c']) r.add(fake(n, 2));
  return { r, log };
}

describe('adapter registry', () => {
  it('uploads on first use, reuses resident slots, evicts the least recently used', () => {
    const { r, log } = registry(2);
    const s1 = r.acquire(['a', 'b', 'a']);
    r.release(['a', 'b']);
    expect([...s1.entries()]).toEqual([
      ['a', 0],
      ['b', 1],
    ]);
    r.acquire(['a']); // a is now the most recent
    r.release(['a']);
    r.acquire(['c']); // evicts b
    r.release(['c']);
    expect(log).toEqual(['a->0', 'b->1', 'c->1']);
    expect(r.uploads).toBe(3);
  });

  it('never evicts a slot a running step has pinned', () => {
    const { r } = registry(2);
    r.acquire(['a', 'b']);
    expect(() => r.acquire(['c'])).toThrow(/all 2 are in use/);
    expect(() => r.remove('a')).toThrow(/in use by a running step/);
    r.release(['a']);
    expect(r.acquire(['c']).get('c')).toBe(0);
  });

  it('refuses a step with more adapters than slots, and ranks over the maximum', () => {
    const { r } = registry(2);
    expect(() => r.acquire(['a', 'b', 'c'])).toThrow(/uses 3 adapters, the GPU budget holds 2/);
    expect(() => r.add(fake('big', 16))).toThrow(/rank 16 exceeds the server's maximum 8/);
    expect(() => r.acquire(['zz'])).toThrow(/no adapter 'zz'/);
  });

  it('lays an adapter into slot blocks: A rows first, B padded per row, rank 0 where untargeted', () => {
    const a = fake('x', 2, ['q_proj']);
    const q = slotBlock(a, base, 3, 0, 'q_proj');
    expect(q.rank).toBe(2);
    expect(Array.from(q.a)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0]);
    expect(Array.from(q.b.subarray(0, 6))).toEqual([-1, -2, 0, -3, -4, 0]);
    expect(slotBlock(a, base, 3, 0, 'v_proj').rank).toBe(0);
    // q,k,v,o,gate,up,down: (in+out) = 8, 6, 6, 8, 10, 10, 10 → 58 per rank
    expect(slotBytes(base, 3, 4)).toBe(58 * 3 * 4);
  });
});

describe('resident adapters (what a cluster instance reports)', () => {
  it('lists the adapters in device slots, not every loaded one, and follows eviction and removal', () => {
    const { r } = registry(2);
    expect(r.residentNames()).toEqual([]);
    r.release([...r.acquire(['a', 'b']).keys()]);
    expect(r.residentNames().sort()).toEqual(['a', 'b']);
    r.release([...r.acquire(['c']).keys()]); // evicts a, the least recently used
    expect(r.residentNames().sort()).toEqual(['b', 'c']);
    r.remove('b');
    expect(r.residentNames()).toEqual(['c']);
  });
});
