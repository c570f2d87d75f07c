/**
 * CSR → ELL on the device against the host conversion of the first slice (`toFormat(coo, ell)`),
 * bit for bit, on the shapes that break kernels (empty rows, all rows empty, one dense row, one
 * huge row among short ones); and a width below the longest row, where each row's dropped count
 * must equal its length minus the width.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { type Coo, cooFromTriples, toFormat } from '../../src/sparse/index.js';
import { randomCoo, rmatCoo, withDenseRow } from '../../src/sparse/generate.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { gpuBackend, gpusOrSkip } from '../gpu-setup.js';

const seed = testSeed();
const gpu = await gpuBackend();
afterAll(() => console.log(`csr_to_ell: ${seedNote(seed)}`));

const matrices: { label: string; coo: Coo }[] = [
  { label: 'random 200x150 with empty rows', coo: randomCoo(seed, 200, 150, 0.04, [0, 1, 77, 199]) },
  { label: 'rmat 2^8 ef8', coo: rmatCoo(seed + 1, { scale: 8, edgeFactor: 8 }) },
  { label: 'one huge row among short ones', coo: withDenseRow(seed + 2, randomCoo(seed + 3, 90, 300, 0.006), 44) },
  { label: 'all rows empty 17x9', coo: cooFromTriples(17, 9, [], [], []) },
];

async function convert(coo: Coo, width: number) {
  const b = gpu!;
  const csr = toFormat(coo, { kind: 'csr' });
  if (csr.kind !== 'csr') throw new Error('expected CSR');
  const put = (dtype: 'i32' | 'f32', data: Int32Array | Float32Array) => {
    const t = b.alloc({ dtype, shape: [data.length] });
    b.write(t, data);
    return t;
  };
  const ins = [put('i32', csr.indptr), put('i32', csr.indices), put('f32', csr.vals)];
  const outs = [
    b.alloc({ dtype: 'i32', shape: [coo.m, width] }),
    b.alloc({ dtype: 'f32', shape: [coo.m, width] }),
    b.alloc({ dtype: 'i32', shape: [coo.m] }),
  ];
  try {
    b.run('csr_to_ell', { width }, ins, outs);
    const [cols, vals, dropped] = await Promise.all(outs.map((t) => b.read(t)));
    return { csr, cols: cols as Int32Array, vals: vals as Float32Array, dropped: dropped as Int32Array };
  } finally {
    [...ins, ...outs].forEach((t) => b.free(t));
  }
}

describe(`csr_to_ell on the device (${seedNote(seed)})`, () => {
  for (const { label, coo } of matrices)
    for (const _ of gpusOrSkip(gpu ? [gpu] : [], `csr_to_ell ${label}`)) {
      it(`${label}: equals the host ELL bit for bit`, async () => {
        const host = toFormat(coo, { kind: 'ell' });
        if (host.kind !== 'ell') throw new Error('expected ELL');
        const got = await convert(coo, host.width);
        expect(Array.from(got.cols)).toEqual(Array.from(host.cols));
        expect(Array.from(got.vals)).toEqual(Array.from(host.vals));
        expect(got.dropped.every((d) => d === 0)).toBe(true);
      });
      it(`${label}: a narrower width reports each row's dropped entries`, async () => {
        const host = toFormat(coo, { kind: 'ell' });
        if (host.kind !== 'ell') throw new Error('expected ELL');
        const width = Math.max(1, host.width - 3);
        const got = await convert(coo, width);
        for (let i = 0; i < coo.m; i++) {
          const len = got.csr.indptr[i + 1]! - got.csr.indptr[i]!;
          expect(got.dropped[i]).toBe(Math.max(0, len - width));
          for (let s = 0; s < width; s++) expect(got.cols[i * width + s]).toBe(host.cols[i * host.width + s]);
        }
      });
    }
});
