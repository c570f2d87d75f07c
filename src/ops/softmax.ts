/** `softmax` over the last axis, numerically stable (the row max is subtracted before `exp`). */
import { defineOp } from './op-spec.js';
import { checkRowInput } from './reduce.js';
import { rowCaseShapes, rowsAndCols } from './row-shapes.js';
import { FLOAT_DTYPES, randomInput, storageEps } from './test-data.js';

export interface SoftmaxAttrs {
  readonly [key: string]: unknown;
}

export const softmaxOp = defineOp<SoftmaxAttrs>({
  name: 'softmax',
  outputs(_attrs, inputs) {
    if (inputs.length !== 1) throw new Error(`softmax: takes 1 input, ${inputs.length} given`);
    checkRowInput('softmax', inputs[0]);
    return [{ dtype: inputs[0]!.dtype, shape: [...inputs[0]!.shape] }];
  },
  reference(_attrs, [x], [xd]) {
    const { rows, cols } = rowsAndCols(xd!.shape);
    const out = new Float64Array(rows * cols);
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      let m = -Infinity;
      for (let c = 0; c < cols; c++) m = Math.max(m, x![o + c]!);
      let s = 0;
      for (let c = 0; c < cols; c++) s += out[o + c] = Math.exp(x![o + c]! - m);
      for (let c = 0; c < cols; c++) out[o + c]! /= s;
    }
    return [out];
  },
  cases(rng, { big }) {
    return rowCaseShapes(rng, big).map((shape) => {
      const dtype = rng.pick(FLOAT_DTYPES);
      // logits spread ±10 so exp spans many magnitudes and an unsubtracted max would overflow f16-sized ranges
      return { label: `${dtype} ${shape.join('x')}`, attrs: {}, inputs: [randomInput(rng, dtype, shape, 4)] };
    });
  },
  tolerance(_attrs, [xd]) {
    const eps = storageEps(xd!.dtype);
    // f32 exp of arguments down to about −40 is good to a few ulps; f16 outputs round tiny values to subnormals (2^−24 steps)
    return { abs: 1e-9 + (xd!.dtype === 'f16' ? 2 ** -24 : 0), rel: 1e-5 + 2 * eps };
  },
});
