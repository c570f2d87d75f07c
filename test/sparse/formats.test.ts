/**
 * Every format (CSR, CSC, ELL, BSR, hybrid) round-trips through canonical COO bit for bit, on
 * random, R-MAT and edge-case matrices (empty rows, an all-empty matrix, a single dense row, one
 * huge row); CSC is the CSR of the transpose; the hybrid decomposition keeps each row in exactly
 * one part, with power-of-two widths; the axes say the paper's kinds.
 */
import { afterAll, describe, expect, it } from 'vitest';
import {
  BSR_BLOCKS,
  type Coo,
  type FormatSpec,
  axesOf,
  cooFromTriples,
  formatName,
  nnzOf,
  randomCoo,
  rmatCoo,
  rowLengths,
  sameCoo,
  toCoo,
  toFormat,
  withDenseRow,
  ellFromCoo,
  hybFromCoo,
  bsrBlockCount,
  storageBlowup,
} from '../../src/sparse/index.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';

const seed = testSeed();
afterAll(() => console.log(`sparse formats: ${seedNote(seed)}`));

const matrices: [string, Coo][] = [
  ['random 61x47 with empty rows', randomCoo(seed, 61, 47, 0.1, [0, 3, 60])],
  ['rmat 2^8', rmatCoo(seed + 1, { scale: 8, edgeFactor: 6 })],
  ['all empty 9x4', cooFromTriples(9, 4, [], [], [])],
  ['0 rows', cooFromTriples(0, 5, [], [], [])],
  ['single dense row 1x70', withDenseRow(seed + 2, cooFromTriples(1, 70, [], [], []), 0)],
  ['one huge row 40x500', withDenseRow(seed + 3, randomCoo(seed + 4, 40, 500, 0.004), 17)],
];

const specs: FormatSpec[] = [
  { kind: 'csr' },
  { kind: 'csc' },
  { kind: 'ell' },
  ...BSR_BLOCKS.map((block) => ({ kind: 'bsr' as const, block })),
  { kind: 'bsr', block: 3 },
  { kind: 'hyb', maxWidth: 1 },
  { kind: 'hyb', maxWidth: 4 },
  { kind: 'hyb', maxWidth: 32 },
];

describe(`format round trips (${seedNote(seed)})`, () => {
  for (const [label, coo] of matrices)
    for (const spec of specs)
      it(`${label}: coo → ${formatName(spec)} → coo`, () => {
        const x = toFormat(coo, spec);
        expect(nnzOf(x)).toBe(coo.vals.length);
        expect(sameCoo(toCoo(x), coo)).toBe(true);
      });
});

describe('CSC', () => {
  it('is the CSR of the transpose: columns in order, rows ascending within each', () => {
    // [[0, 2, 0], [1, 0, 3], [4, 5, 0]]
    const a = cooFromTriples(3, 3, [0, 1, 1, 2, 2], [1, 0, 2, 0, 1], [2, 1, 3, 4, 5]);
    const c = toFormat(a, { kind: 'csc' });
    if (c.kind !== 'csc') throw new Error('expected CSC');
    expect([...c.indptr]).toEqual([0, 2, 4, 5]);
    expect([...c.indices]).toEqual([1, 2, 0, 2, 1]);
    expect([...c.vals]).toEqual([1, 4, 2, 5, 3]);
  });
});

