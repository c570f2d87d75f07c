/**
 * The CPU backend's thread pool: chunks tile the rows exactly, and kernels split across threads
 * give the float64 oracle's answer within f32 accumulation error — with the pool forced to three
 * threads, so the split runs even on a one-core machine.
 */
import { describe, expect, it } from 'vitest';
import { randomInput } from '../../src/ops/test-data.js';
import { matmulTransBAgainstReference } from '../../src/testing/matmul-check.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { Rng } from '../../src/util/rng.js';
import { chunkRows } from '../../src/backends/cpu/thread-pool.js';

process.env.TESSERA_THREADS = '3';
const { CpuBackend } = await import('../../src/backends/cpu/cpu-backend.js');
const { cpuRuntime } = await import('../../src/backends/cpu/cpu-runtime.js');
const seed = testSeed();

describe(`CPU thread pool (${seedNote(seed)})`, () => {
  it('chunks cover every row once, on multiples of the alignment', () => {
    const rng = new Rng(seed);
    for (let i = 0; i < 200; i++) {
      const rows = rng.int(0, 5000);
      const chunks = rng.int(1, 40);
      const align = rng.pick([1, 4, 16]);
      let next = 0;
      for (let c = 0; c < chunks; c++) {
        const [r0, r1] = chunkRows(rows, chunks, c, align);
        expect(r0).toBe(next);
        expect(r1).toBeGreaterThanOrEqual(r0);
        if (r1 < rows) expect(r1 % align).toBe(0);
        next = r1;
      }
      expect(next).toBe(rows);
    }
  });

  it('a GEMM split across three threads matches the float64 oracle', async () => {
    const b = new CpuBackend();
    const { pool } = cpuRuntime();
    expect(b.threads).toBe(3);
    // the workers start asynchronously; until then kernels run on fewer threads
    for (let i = 0; i < 200 && pool.helpers < 2; i++) await new Promise((r) => setTimeout(r, 10));
    expect(pool.helpers).toBe(2);
    const rng = new Rng(seed);
    const M = 37;
    const N = 517;
    const K = 300;
    const x = randomInput(rng, 'f32', [M, K]);
    const w = randomInput(rng, 'bf16', [N, K]);
    const before = pool.stats.split;
    const { got, want } = await matmulTransBAgainstReference(b, x, w);
    expect(pool.stats.split).toBe(before + 1);
    // Σ|x·w| ≈ 240 per output, so f32 accumulation errs by ~1e-5; a dropped or doubled term (~1) fails
    let worst = 0;
    for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
    expect(worst).toBeLessThan(1e-4);
    b.destroy();
  });
});
