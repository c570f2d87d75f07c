/**
 * `rmsnorm`: y = x / sqrt(mean(x²) + eps) · w over the last axis (Llama's RMSNorm). The result is
 * rounded once to x's dtype (HF rounds the normalised x before multiplying by w: ≤ 1 ulp apart).
 */
import type { TensorDesc } from '../backends/backend.js';
import { isFloat } from '../tensor/dtype.js';
import { defineOp } from './op-spec.js';
import { checkRowInput } from './reduce.js';
import { rowCaseShapes, rowsAndCols } from './row-shapes.js';
import { FLOAT_DTYPES, randomInput, storageEps } from './test-data.js';

export interface NormAttrs {
  readonly eps: number;
  readonly [key: string]: unknown;
}

/** Checks x [..., C] and the per-channel vectors ([C] each) of a norm op. */
export function checkNormInputs(
  op: string,
  attrs: NormAttrs,
  inputs: readonly TensorDesc[],
  vectors: readonly string[],
): void {
  if (inputs.length !== 1 + vectors.length)
    throw new Error(`${op}: takes ${1 + vectors.length} inputs (x, ${vectors.join(', ')}), ${inputs.length} given`);
  if (typeof attrs.eps !== 'number' || !(attrs.eps >= 0))
    throw new Error(`${op}: eps must be a number ≥ 0, got ${String(attrs.eps)}`);
  const { cols } = checkRowInput(op, inputs[0]);
  vectors.forEach((name, i) => {
    const v = inputs[i + 1]!;
    if (v.shape.length !== 1 || v.shape[0] !== cols)
      throw new Error(`${op}: ${name} has shape [${v.shape.join(', ')}], expected [${cols}]`);
    if (!isFloat(v.dtype)) throw new Error(`${op}: ${name} has dtype ${v.dtype}, expected a float type`);
  });
}

export const rmsnormOp = defineOp<NormAttrs>({
  name: 'rmsnorm',
  outputs(attrs, inputs) {
    checkNormInputs('rmsnorm', attrs, inputs, ['w']);
    return [{ dtype: inputs[0]!.dtype, shape: [...inputs[0]!.shape] }];
  },
  reference(attrs, [x, w], [xd]) {
    const { rows, cols } = rowsAndCols(xd!.shape);
    const out = new Float64Array(rows * cols);
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      let ss = 0;
      for (let c = 0; c < cols; c++) ss += x![o + c]! ** 2;
      const inv = 1 / Math.sqrt(ss / cols + attrs.eps);
      for (let c = 0; c < cols; c++) out[o + c] = x![o + c]! * inv * w![c]!;
    }
    return [out];
  },
  cases(rng, { big }) {
    return rowCaseShapes(rng, big).map((shape) => {
      const dtype = rng.pick(FLOAT_DTYPES);
      const wd = rng.pick(FLOAT_DTYPES);
      const eps = rng.pick([1e-5, 1e-6, 0.5]);
      const cols = shape[shape.length - 1]!;
      return {
        label: `${dtype} w:${wd} eps ${eps} ${shape.join('x')}`,
        attrs: { eps },
        inputs: [randomInput(rng, dtype, shape, 3), randomInput(rng, wd, [cols])],
      };
    });
  },
  tolerance(_attrs, [xd]) {
    return { abs: 1e-6, rel: 1e-5 + 2 * storageEps(xd!.dtype) };
  },
});
