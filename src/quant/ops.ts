/**
 * The op `quant_matmul`: y [..., N] = x [..., K] · Wᵀ with W [N, K] kept in a quantized format as
 * stored (formats.ts) and bound as its raw bytes (a u8 tensor). x and y are f32.
 *
 * The oracle is the quantized math in float64: the bytes are dequantized by the reference
 * dequantizer (codec.ts: ggml's bit-exact one for the GGUF formats), then multiplied in float64.
 * The check is the f32 summation bound per output element (src/sparse/reference.ts): the kernels
 * decode each weight with at most one rounding and sum K products in f32. With `f16Operands` the
 * caller accepts x and the decoded weights rounded to f16 (the tensor-core path), and the bound
 * adds what those two roundings can move each product, subnormal f16 spacing included.
 */
import type { Attrs, TensorDesc } from '../backends/backend.js';
import { type OpCase, defineOp } from '../ops/op-spec.js';
import { randomInput } from '../ops/test-data.js';
import { compareWithBound } from '../sparse/ops.js';
import { f32SumTolerance } from '../sparse/reference.js';
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
  /**
   * The caller accepts x and the decoded weights rounded to f16 (precision and range), as the
   * f16-weight matmul does to its activations: lets M ≥ 16 run on f16 tensor cores.
   */
  readonly f16Operands?: boolean;
  readonly [key: string]: unknown;
}

export const QUANT_MATMUL_PATHS = ['gemv', 'batched', 'sgmat', 'gemm'] as const;
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
  const { format, n, k, path, f16Operands } = attrs as QuantMatmulAttrs;
  if (f16Operands !== undefined && typeof f16Operands !== 'boolean')
    fail(`attrs.f16Operands must be a boolean, got ${String(f16Operands)}`);
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
  const f16 = (attrs as QuantMatmulAttrs).f16Operands === true;
  const y = new Float64Array(m * n);
  const mag = new Float64Array(m * n);
  // what rounding x and w to f16 can move Σ x·w by (f16Operands), else 0
  const round = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      let a = 0;
      let r = 0;
      for (let c = 0; c < k; c++) {
        const [xv, wv] = [x[i * k + c]!, W[j * k + c]!];
        s += xv * wv;
        a += Math.abs(xv * wv);
        if (f16) {
          // |x̃ − x| ≤ 2⁻¹¹|x| + 2⁻²⁵ (round to nearest, subnormal spacing 2⁻²⁴), likewise w
          const [ex, ew] = [F16_U * Math.abs(xv) + F16_SUB, F16_U * Math.abs(wv) + F16_SUB];
          r += ex * (Math.abs(wv) + ew) + Math.abs(xv) * ew;
        }
      }
      y[i * n + j] = s;
      mag[i * n + j] = a;
      round[i * n + j] = r;
    }
  return { y, mag, round, k };
}

/** f16's unit roundoff and half its subnormal spacing. */
const F16_U = 2 ** -11;
const F16_SUB = 2 ** -25;

/** M of 1 (the GEMV), 2..16 and 17..40 (the batched GEMM's tiles; the last also with f16 operands); N odd; K one to three blocks. */
function cases(rng: Rng): OpCase<QuantMatmulAttrs>[] {
  const out: OpCase<QuantMatmulAttrs>[] = [];
  for (const format of QUANT_FORMATS) {
    const { block } = quantLayout(format);
    for (const m of [1, rng.int(2, 16), rng.int(17, 40)]) {
      const n = rng.int(1, 12) * 2 + 1;
      const k = block * rng.int(1, block >= 256 ? 2 : 3);
      const values = rng.normals(n * k, 0.5);
      const bytes = encodeWeights(format, values, n, k);
      const inputs = [
        randomInput(rng, 'f32', [m, k]),
        { desc: { dtype: 'u8' as const, shape: [bytes.length] }, data: bytes },
      ];
      out.push({ label: `${format} M${m} N${n} K${k}`, attrs: { format, n, k }, inputs });
      // the same product with f16 operands allowed: the tensor-core GEMM where the device has one
      if (m >= 16)
        out.push({
          label: `${format} M${m} N${n} K${k} f16 operands`,
          attrs: { format, n, k, f16Operands: true },
          inputs,
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
    const { y, mag, round, k } = reference(attrs, x!, w!, descs);
    if (!(attrs as QuantMatmulAttrs).f16Operands) return compareWithBound(got[0]!, y, mag, () => k);
    // the f16 roundings move the exact sum by at most round[e]; the f32 bound covers the summation of the rest
    const g = got[0]!;
    let bad = 0;
    let worst = -1;
    for (let e = 0; e < g.length; e++) {
      const bound = round[e]! + f32SumTolerance(k, mag[e]! + round[e]!, y[e]!);
      if (!(Math.abs(g[e]! - y[e]!) <= bound)) {
        bad++;
        if (worst < 0) worst = e;
      }
    }
    return bad === 0
      ? null
      : `${bad}/${g.length} outside the f16-operand bound; first at [${worst}]: got ${g[worst]}, want ${y[worst]}`;
  },
});

export const QUANT_OPS = [quantMatmulOp];
