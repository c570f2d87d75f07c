/**
 * The pipeline bench's queue instrument (bench/telerag-traffic.ts) on the device: a cluster upload
 * made while another caller's dispatch is encoded and unsubmitted counts as a split, for queue
 * writes and staged copies alike; made after that work is submitted, it does not. Submits of the
 * device and retrieval's writes, dispatches and readbacks are counted, and the queue's own
 * `submit` comes back on `restore`.
 */
import { describe, expect, it } from 'vitest';
import { countTraffic } from '../../bench/telerag-traffic.js';
import { GpuClusterCache, buildIvf, clusteredVectors, searchIvf } from '../../src/rag/index.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { gpuBackend, gpuSkipReason } from '../gpu-setup.js';

const seed = testSeed();
const gpu = await gpuBackend();
const d = 16;
const nlist = 6;
const data = clusteredVectors(seed, 600, d, 6);

describe.skipIf(!gpu)(
  `the bench's queue counts${gpu ? '' : ` (skipped: ${gpuSkipReason()})`} (${seedNote(seed)})`,
  () => {
    it('counts an upload that finds work pending as a split, and none after that work is submitted', async () => {
      const b = gpu!;
      const store = await buildIvf(data, d, { nlist, seed });
      const traffic = countTraffic(b);
      const cache = new GpuClusterCache(traffic.rag, store, 1 << 30);
      // another caller's dispatch, encoded and not submitted: a scan of cluster 0 outside the cache
      const q = b.alloc({ dtype: 'f32', shape: [1, d] }, 'test.q', 'test');
      const rows = store.offsets[1]! - store.offsets[0]!;
      const x = b.alloc({ dtype: 'f32', shape: [rows, d] }, 'test.x', 'test');
      const out = b.alloc({ dtype: 'f32', shape: [rows] }, 'test.out', 'test');
      b.write(q, data.subarray(0, d));
      b.write(x, store.vectors.subarray(0, rows * d) as Float32Array);
      try {
        const submitsBefore = traffic.snapshot().submits!;
        b.run('ivf_scan', { at: 0, outLength: rows }, [q, x], [out]);
        expect(b.hasPendingWork).toBe(true);
        cache.admit(1); // a queue write: submits the scan first
        expect(traffic.snapshot().splits).toBe(1);
        expect(traffic.snapshot().submits! - submitsBefore).toBe(1);
        b.run('ivf_scan', { at: 0, outLength: rows }, [q, x], [out]);
        expect(await cache.admitStaged(2)).toBe(true); // a staged copy: submits it too
        expect(traffic.snapshot().splits).toBe(2);
        await b.flush();
        expect(await cache.admitStaged(3)).toBe(true);
        cache.admit(4);
        expect(traffic.snapshot().splits).toBe(2);
        const s = await searchIvf(store, data.subarray(0, d), { k: 3, nprobe: nlist, cache });
        expect(s.stats.gpuClusters).toBe(4);
        const t = traffic.snapshot();
        expect(t.ragRuns).toBe(4);
        expect(t.ragReads).toBe(1);
        expect(t.ragWrites).toBe(3); // clusters 1 and 4, the search's queries
      } finally {
        await cache.close();
        for (const t of [q, x, out]) b.free(t);
        traffic.restore();
      }
      const submits = traffic.snapshot().submits;
      await b.flush();
      expect(traffic.snapshot().submits).toBe(submits);
    });
  },
);
