/**
 * `argmax` over the last axis: x [..., C] → i32 [...]. Exact comparisons; ties go to the lowest
 * index (as `torch.argmax` and greedy decoding expect). NaN entries are skipped; a row of only NaN
 * gives 0.
 */
import { toHost } from '../tensor/dtype.js';
import { defineOp } from './op-spec.js';
import { checkRowInput } from './reduce.js';
import { rowCaseShapes, rowsAndCols } from './row-shapes.js';
import { FLOAT_DTYPES } from './test-data.js';

export interface ArgmaxAttrs {
  readonly [key: string]: unknown;
}

/** Index of the first maximum of x[o, o + n), skipping NaN (0 when all are NaN). */
export function argmaxRow(x: ArrayLike<number>, o: number, n: number): number {
  let best = -1;
  for (let c = 0; c < n; c++) {
    const v = x[o + c]!;
    if (!Number.isNaN(v) && (best < 0 || v > x[o + best]!)) best = c;
  }
  return Math.max(best, 0);
}

export const argmaxOp = defineOp<ArgmaxAttrs>({
  name: 'argmax',
  outputs(_attrs, inputs) {
    if (inputs.length !== 1) throw new Error(`argmax: takes 1 input, ${inputs.length} given`);
    checkRowInput('argmax', inputs[0]);
    return [{ dtype: 'i32', shape: inputs[0]!.shape.slice(0, -1) }];
  },
  reference(_attrs, [x], [xd]) {
    const { rows, cols } = rowsAndCols(xd!.shape);
    const out = new Float64Array(rows);
    for (let r = 0; r < rows; r++) out[r] = argmaxRow(x!, r * cols, cols);
    return [out];
  },
  cases(rng, { big }) {
    return rowCaseShapes(rng, big).map((shape) => {
      const dtype = rng.pick(FLOAT_DTYPES);
      const n = shape.reduce((a, d) => a * d, 1);
      // coarse values (steps of 1/4 in ±3) make ties at the maximum common, so the lowest-index rule is tested
      const coarse = rng.next() < 0.6;
      const vals = rng.normals(n).map((v) => (coarse ? Math.max(-3, Math.min(3, Math.round(v * 4) / 4)) : v * 10));
      return {
        label: `${dtype} ${coarse ? 'ties ' : ''}${shape.join('x')}`,
        attrs: {},
        inputs: [{ desc: { dtype, shape }, data: toHost(dtype, vals) }],
      };
    });
  },
  tolerance() {
    return { abs: 0, rel: 0 };
  },
});
