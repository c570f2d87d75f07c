/**
 * The GPU-free chain model (`src/sparse/critical-path.ts`): hand-counted steps on one long row,
 * and on a power-law matrix with a hub the split hybrid's longest chain against the plain
 * hybrid's (printed, so the expected effect is visible before a GPU run). CPU only.
 */
import { afterAll, describe, expect, it } from 'vitest';
import {
  type Coo,
  type FormatSpec,
  type SpmmSchedule,
  cooFromTriples,
  formatName,
  rmatCoo,
  spmmChainModel,
  withDenseRow,
} from '../../src/sparse/index.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';

const seed = testSeed();
afterAll(() => console.log(`sparse chain model: ${seedNote(seed)}`));

const t8r32: SpmmSchedule = { threadsPerRow: 8, rowsPerWorkgroup: 32, vec4: true };
const row = (n: number): Coo =>
  cooFromTriples(
    1,
    n,
    Array.from({ length: n }, () => 0),
    Array.from({ length: n }, (_, j) => j),
    Array.from({ length: n }, () => 1),
  );

describe(`chain model (${seedNote(seed)})`, () => {
  it('counts one row of 1000 entries by hand', () => {
    // f 32 as vec4 over 8 threads: one feature chunk; 32 groups × 4 entries = 128 entries a pass,
    // and a 5-level tree over the 32 groups
    const a = row(1000);
    expect(spmmChainModel(a, { kind: 'csr' }, t8r32, 32)!.chainSteps).toBe(1000);
    expect(spmmChainModel(a, { kind: 'hyb', maxWidth: 32 }, t8r32, 32)!.chainSteps).toBe(8 + 5);
    // four segments of 250: 2 passes + 5 levels, then the 4 partials summed (1 pass + 5 levels)
    const split = spmmChainModel(a, { kind: 'hyb', maxWidth: 32, split: 256 }, t8r32, 32)!;
    expect(split.chainSteps).toBe(2 + 5 + (1 + 5));
    expect(split.workgroups).toBe(4 + 1);
    // f 128: four chunks of the features, each walking the row
    expect(spmmChainModel(a, { kind: 'hyb', maxWidth: 32 }, t8r32, 128)!.chainSteps).toBe(4 * 13);
  });

  it("shortens a hub row's chain by splitting it (printed)", () => {
    // R-MAT rows beside one hub of 16384 entries (the largest bench graph's longest row is 15753)
    const a = withDenseRow(seed, rmatCoo(seed, { scale: 14, edgeFactor: 4 }), 5);
    const specs: FormatSpec[] = [
      { kind: 'hyb', maxWidth: 32 },
      { kind: 'hyb', maxWidth: 32, split: 256 },
      { kind: 'hyb', maxWidth: 32, split: 1024 },
    ];
    const lines: string[] = [];
    for (const f of [32, 128]) {
      // the default threads per row in a workgroup of 256 (the tuner's widest candidate)
      const s: SpmmSchedule = { threadsPerRow: f / 4, rowsPerWorkgroup: 1024 / f, vec4: true };
      const [plain, ...split] = specs.map((spec) => spmmChainModel(a, spec, s, f)!);
      specs.forEach((spec, i) => {
        const m = [plain, ...split][i]!;
        lines.push(
          `f${f} ${formatName(spec)} chain ${m.chainSteps} steps, ${m.workgroups} workgroups, ${m.workSteps} work`,
        );
      });
      for (const m of split) expect(m.chainSteps).toBeLessThan(plain!.chainSteps / 2);
      // the whole work grows by the partials' sum, by little
      for (const m of split) expect(m.workSteps).toBeLessThan(plain!.workSteps * 1.2);
    }
    console.log(`row 5 dense among rmat 2^14 (seed ${seed}):\n  ${lines.join('\n  ')}`);
  });
});
