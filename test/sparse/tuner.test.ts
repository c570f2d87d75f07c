/**
 * The tuner: a plan is cached per matrix signature (a second matrix of the same signature is not
 * timed again; another feature count or sparsity is), its choice is one of the candidates and is
 * the fastest by the timer it was given, and the cache survives an export/import. Timings
 * themselves are not asserted: with the real timer only the choice's membership is checked.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { CpuBackend } from '../../src/backends/cpu/cpu-backend.js';
import {
  SpmmTuner,
  candidateName,
  cooFromTriples,
  formatName,
  matrixSignature,
  randomCoo,
  rmatCoo,
  spmmCandidates,
  whyFormatSkipped,
} from '../../src/sparse/index.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { gpuBackend, gpuSkipReason } from '../gpu-setup.js';

const seed = testSeed();
afterAll(() => console.log(`sparse tuner: ${seedNote(seed)}`));
const gpu = await gpuBackend();

describe(`SpmmTuner (${seedNote(seed)})`, () => {
  const a = randomCoo(seed, 40, 30, 0.1, [2]);
  const sameSignature = { ...a, vals: a.vals.map((v) => -v) };

  it('times each candidate once, picks the fastest, and serves the cache afterwards', async () => {
    const cands = spmmCandidates(a, 16);
    // a timer that says the 5th candidate is fastest, whatever the backend does
    const fake = new Map(cands.map((c, i) => [candidateName(c), i === 4 ? 0.5 : 2 + i]));
    let calls = 0;
    const tuner = new SpmmTuner(new CpuBackend(), async (backend, enqueue) => {
      enqueue();
      await backend.flush();
      return [...fake.values()][calls++] ?? 9;
    });
    const plan = await tuner.tune(a, 16, cands);
    expect(calls).toBe(cands.length);
    expect(candidateName(plan.best)).toBe(candidateName(cands[4]!));
    expect(plan.timings.length).toBe(cands.length);
    const again = await tuner.tune(sameSignature, 16, cands);
    expect(calls).toBe(cands.length);
    expect(again).toBe(plan);
    expect(tuner.cached(a, 16)).toBe(plan);
    expect(tuner.cached(a, 32)).toBeNull();
    await tuner.tune(a, 32);
    expect(calls).toBeGreaterThan(cands.length);
  });

  it('keys plans by shape, nonzeros, row lengths and features', () => {
    const b = rmatCoo(seed, { scale: 5, edgeFactor: 2 });
    expect(matrixSignature(a, 16)).toBe(matrixSignature(sameSignature, 16));
    expect(matrixSignature(a, 16)).not.toBe(matrixSignature(a, 32));
    expect(matrixSignature(a, 16)).not.toBe(matrixSignature(b, 16));
  });

  it('restores exported plans without timing', async () => {
    let calls = 0;
    const timer = async () => ++calls;
    const first = new SpmmTuner(new CpuBackend(), timer);
    const plan = await first.tune(a, 8);
    const second = new SpmmTuner(new CpuBackend(), timer);
    second.import(JSON.parse(JSON.stringify(first.export())));
    const before = calls;
    expect(candidateName((await second.tune(a, 8)).best)).toBe(candidateName(plan.best));
    expect(calls).toBe(before);
  });

  it.skipIf(!gpu)(
    `on WebGPU with the real timer, the choice is a candidate${gpu ? '' : ` (skipped: ${gpuSkipReason()})`}`,
    async () => {
      const m = rmatCoo(seed + 1, { scale: 6, edgeFactor: 4 });
      const cands = spmmCandidates(m, 32).filter((_, i) => i % 3 === 0);
      const plan = await new SpmmTuner(gpu!).tune(m, 32, cands);
      expect(cands.map(candidateName)).toContain(candidateName(plan.best));
      expect(plan.timings.every((t) => Number.isFinite(t.ms) && t.ms >= 0)).toBe(true);
    },
  );
});

describe(`SpmmTuner and split rows (${seedNote(seed)})`, () => {
  // 64 rows of 6 entries, and the same nonzero count with row 0 a hub of 132 among rows of 4:
  // both histograms put every other row in one slot, the hub is under 1/16 of the rows
  const rowsOf = (lens: number[]) => {
    const r: number[] = [];
    const c: number[] = [];
    lens.forEach((n, i) => {
      for (let j = 0; j < n; j++) {
        r.push(i);
        c.push(j);
      }
    });
    return cooFromTriples(
      64,
      2048,
      r,
      c,
      r.map(() => 1),
    );
  };
  const flat = rowsOf(Array(64).fill(6));
  const hub = rowsOf([132, ...Array(63).fill(4)]);

  it('a single hub row changes the signature', () => {
    expect(flat.vals.length).toBe(hub.vals.length);
    expect(matrixSignature(flat, 32)).not.toBe(matrixSignature(hub, 32));
  });

  it('offers split hybrids only where a row is longer than the segment', () => {
    const big = rowsOf([1100, ...Array(63).fill(4)]);
    const names = (a: typeof flat) => new Set(spmmCandidates(a, 32).map((c) => formatName(c.format)));
    expect(names(flat).has('hyb32s256')).toBe(false);
    expect(names(big).has('hyb32s256')).toBe(true);
    expect(names(big).has('hyb32s1024')).toBe(true);
    expect(whyFormatSkipped(hub, { kind: 'hyb', maxWidth: 32, split: 256 })).toContain('longest 132');
  });

  it('caches a split plan and restores it with its segment length', async () => {
    const big = rowsOf([1100, ...Array(63).fill(4)]);
    const cands = spmmCandidates(big, 32);
    const pick = cands.findIndex((c) => formatName(c.format) === 'hyb32s1024');
    let calls = 0;
    const tuner = new SpmmTuner(new CpuBackend(), async (backend, enqueue) => {
      enqueue();
      await backend.flush();
      return calls++ === pick ? 0.1 : 1;
    });
    const plan = await tuner.tune(big, 32, cands);
    expect(plan.best.format).toEqual({ kind: 'hyb', maxWidth: 32, split: 1024 });
    const again = new SpmmTuner(new CpuBackend(), async () => 9);
    again.import(JSON.parse(JSON.stringify(tuner.export())));
    expect(again.cached(big, 32)?.best.format).toEqual({ kind: 'hyb', maxWidth: 32, split: 1024 });
    expect(again.cached(hub, 32)).toBeNull();
  });
});
