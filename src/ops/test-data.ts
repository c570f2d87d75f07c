/** Random inputs for op cases, rounded to the dtype they are stored in. */
import type { TensorDesc } from '../backends/backend.js';
import { type DType, numel, toHost } from '../tensor/dtype.js';
import type { Rng } from '../util/rng.js';
import type { CaseInput } from './op-spec.js';

export function randomInput(rng: Rng, dtype: DType, shape: readonly number[], scale = 1): CaseInput {
  const desc: TensorDesc = { dtype, shape: [...shape] };
  const n = numel(shape);
  if (dtype === 'i32' || dtype === 'u32' || dtype === 'i8' || dtype === 'u8') {
    const lo = dtype === 'i8' ? -128 : dtype === 'i32' ? -1000 : 0;
    const hi = dtype === 'i8' ? 127 : dtype === 'u8' ? 255 : 1000;
    const v = new Float64Array(n);
    for (let i = 0; i < n; i++) v[i] = rng.int(lo, hi);
    return { desc, data: toHost(dtype, v) };
  }
  return { desc, data: toHost(dtype, rng.normals(n, scale)) };
}

/** Integer ids in [0, hi). */
export function randomIds(rng: Rng, n: number, hi: number): CaseInput {
  const v = new Int32Array(n);
  for (let i = 0; i < n; i++) v[i] = rng.int(0, hi - 1);
  return { desc: { dtype: 'i32', shape: [n] }, data: v };
}

/** Tolerance scale for values stored in `dtype` (the rounding of the output itself). */
export function storageEps(dtype: DType): number {
  return dtype === 'f16' ? 2 ** -10 : dtype === 'bf16' ? 2 ** -7 : dtype === 'f32' ? 2 ** -22 : 0;
}

export const FLOAT_DTYPES: readonly DType[] = ['f32', 'f16', 'bf16'];

export { numel };
