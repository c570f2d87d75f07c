/**
 * The streaming decode path: the lane geometry, when it falls back to the tiled template, the row
 * scatter against the every-lane-every-row reduction on the device, and plan()'s work-item target
 * (the random kernel cases run in engine/conformance tests too).
 */
import { describe, expect, it } from 'vitest';
import { streamAttentionWgsl, streamGeometry, streamWhyUnsupported } from '../../src/attention/attention-decode.js';
import type { AttentionKernelParams } from '../../src/attention/attention-wgsl.js';
import { attentionCase } from '../../src/attention/ops.js';
import { planAttention } from '../../src/attention/plan.js';
import { streamConfig } from '../../src/attention/stream-config.js';
import { getOp } from '../../src/ops/registry.js';
import { runCase } from '../../src/testing/conformance.js';
import { Rng } from '../../src/util/rng.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { gpuBackends, gpuSkipReason } from '../gpu-setup.js';
import { HEAVY, heavyTitle } from '../heavy.js';

const base: AttentionKernelParams = {
  headDim: 128,
  numQoHeads: 32,
  numKvHeads: 8,
  pageSize: 16,
  layout: 'NHD',
  qDtype: 'f16',
  kvDtype: 'f16',
  oDtype: 'f16',
  scale: 0.088,
  variant: { causal: true },
  tileRows: 4,
  tileKeys: 32,
  grid: 1024,
  maxItems: 2048,
};
const sg32 = { subgroups: true, subgroupMinSize: 32, subgroupMaxSize: 32 };
const gpu = (await gpuBackends())[0];

describe('streaming decode template', () => {
  it('deals a K/V row to power-of-two lane groups', () => {
    expect(streamGeometry(base, 32)).toMatchObject({ L: 16, LR: 16, NV: 1, slots: 8, epv: 8 });
    expect(streamGeometry({ ...base, headDim: 80 }, 8)).toMatchObject({ L: 10, LR: 2, NV: 5, slots: 64 });
    expect(streamGeometry({ ...base, kvDtype: 'f32' }, 32)).toMatchObject({ L: 32, LR: 32, NV: 1, slots: 4, epv: 4 });
  });

  it('falls back to the tiled template where it cannot run', () => {
    expect(streamWhyUnsupported(base, sg32)).toBeNull();
    expect(streamWhyUnsupported(base, { subgroups: true, subgroupMinSize: 16, subgroupMaxSize: 64 })).toMatch(
      /fixed size/,
    );
    expect(streamWhyUnsupported({ ...base, variant: { causal: true, rope: { theta: 10000 } } }, sg32)).toMatch(
      /transform/,
    );
    expect(streamWhyUnsupported({ ...base, tileRows: 16 }, sg32)).toMatch(/register budget/);
  });
});

describe('row scatter and slot merge', () => {
  it('is generated where the rows fit the lanes of a slot, and only there', () => {
    expect(streamAttentionWgsl(base, 32)).toMatch(/LR=16 .*row-scatter/);
    // d80 f16 on 8-lane subgroups: 2 lanes per row, 4 rows
    expect(streamAttentionWgsl({ ...base, headDim: 80 }, 8)).not.toMatch(/row-scatter/);
    expect(streamAttentionWgsl(base, 32, streamConfig({ rowScatter: false }))).not.toMatch(/row-scatter/);
  });

  const seed = testSeed();
  const rng = new Rng(seed);
  // long requests, so the row max moves across steps and the gathered rescale factors matter;
  // d80/d96 give several slots per subgroup on 8-lane devices, so the subgroup merge shuffles
  const cases = Array.from({ length: 6 }, () =>
    attentionCase(rng, {
      decode: true,
      headDim: rng.pick([64, 80, 96, 128]),
      dtype: rng.pick(['f16', 'f32'] as const),
      lengths: { qo: [1, 1, 1], kv: [rng.int(100, 300), 1, rng.int(30, 90)] },
      kvChunk: rng.pick<number | 'none'>(['none', 37]),
    }),
  );
  const tunings = [
    [true, 'subgroup', true],
    [false, 'subgroup', false],
    [true, 'shared', false],
  ] as const;
  async function check(t: (typeof tunings)[number], some: typeof cases): Promise<void> {
    const [scatter, merge, nextRecord] = t;
    const stream = { rowScatter: scatter, slotMerge: merge, nextRecord };
    for (const c0 of some) {
      const c = { ...c0, attrs: { ...c0.attrs, tuning: { stream } } };
      const r = await runCase(gpu!.backend, getOp('paged_attention'), c);
      expect(r.skipped ?? '', c.label).toBe('');
      expect(r.message ?? 'ok', `${c.label} scatter=${scatter} merge=${merge} nextRecord=${nextRecord}`).toBe('ok');
    }
  }
  // every case compiles its own pipelines (over ten seconds each on a loaded 2-core lavapipe): CI
  // gives each tuning one case of its own; the heavy sweep runs every case under every tuning
  for (const [i, t] of tunings.entries()) {
    const name = `scatter=${t[0]} merge=${t[1]} nextRecord=${t[2]}`;
    it.skipIf(!gpu)(
      `matches float64 on the device, ${name}, case ${i} (${seedNote(seed)})${gpu ? '' : ` (skipped: ${gpuSkipReason()})`}`,
      async () => {
        await check(t, [cases[i]!]);
      },
    );
    it.skipIf(!gpu || !HEAVY)(
      heavyTitle(`matches float64 on the device, ${name}, all ${cases.length} cases (${seedNote(seed)})`),
      async () => {
        await check(t, cases);
      },
    );
  }
});

describe('plan() fair-share chunks', () => {
  const plan = (kvLens: number[], targetItems?: number) =>
    planAttention(
      { qoLens: kvLens.map(() => 1), kvLens, numQoHeads: 32, numKvHeads: 8, causal: true },
      { grid: 1024, maxItems: 4096, tileRows: 4, targetItems },
    );

  it('cuts one long request into about targetItems items (default the grid)', () => {
    expect(plan([32768]).items.length).toBe(1024);
    expect(plan([32768], 256).items.length).toBe(256);
  });

  it('splits only the long request of a skewed batch, down to the fair share', () => {
    const p = plan([32768, ...Array(63).fill(512)], 256);
    const fair = Math.ceil((8 * (32768 + 63 * 512)) / 256);
    expect(p.kvChunk).toBe(fair);
    expect(p.items.filter((i) => i.b > 0).length).toBe(63 * 8);
    expect(p.items.filter((i) => i.b === 0).length).toBe(8 * Math.ceil(32768 / fair));
    expect(p.merges).toBe(8);
  });

  it('never splits a batch whose units are all within the fair share', () => {
    const p = plan(Array(64).fill(512), 256);
    expect(p.merges).toBe(0);
    expect(p.items.length).toBe(512);
  });
});
