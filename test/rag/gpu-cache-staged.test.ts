/**
 * Clusters admitted through the staging ring (`GpuClusterCache.admitStaged`): searched on the GPU
 * they give the CPU search's neighbors (f32 and f16), uploads still under way count against the
 * budget and are never evicted, and `clear` during uploads frees them once their copies are
 * submitted, leaving buffers that later clusters reuse intact. Without a staging ring (the CPU
 * backend) staged admission is the plain queue write.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { CpuBackend } from '../../src/backends/cpu/cpu-backend.js';
import {
  GpuClusterCache,
  type SearchResult,
  buildIvf,
  clusterBytes,
  clusteredVectors,
  searchIvf,
} from '../../src/rag/index.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { gpuBackend, gpuSkipReason } from '../gpu-setup.js';

const seed = testSeed();
const gpu = await gpuBackend();
afterAll(() => console.log(`staged cluster uploads: ${seedNote(seed)}`));

const d = 32;
const nlist = 10;
const k = 8;
const data = clusteredVectors(seed, 1200, d, 10);
const queries = clusteredVectors(seed + 1, 9, d, 10);

function expectSameResults(got: SearchResult, want: SearchResult): void {
  expect(Array.from(got.ids)).toEqual(Array.from(want.ids));
  got.dists.forEach((x, i) => expect(Math.abs(x - want.dists[i]!)).toBeLessThanOrEqual(1e-5 * want.dists[i]! + 1e-6));
}

describe(`staged admission without a staging ring (${seedNote(seed)})`, () => {
  it('is the plain write on the CPU backend', async () => {
    const s = await buildIvf(data, d, { nlist, seed });
    const cache = new GpuClusterCache(new CpuBackend(), s, 1 << 30);
    expect(cache.stages).toBe(false);
    expect(await cache.admitStaged(0)).toBe(true);
    expect(cache.has(0)).toBe(true);
    await cache.close();
    expect(cache.usedBytes).toBe(0);
  });
});

describe.skipIf(!gpu)(
  `staged admission on the GPU${gpu ? '' : ` (skipped: ${gpuSkipReason()})`} (${seedNote(seed)})`,
  () => {
    for (const dtype of ['f32', 'f16'] as const)
      it(`${dtype}: staged clusters search as the CPU does`, async () => {
        const s = await buildIvf(data, d, { nlist, seed, dtype });
        const cpu = await searchIvf(s, queries, { k, nprobe: 4 });
        const cache = new GpuClusterCache(gpu!, s, 1 << 30);
        expect(cache.stages).toBe(true);
        const landed = await Promise.all(Array.from({ length: nlist }, (_, c) => cache.admitStaged(c)));
        expect(landed.every(Boolean)).toBe(true);
        expect(cache.stats.hostMs).toBeGreaterThan(0);
        const out = await searchIvf(s, queries, { k, nprobe: 4, cache });
        expect(out.stats.cpuClusters).toBe(0);
        expectSameResults(out.result, cpu.result);
        await cache.close();
      });

    it('uploads under way hold their budget and are not evicted; clear frees them after their copies', async () => {
      const s = await buildIvf(data, d, { nlist, seed });
      const budget = clusterBytes(s, 0) + clusterBytes(s, 1) + clusterBytes(s, 2);
      const cache = new GpuClusterCache(gpu!, s, budget);
      // started together: the first fit the budget while in flight, a fourth finds nothing to evict
      const started = [0, 1, 2, 3].map((c) => cache.admitStaged(c));
      expect(cache.usedBytes).toBeLessThanOrEqual(budget);
      expect(cache.has(0)).toBe(false);
      const first = await Promise.all(started);
      expect(first.filter(Boolean).length).toBeGreaterThan(0);
      expect(first.filter(Boolean).length).toBeLessThan(4);
      expect(cache.usedBytes).toBeLessThanOrEqual(budget);

      cache.clear();
      const cut = [4, 5, 6].map((c) => cache.admitStaged(c));
      cache.clear(); // before any of them was submitted
      expect(await Promise.all(cut)).toEqual([false, false, false]);
      expect(cache.usedBytes).toBe(0);
      expect([4, 5, 6].some((c) => cache.has(c))).toBe(false);

      // the freed buffers go to the next clusters: what they hold must be theirs
      const cpu = await searchIvf(s, queries, { k, nprobe: 2 });
      const probed = new Set(cpu.probes.flatMap((p) => Array.from(p)));
      for (const c of probed) {
        cache.clear();
        expect(await cache.admitStaged(c)).toBe(true);
        const one = await searchIvf(s, queries, { k, nprobe: 2, cache });
        expect(one.stats.gpuClusters).toBe(1);
        expectSameResults(one.result, cpu.result);
      }
      await cache.close();
      expect(cache.usedBytes).toBe(0);
    });
  },
);
