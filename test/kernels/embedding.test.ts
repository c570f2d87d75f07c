import { describe, expect, it } from 'vitest';
import type { Backend } from '../../src/backends/backend.js';
import { CpuBackend } from '../../src/backends/cpu/cpu-backend.js';
import { EmbeddingIdError, embeddingOp } from '../../src/ops/embedding.js';
import { type DType, toFloat64, toHost } from '../../src/tensor/dtype.js';
import { gpuBackends, gpusOrSkip } from '../gpu-setup.js';

const gpus = await gpuBackends();
const V = 5;
const D = 3;
const table = Array.from({ length: V * D }, (_, i) => i + 0.5);

async function gather(b: Backend, dtype: DType, ids: number[]): Promise<Float64Array> {
  const t = b.alloc({ dtype, shape: [V, D] });
  const i = b.alloc({ dtype: 'i32', shape: [ids.length] });
  const y = b.alloc({ dtype, shape: [ids.length, D] });
  b.write(t, toHost(dtype, table));
  b.write(i, Int32Array.from(ids));
  b.run('embedding', {}, [t, i], [y]);
  await b.flush();
  const out = toFloat64(dtype, await b.read(y));
  for (const x of [t, i, y]) b.free(x);
  return out;
}

describe('embedding ids out of range', () => {
  it('the CPU reference throws a clear error naming position and id', async () => {
    await expect(gather(new CpuBackend(), 'f32', [1, 7, 2])).rejects.toThrow(EmbeddingIdError);
    await expect(gather(new CpuBackend(), 'f32', [1, -1])).rejects.toThrow(/id -1 at position 1 .*\[0, 5\)/);
  });
  for (const { name, backend } of gpusOrSkip(gpus)) {
    for (const dtype of ['f32', 'f16', 'bf16'] as const) {
      it(`${name} ${dtype}: a bad id gives a NaN row, good ids their rows`, async () => {
        const out = await gather(backend, dtype, [4, 5, -3, 0, 2147483647]);
        expect([...out.subarray(0, D)]).toEqual([12.5, 13.5, 14.5]);
        expect([...out.subarray(3 * D, 4 * D)]).toEqual([0.5, 1.5, 2.5]);
        for (const row of [1, 2, 4]) expect([...out.subarray(row * D, row * D + D)].every(Number.isNaN)).toBe(true);
      });
    }
  }
});

describe('embedding shapes', () => {
  it('rejects non-i32 ids and a 1-D table', () => {
    expect(() =>
      embeddingOp.outputs({}, [
        { dtype: 'f32', shape: [4, 2] },
        { dtype: 'f32', shape: [3] },
      ]),
    ).toThrow(/ids must be i32/);
    expect(() =>
      embeddingOp.outputs({}, [
        { dtype: 'f32', shape: [4] },
        { dtype: 'i32', shape: [3] },
      ]),
    ).toThrow(/table must be a float \[V, D\]/);
  });
});
