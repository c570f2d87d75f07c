import { describe, expect, it } from 'vitest';
import type { Backend } from '../../src/backends/backend.js';
import { CpuBackend } from '../../src/backends/cpu/cpu-backend.js';
import { toHost } from '../../src/tensor/dtype.js';
import { gpuBackends } from '../gpu-setup.js';

const gpus = await gpuBackends();

async function argmax(b: Backend, rows: number[][]): Promise<number[]> {
  const C = rows[0]!.length;
  const x = b.alloc({ dtype: 'f32', shape: [rows.length, C] });
  const y = b.alloc({ dtype: 'i32', shape: [rows.length] });
  b.write(x, toHost('f32', rows.flat()));
  b.run('argmax', {}, [x], [y]);
  await b.flush();
  const out = [...(await b.read(y))];
  b.free(x);
  b.free(y);
  return out;
}

// special values the random cases never produce: NaN, infinities, a late tie far past one workgroup's width
const C = 700;
const rows = [
  Array.from({ length: C }, (_, i) => (i === 650 || i === 3 ? 5 : 0)),
  Array.from({ length: C }, (_, i) => (i % 2 ? NaN : i === 400 ? 1 : -1)),
  Array.from({ length: C }, () => NaN),
  Array.from({ length: C }, (_, i) => (i === 0 ? NaN : -Infinity)),
  Array.from({ length: C }, (_, i) => (i > 500 ? Infinity : 1e30)),
];
const want = [3, 400, 0, 1, 501];

describe('argmax special values', () => {
  for (const { name, backend } of [{ name: 'cpu', backend: new CpuBackend() as Backend }, ...gpus]) {
    it(`${name}: ties → lowest index, NaN skipped, −inf/inf handled`, async () => {
      expect(await argmax(backend, rows)).toEqual(want);
    });
  }
});
