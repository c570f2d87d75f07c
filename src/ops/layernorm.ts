/**
 * `layernorm`: y = (x − mean) / sqrt(var + eps) · w + b over the last axis, with the biased
 * variance (as PyTorch). Kernels take the variance in a second pass over (x − mean), which stays
 * accurate when the mean is large against the spread (E[x²] − mean² would cancel).
 */
import { toHost } from '../tensor/dtype.js';
import { defineOp } from './op-spec.js';
import { checkRowInput } from './reduce.js';
import { type NormAttrs, checkNormInputs } from './rmsnorm.js';
import { rowCaseShapes, rowsAndCols } from './row-shapes.js';
import { FLOAT_DTYPES, randomInput, storageEps } from './test-data.js';

export const layernormOp = defineOp<NormAttrs>({
  name: 'layernorm',
  outputs(attrs, inputs) {
    checkNormInputs('layernorm', attrs, inputs, ['w', 'b']);
    checkRowInput('layernorm', inputs[0]);
    return [{ dtype: inputs[0]!.dtype, shape: [...inputs[0]!.shape] }];
  },
  reference(attrs, [x, w, b], [xd]) {
    const { rows, cols } = rowsAndCols(xd!.shape);
    const out = new Float64Array(rows * cols);
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      let s = 0;
      for (let c = 0; c < cols; c++) s += x![o + c]!;
      const mean = s / cols;
      let v = 0;
      for (let c = 0; c < cols; c++) v += (x![o + c]! - mean) ** 2;
      const inv = 1 / Math.sqrt(v / cols + attrs.eps);
      for (let c = 0; c < cols; c++) out[o + c] = (x![o + c]! - mean) * inv * w![c]! + b![c]!;
    }
    return [out];
  },
  cases(rng, { big }) {
    return rowCaseShapes(rng, big).map((shape) => {
      const dtype = rng.pick(FLOAT_DTYPES);
      const wd = rng.pick(FLOAT_DTYPES);
      const eps = rng.pick([1e-5, 1e-6, 0.5]);
      const cols = shape[shape.length - 1]!;
      // an offset mean (up to ±8) catches one-pass variance formulas
      const offset = rng.uniform(-8, 8);
      const xs = rng.normals(shape.reduce((a, d) => a * d, 1)).map((v) => v + offset);
      const x = { desc: { dtype, shape }, data: toHost(dtype, xs) };
      return {
        label: `${dtype} w,b:${wd} eps ${eps} ${shape.join('x')}`,
        attrs: { eps },
        inputs: [x, randomInput(rng, wd, [cols]), randomInput(rng, wd, [cols])],
      };
    });
  },
  tolerance(_attrs, [xd]) {
    // the bias add can cancel: allow an absolute error of the terms' size (|x̂·w| and |b| are a few units)
    return { abs: 4e-5, rel: 1e-5 + 2 * storageEps(xd!.dtype) };
  },
});
