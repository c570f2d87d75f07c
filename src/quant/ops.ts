/**
 * The op `quant_matmul`: y [..., N] = x [..., K] · Wᵀ with W [N, K] kept in a quantized format as
 * stored (formats.ts) and bound as its raw bytes (a u8 tensor). x and y are f32.
 *
 * The oracle is the quantized math in float64: the bytes are dequantized by the reference
 * dequantizer (codec.ts: ggml's bit-exact one for the GGUF formats), then multiplied in float64.
 * The check is the f32 summation bound per output element (src/sparse/reference.ts): the kernels
 * decode each weight with at most one rounding and sum K products in f32.
 */
import type { Attrs, TensorDesc } from '../backends/backend.js';
import { type OpCase, defineOp } from '../ops/op-spec.js';
import { randomInput } from '../ops/test-data.js';
import { compareWithBound } from '../sparse/ops.js';
import type { Rng } from '../util/rng.js';
import { decodeWeights, encodeWeights } from './codec.js';
import {
  QUANT_FORMATS,
  type QuantFormat,
  isQuantFormat,
  quantLayout,
  weightBytes,
  whyShapeInvalid,
} from './formats.js';

export interface QuantMatmulAttrs {
  readonly format: QuantFormat;
  /** W's rows (the output features) and columns (the reduction length). */
  readonly n: number;
  readonly k: number;
  /** Forces one kernel (tests, benchmarks); left out, the first kernel that serves M runs. */
  readonly path?: QuantMatmulPath;
  readonly [key: string]: unknown;
}

export const QUANT_MATMUL_PATHS = ['gemv', 'batched', 'gemm'] as const;
export type QuantMatmulPath = (typeof QUANT_MATMUL_PATHS)[number];

export interface QuantMatmulGeometry {
  /** Rows of x (the product of its leading dimensions). */
  readonly m: number;
  readonly n: number;
  readonly k: number;
  readonly format: QuantFormat;
}

const fail = (msg: string): never => {
  throw new Error(`quant_matmul: ${msg}`);
};

/** Validates attributes and inputs; every refusal names its reason. */
export function quantMatmulGeometry(attrs: Attrs, inputs: readonly TensorDesc[]): QuantMatmulGeometry {
  const { format, n, k, path } = attrs as QuantMatmulAttrs;
  if (path !== undefined && !(QUANT_MATMUL_PATHS as readonly unknown[]).includes(path))
    fail(`attrs.path must be one of ${QUANT_MATMUL_PATHS.join(', ')}, got ${String(path)}`);
  if (!isQuantFormat(format)) fail(`attrs.format must be one of ${QUANT_FORMATS.join(', ')}, got ${String(format)}`);
  const why = whyShapeInvalid(format, n, k);
  if (why) fail(why);
  if (inputs.length !== 2) fail(`takes 2 inputs (x, w), ${inputs.length} given`);
  const [x, w] = inputs as [TensorDesc, TensorDesc];
  if (x.dtype !== 'f32' || x.shape.length < 1 || x.shape[x.shape.length - 1] !== k)
    fail(`x must be f32 [..., ${k}], got ${x.dtype} [${x.shape.join(', ')}]`);
  const bytes = weightBytes(format, n, k);
  if (w.dtype !== 'u8' || w.shape.length !== 1 || w.shape[0] !== bytes)
    fail(
      `w must be the raw bytes of ${quantLayout(format).label} [${n}, ${k}]: u8 [${bytes}], got ${w.dtype} [${w.shape.join(', ')}]`,
    );
  const m = x.shape.slice(0, -1).reduce((a, b) => a * b, 1);
  return { m, n, k, format };
}

/** y = x · Wᵀ in float64 and Σ|x|·|w| per output (the scale of the f32 summation bound). */
function reference(attrs: Attrs, x: Float64Array, w: Float64Array, descs: readonly TensorDesc[]) {
  const { m, n, k, format } = quantMatmulGeometry(attrs, descs);
  const W = decodeWeights(format, Uint8Array.from(w), n, k);
  const y = new Float64Array(m * n);
  const mag = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      let a = 0;
      for (let c = 0; c < k; c++) {
        const p = x[i * k + c]! * W[j * k + c]!;
        s += p;
        a += Math.abs(p);
      }
      y[i * n + j] = s;
      mag[i * n + j] = a;
    }
  return { y, mag, k };
}

/** M of 1 (the GEMV), 2..16 and 17..40 (the batched GEMM's tiles); N odd; K one to three blocks. */
function cases(rng: Rng): OpCase<QuantMatmulAttrs>[] {
  const out: OpCase<QuantMatmulAttrs>[] = [];
  for (const format of QUANT_FORMATS) {
    const { block } = quantLayout(format);
    for (const m of [1, rng.int(2, 16), rng.int(17, 40)]) {
      const n = rng.int(1, 12) * 2 + 1;
      const k = block * rng.int(1, block >= 256 ? 2 : 3);
      const values = rng.normals(n * k, 0.5);
      const bytes = encodeWeights(format, values, n, k);
      out.push({
        label: `${format} M${m} N${n} K${k}`,
        attrs: { format, n, k },
        inputs: [randomInput(rng, 'f32', [m, k]), { desc: { dtype: 'u8', shape: [bytes.length] }, data: bytes }],
      });
    }
  }
  return out;
}

export const quantMatmulOp = defineOp<QuantMatmulAttrs>({
  name: 'quant_matmul',
  outputs(attrs, inputs) {
    const { n } = quantMatmulGeometry(attrs, inputs);
    return [{ dtype: 'f32', shape: [...inputs[0]!.shape.slice(0, -1), n] }];
  },
  reference(attrs, [x, w], descs) {
    return [reference(attrs, x!, w!, descs).y];
  },
  cases,
  tolerance: () => ({ abs: 1e-5, rel: 1e-5 }),
  check(attrs, [x, w], got, _want, descs) {
    const { y, mag, k } = reference(attrs, x!, w!, descs);
    return compareWithBound(got[0]!, y, mag, () => k);
  },
});

export const QUANT_OPS = [quantMatmulOp];
