/**
 * The IVF datastore against float64 brute force on seeded clustered data: recall@10 = 1 when every
 * cluster is probed (f32 and f16 storage), a saved and loaded store searching identically, and on
 * the device: k-means assignment through `ivf_scan`, and the GPU scan path agreeing with the CPU
 * path, alone and split between the two. The cache's scan path makes one readback per search
 * however many clusters are resident (counted at the backend), on the device and on the CPU
 * backend (whose `ivf_scan` kernel takes the same output offsets).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Backend } from '../../src/backends/backend.js';
import { CpuBackend } from '../../src/backends/cpu/cpu-backend.js';
import { loadIvf, saveIvf } from '../../src/rag/ivf-file.js';
import {
  GpuClusterCache,
  type IvfStore,
  type SearchResult,
  buildIvf,
  clusterBytes,
  clusteredVectors,
  exactSearch,
  exactSearchRows,
  recallAtK,
  searchIvf,
} from '../../src/rag/index.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { gpuBackend, gpuSkipReason } from '../gpu-setup.js';

const seed = testSeed();
const gpu = await gpuBackend();
afterAll(() => console.log(`ivf search: ${seedNote(seed)}`));

const d = 24;
const n = 1500;
const nlist = 12;
const k = 10;
const data = clusteredVectors(seed, n, d, 10);
const queries = clusteredVectors(seed + 1, 17, d, 10);

/** `backend` with its query writes and readbacks counted. */
function counted(backend: Backend): { backend: Backend; writes: () => number; reads: () => number } {
  let writes = 0;
  let reads = 0;
  const proxy = new Proxy(backend, {
    get(target, prop) {
      const v = Reflect.get(target, prop, target);
      if (prop === 'write')
        return (...a: Parameters<Backend['write']>) => {
          writes++;
          return target.write(...a);
        };
      if (prop === 'read')
        return (...a: Parameters<Backend['read']>) => {
          reads++;
          return target.read(...a);
        };
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  return { backend: proxy, writes: () => writes, reads: () => reads };
}

/** One query probing every cluster, all resident on `backend`: one query upload, one readback, CPU search's neighbors. */
async function expectOneReadback(backend: Backend): Promise<void> {
  const s = await buildIvf(data, d, { nlist, seed });
  const q = queries.subarray(0, d);
  const cpu = await searchIvf(s, q, { k, nprobe: nlist });
  const c = counted(backend);
  const cache = new GpuClusterCache(c.backend, s, 1 << 30);
  for (let i = 0; i < nlist; i++) cache.admit(i);
  const writesBefore = c.writes();
  const out = await searchIvf(s, q, { k, nprobe: nlist, cache });
  expect(out.stats.gpuClusters).toBe(nlist);
  expect(out.stats.gpuDispatches).toBe(nlist);
  expect(c.writes() - writesBefore).toBe(1);
  expect(c.reads()).toBe(1);
  expect(out.stats.gpuReads).toBe(1);
  expectSameResults(out.result, cpu.result, 1e-5);
  cache.clear();
}

function expectSameResults(got: SearchResult, want: SearchResult, rel: number): void {
  expect(Array.from(got.ids)).toEqual(Array.from(want.ids));
  got.dists.forEach((x, i) => expect(Math.abs(x - want.dists[i]!)).toBeLessThanOrEqual(rel * want.dists[i]! + 1e-6));
}

describe(`IVF datastore on the CPU (${seedNote(seed)})`, async () => {
  const f32 = await buildIvf(data, d, { nlist, seed });
  const f16 = await buildIvf(data, d, { nlist, seed, dtype: 'f16' });

  it('lays every row out exactly once, contiguous per cluster', () => {
    expect(f32.offsets[nlist]).toBe(n);
    expect(Array.from(f32.ids).sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
    expect(f32.assignedOn).toBe('cpu');
  });

  it('f32: recall@10 = 1 at nprobe = nlist, distances as float64 brute force', async () => {
    const truth = exactSearchRows(data, d, queries, k);
    const { result, stats } = await searchIvf(f32, queries, { k, nprobe: nlist });
    expect(recallAtK(result, truth)).toBe(1);
    expectSameResults(result, truth, 1e-5);
    expect(stats.gpuClusters).toBe(0);
  });

  it('f16: recall@10 = 1 at nprobe = nlist against brute force over the stored f16 values', async () => {
    const truth = exactSearch(f16, queries, k);
    const { result } = await searchIvf(f16, queries, { k, nprobe: nlist });
    expect(recallAtK(result, truth)).toBe(1);
    expectSameResults(result, truth, 1e-5);
  });

  it('a small nprobe probes fewer clusters and still finds most neighbors of clustered data', async () => {
    const truth = exactSearchRows(data, d, queries, k);
    const { result, probes } = await searchIvf(f32, queries, { k, nprobe: 3 });
    expect(probes.every((p) => p.length === 3)).toBe(true);
    expect(recallAtK(result, truth)).toBeGreaterThan(0.8);
  });

  it('saves and loads (f32 and f16) to a store that searches identically', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tivf-'));
    try {
      for (const s of [f32, f16] as IvfStore[]) {
        const path = join(dir, `store-${s.dtype}.tivf`);
        await saveIvf(path, s);
        const back = await loadIvf(path);
        expect(back.dtype).toBe(s.dtype);
        expect(Array.from(back.offsets)).toEqual(Array.from(s.offsets));
        const a = await searchIvf(s, queries, { k, nprobe: 4 });
        const b = await searchIvf(back, queries, { k, nprobe: 4 });
        expect(Array.from(b.result.ids)).toEqual(Array.from(a.result.ids));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe(`IVF datastore with clusters resident on the CPU backend (${seedNote(seed)})`, () => {
  it('a search over every resident cluster uploads its query once and reads back once', async () => {
    await expectOneReadback(new CpuBackend());
  });
});

describe.skipIf(!gpu)(
  `IVF datastore on the GPU${gpu ? '' : ` (skipped: ${gpuSkipReason()})`} (${seedNote(seed)})`,
  () => {
    it('k-means assigns through ivf_scan; recall@10 = 1 at nprobe = nlist', async () => {
      const s = await buildIvf(data, d, { nlist, seed, backend: gpu! });
      expect(s.assignedOn).toBe('backend');
      const truth = exactSearchRows(data, d, queries, k);
      const cache = new GpuClusterCache(gpu!, s, 1 << 30);
      for (let c = 0; c < nlist; c++) cache.admit(c);
      const { result, stats } = await searchIvf(s, queries, { k, nprobe: nlist, cache });
      expect(stats.cpuClusters).toBe(0);
      expect(recallAtK(result, truth)).toBe(1);
      cache.clear();
    });

    for (const dtype of ['f32', 'f16'] as const)
      it(`${dtype}: all-GPU, half-resident and all-CPU searches return the same neighbors`, async () => {
        const s = await buildIvf(data, d, { nlist, seed, dtype });
        const cpu = await searchIvf(s, queries, { k, nprobe: 5 });
        const all = new GpuClusterCache(gpu!, s, 1 << 30);
        for (let c = 0; c < nlist; c++) all.admit(c);
        const onGpu = await searchIvf(s, queries, { k, nprobe: 5, cache: all });
        expect(onGpu.stats.cpuClusters).toBe(0);
        expectSameResults(onGpu.result, cpu.result, 1e-5);
        all.clear();
        const half = new GpuClusterCache(gpu!, s, 1 << 30);
        for (let c = 0; c < nlist; c += 2) half.admit(c);
        const split = await searchIvf(s, queries, { k, nprobe: 5, cache: half });
        expect(split.stats.gpuClusters).toBeGreaterThan(0);
        expect(split.stats.cpuClusters).toBeGreaterThan(0);
        expectSameResults(split.result, cpu.result, 1e-5);
        half.clear();
      });

    it('a search over every resident cluster uploads its query once and reads back once', async () => {
      await expectOneReadback(gpu!);
    });

    it('the cache stays within its byte budget, evicting the least recently used cluster', async () => {
      const s = await buildIvf(data, d, { nlist, seed });
      const budget = clusterBytes(s, 0) + clusterBytes(s, 1) + clusterBytes(s, 2);
      const cache = new GpuClusterCache(gpu!, s, budget);
      expect(cache.admit(0)).toBe(true);
      expect(cache.admit(1)).toBe(true);
      cache.tensor(0); // 1 is now the least recently used
      for (let c = 2; c < nlist; c++) {
        cache.admit(c, new Set([0]));
        expect(cache.usedBytes).toBeLessThanOrEqual(budget);
      }
      expect(cache.has(0)).toBe(true);
      expect(cache.has(1)).toBe(false);
      expect(cache.stats.evictions).toBeGreaterThan(0);
      cache.clear();
      expect(cache.usedBytes).toBe(0);
    });
  },
);
