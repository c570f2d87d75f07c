/** `reduce`: sum or max over the last axis, x [..., C] → y [...]. Accumulates in f32 on GPUs. */
import type { TensorDesc } from '../backends/backend.js';
import { isFloat } from '../tensor/dtype.js';
import { defineOp } from './op-spec.js';
import { rowCaseShapes, rowsAndCols } from './row-shapes.js';
import { FLOAT_DTYPES, randomInput, storageEps } from './test-data.js';

export type ReduceKind = 'sum' | 'max';

export interface ReduceAttrs {
  readonly op: ReduceKind;
  readonly [key: string]: unknown;
}

/** Checks a row-wise op's float input; returns rows and row length. */
export function checkRowInput(op: string, x: TensorDesc | undefined): { rows: number; cols: number } {
  if (!x) throw new Error(`${op}: missing input x`);
  if (!isFloat(x.dtype)) throw new Error(`${op}: x has dtype ${x.dtype}, expected a float type`);
  if (x.shape.length === 0) throw new Error(`${op}: x must have at least one axis`);
  const rc = rowsAndCols(x.shape);
  if (rc.cols === 0) throw new Error(`${op}: rows of length 0 have no ${op}`);
  return rc;
}

export const reduceOp = defineOp<ReduceAttrs>({
  name: 'reduce',
  outputs(attrs, inputs) {
    if (attrs.op !== 'sum' && attrs.op !== 'max')
      throw new Error(`reduce: op must be 'sum' or 'max', got '${String(attrs.op)}'`);
    if (inputs.length !== 1) throw new Error(`reduce: takes 1 input, ${inputs.length} given`);
    const x = inputs[0]!;
    checkRowInput('reduce', x);
    return [{ dtype: x.dtype, shape: x.shape.slice(0, -1) }];
  },
  reference(attrs, [x], [xd]) {
    const { rows, cols } = rowsAndCols(xd!.shape);
    const out = new Float64Array(rows);
    for (let r = 0; r < rows; r++) {
      let acc = attrs.op === 'sum' ? 0 : -Infinity;
      for (let c = 0; c < cols; c++) {
        const v = x![r * cols + c]!;
        acc = attrs.op === 'sum' ? acc + v : Math.max(acc, v);
      }
      out[r] = acc;
    }
    return [out];
  },
  cases(rng, { big }) {
    return rowCaseShapes(rng, big).flatMap((shape) =>
      (['sum', 'max'] as const).map((op) => {
        const dtype = rng.pick(FLOAT_DTYPES);
        return { label: `${op} ${dtype} ${shape.join('x')}`, attrs: { op }, inputs: [randomInput(rng, dtype, shape)] };
      }),
    );
  },
  tolerance(attrs, [xd]) {
    const eps = storageEps(xd!.dtype);
    // max is exact; a sum of C values ~N(0,1) accumulated in f32 drifts by a few ulps of the running total (~√C·C/threads)
    if (attrs.op === 'max') return { abs: 0, rel: 0 };
    const cols = rowsAndCols(xd!.shape).cols;
    return { abs: 2e-7 * cols + 1e-6, rel: 2 * eps };
  },
});
