/** `elementwise`: y = expr(x0, x1, …) with numpy broadcasting; the unit of fusion. */
import type { TensorDesc } from '../backends/backend.js';
import { type DType, isFloat, numel } from '../tensor/dtype.js';
import { type Expr, evalExpr, exprArity, parseExpr } from './expr.js';
import { broadcastShapes, broadcastStrides } from './broadcast.js';
import { defineOp } from './op-spec.js';
import { FLOAT_DTYPES, randomInput, storageEps } from './test-data.js';

export interface ElementwiseAttrs {
  readonly expr: string;
  readonly outDtype?: DType;
  readonly [key: string]: unknown;
}

const parsed = new Map<string, Expr>();
export function elementwiseExpr(src: string): Expr {
  let e = parsed.get(src);
  if (!e) parsed.set(src, (e = parseExpr(src)));
  return e;
}

const CASE_EXPRS = [
  'x0 + x1',
  'x0 * x1 - 0.5',
  'silu(x0) * x1',
  'gelu(x0)',
  'exp(x0 * 0.25) / (1 + abs(x1))',
  'max(x0, x1) + min(x0, 0.25)',
  'sigmoid(x0) * tanh(x1) + relu(x2)',
  'rsqrt(abs(x0) + 1) * x1',
  '-x0',
];

export const elementwiseOp = defineOp<ElementwiseAttrs>({
  name: 'elementwise',
  outputs(attrs, inputs) {
    const e = elementwiseExpr(attrs.expr);
    if (exprArity(e) > inputs.length)
      throw new Error(`elementwise: '${attrs.expr}' reads ${exprArity(e)} inputs, ${inputs.length} given`);
    if (inputs.length === 0) throw new Error('elementwise: needs at least one input');
    const dtype = attrs.outDtype ?? inputs[0]!.dtype;
    if (!isFloat(dtype)) throw new Error(`elementwise: output dtype ${dtype} is not a float type`);
    for (const t of inputs)
      if (!isFloat(t.dtype)) throw new Error(`elementwise: input dtype ${t.dtype} is not a float type`);
    return [
      {
        dtype,
        shape: broadcastShapes(
          'elementwise',
          inputs.map((t) => t.shape),
        ),
      },
    ];
  },
  reference(attrs, inputs, inDescs, outDescs) {
    const e = elementwiseExpr(attrs.expr);
    const outShape = outDescs[0]!.shape;
    const n = numel(outShape);
    const strides = inDescs.map((d) => broadcastStrides(d.shape, outShape));
    const out = new Float64Array(n);
    const args = new Array<number>(inputs.length);
    const idx = new Array<number>(outShape.length).fill(0);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < inputs.length; j++) {
        let off = 0;
        for (let a = 0; a < idx.length; a++) off += idx[a]! * strides[j]![a]!;
        args[j] = inputs[j]![off]!;
      }
      out[i] = evalExpr(e, args);
      for (let a = idx.length - 1; a >= 0; a--) {
        if (++idx[a]! < outShape[a]!) break;
        idx[a] = 0;
      }
    }
    return [out];
  },
  cases(rng, { big }) {
    const cases = [];
    for (const expr of CASE_EXPRS) {
      const arity = exprArity(parseExpr(expr));
      const dtype = rng.pick(FLOAT_DTYPES);
      const rows = rng.int(1, 37);
      const cols = rng.int(1, big ? 4099 : 301);
      const shapes: number[][] = [];
      for (let i = 0; i < arity; i++) {
        // one input broadcast along rows or a scalar, the rest full
        const kind = i === 0 ? 0 : rng.int(0, 2);
        shapes.push(kind === 0 ? [rows, cols] : kind === 1 ? [1, cols] : [1]);
      }
      cases.push({
        label: `${expr} ${dtype} ${shapes.map((s) => s.join('x')).join(',')}`,
        attrs: { expr },
        inputs: shapes.map((s) => randomInput(rng, dtype, s)),
      });
    }
    return cases;
  },
  tolerance(attrs, inDescs) {
    const dtype = attrs.outDtype ?? inDescs[0]!.dtype;
    return { abs: 1e-5 + 2 * storageEps(dtype), rel: 1e-5 + 2 * storageEps(dtype) };
  },
});