describe('construction', () => {
  it('sorts triples and sums duplicates', () => {
    const a = cooFromTriples(3, 3, [2, 0, 2, 0], [1, 2, 1, 0], [1, 2, 3, 4]);
    expect([...a.rows]).toEqual([0, 0, 2]);
    expect([...a.cols]).toEqual([0, 2, 1]);
    expect([...a.vals]).toEqual([4, 2, 4]);
  });
  it('rejects coordinates outside the matrix and mismatched arrays', () => {
    expect(() => cooFromTriples(2, 2, [2], [0], [1])).toThrow(/outside the 2 × 2/);
    expect(() => cooFromTriples(2, 2, [0], [0, 1], [1])).toThrow(/must agree/);
  });
  it('refuses an ELL width below the longest row and a BSR block outside 2..32', () => {
    const a = randomCoo(seed, 10, 10, 0.5);
    expect(() => ellFromCoo(a, 1)).toThrow(/below the longest row/);
    expect(() => toFormat(a, { kind: 'bsr', block: 1 })).toThrow(/2\.\.32/);
    expect(() => toFormat(a, { kind: 'bsr', block: 33 })).toThrow(/2\.\.32/);
    expect(() => hybFromCoo(a, 3)).toThrow(/power of two/);
  });
});

describe(`hybrid decomposition (${seedNote(seed)})`, () => {
  const a = rmatCoo(seed + 5, { scale: 8, edgeFactor: 8 });
  const len = rowLengths(a);
  const h = hybFromCoo(a, 8);
  it('puts every row in exactly one part, by length', () => {
    const owner = new Int32Array(a.m).fill(-1);
    h.buckets.forEach((b, p) =>
      b.rowIds.forEach((r) => {
        expect(owner[r]).toBe(-1);
        owner[r] = p;
        expect(len[r]!).toBeLessThanOrEqual(b.width);
        expect(b.width === 1 || len[r]! > b.width / 2).toBe(true);
      }),
    );
    h.remainder.rowIds.forEach((r) => {
      expect(owner[r]).toBe(-1);
      owner[r] = 99;
      expect(len[r]!).toBeGreaterThan(8);
    });
    expect([...owner].every((o) => o >= 0)).toBe(true);
    expect(h.buckets.every((b) => (b.width & (b.width - 1)) === 0 && b.width <= 8)).toBe(true);
    expect(h.remainder.rowIds.length).toBeGreaterThan(0); // R-MAT's heavy rows exceed 8
  });
});

describe('axes', () => {
  const a = randomCoo(seed, 8, 8, 0.3);
  it('names the paper’s axis kinds per format', () => {
    const kinds = (spec: FormatSpec) => axesOf(toFormat(a, spec)).map((x) => x.kind);
    expect(kinds({ kind: 'csr' })).toEqual(['dense-fixed', 'sparse-variable']);
    expect(axesOf(toFormat(a, { kind: 'csc' })).map((x) => [x.name, x.kind])).toEqual([
      ['j', 'dense-fixed'],
      ['i', 'sparse-variable'],
    ]);
    expect(kinds({ kind: 'ell' })).toEqual(['dense-fixed', 'sparse-fixed']);
    expect(kinds({ kind: 'coo' })).toEqual(['dense-fixed', 'sparse-variable', 'sparse-fixed']);
    expect(kinds({ kind: 'bsr', block: 2 })).toEqual(['dense-fixed', 'sparse-variable', 'dense-fixed', 'dense-fixed']);
  });
});

describe(`storage blow-up (${seedNote(seed)})`, () => {
  const a = rmatCoo(seed + 6, { scale: 7, edgeFactor: 4 });
  it('counts BSR blocks as the conversion stores them', () => {
    for (const block of [2, 3, 8, 32]) {
      const bsr = toFormat(a, { kind: 'bsr', block });
      expect(bsr.kind === 'bsr' && bsr.indices.length).toBe(bsrBlockCount(a, block));
      expect(storageBlowup(a, { kind: 'bsr', block })).toBeCloseTo(
        (bsrBlockCount(a, block) * block ** 2) / a.vals.length,
        12,
      );
    }
  });
  it('measures ELL padding by the longest row', () => {
    const ell = toFormat(a, { kind: 'ell' });
    expect(storageBlowup(a, { kind: 'ell' })).toBeCloseTo(
      (ell.kind === 'ell' ? ell.cols.length : 0) / a.vals.length,
      12,
    );
  });
});
