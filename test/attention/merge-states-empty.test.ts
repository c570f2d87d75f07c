/**
 * `merge_states` with one side empty (lse −∞), as long-context decode uses it: the device's state of
 * every row merges with the CPU store's, and rows with no CPU part (sequences not in the mode, in
 * the same batch) carry lse −∞ there. Those rows must come out exactly as the device wrote them;
 * the others match the float64 merge within the output dtype's rounding.
 */
import { describe, expect, it } from 'vitest';
import type { Backend } from '../../src/backends/backend.js';
import { CpuBackend } from '../../src/backends/cpu/cpu-backend.js';
import { referenceMergeStates } from '../../src/attention/reference.js';
import { type DType, toFloat64, toHost } from '../../src/tensor/dtype.js';
import { Rng } from '../../src/util/rng.js';
import { gpuBackends, gpusOrSkip } from '../gpu-setup.js';

const SEED = 20261207;
const [T, H, D] = [5, 4, 32];

async function mergeWithEmptyRows(backend: Backend, dtype: DType) {
  const rng = new Rng(SEED);
  const n = T * H;
  // values rounded to the dtype first, so the oracle sees what the kernel reads
  const round = (x: Float64Array) => toFloat64(dtype, toHost(dtype, x));
  const va = round(Float64Array.from({ length: n * D }, () => rng.normal()));
  const vb = round(Float64Array.from({ length: n * D }, () => rng.normal()));
  const sa = Float64Array.from({ length: n }, () => 4 * rng.normal());
  // rows of tokens 1 and 3 have no second part
  const sb = Float64Array.from({ length: n }, (_, r) => (Math.floor(r / H) % 2 === 1 ? -Infinity : 4 * rng.normal()));
  const t = (data: Float64Array, dt: DType, shape: number[]) => {
    const x = backend.alloc({ dtype: dt, shape });
    backend.write(x, toHost(dt, data));
    return x;
  };
  const inputs = [t(va, dtype, [T, H, D]), t(sa, 'f32', [T, H]), t(vb, dtype, [T, H, D]), t(sb, 'f32', [T, H])];
  const v = backend.alloc({ dtype, shape: [T, H, D] });
  const s = backend.alloc({ dtype: 'f32', shape: [T, H] });
  backend.run('merge_states', {}, inputs, [v, s]);
  const gotV = toFloat64(dtype, await backend.read(v));
  const gotS = toFloat64('f32', await backend.read(s));
  for (const x of [...inputs, v, s]) backend.free(x);
  return { want: referenceMergeStates(va, sa, vb, sb, D), gotV, gotS, va, sa, sb };
}

const cases = [
  { name: 'cpu', backend: async () => new CpuBackend() as Backend },
  ...gpusOrSkip(await gpuBackends(), 'merge_states with empty rows on WebGPU').map((g) => ({
    name: g.name,
    backend: async () => g.backend as Backend,
  })),
];

describe(`merge_states with lse −∞ on one side (seed ${SEED})`, () => {
  for (const c of cases)
    for (const dtype of ['f32', 'f16'] as const)
      it(`${c.name} ${dtype}: empty rows keep the first state exactly, the rest match float64`, async () => {
        const backend = await c.backend();
        const { want, gotV, gotS, va, sa, sb } = await mergeWithEmptyRows(backend, dtype);
        const tol = dtype === 'f16' ? 2e-3 : 1e-5;
        for (let r = 0; r < T * H; r++) {
          const row = (x: Float64Array) => Array.from(x.subarray(r * D, (r + 1) * D));
          if (sb[r] === -Infinity) {
            expect(row(gotV)).toEqual(row(va));
            expect(gotS[r]).toBe(Math.fround(sa[r]!));
          } else {
            for (let e = 0; e < D; e++) expect(Math.abs(gotV[r * D + e]! - want.v[r * D + e]!)).toBeLessThan(tol * 4);
            expect(Math.abs(gotS[r]! - want.s[r]!)).toBeLessThan(1e-4);
          }
        }
      });
});
