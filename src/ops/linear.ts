/**
 * `linear`: a projection with the neighbours a decoder puts around it, as one op so a kernel can
 * do them in one pass: y = rope(epilogue(rmsnorm(a) · wᵀ)). Each part is optional:
 *
 * - `paired`: a second weight w2 of w's shape (input 2) multiplies the same rows; its accumulator
 *   is the epilogue's x1 (gate and up projections as one pass: `silu(x0) * x1`);
 * - `normEps`: a's rows are RMS-normalised and scaled by the norm weight (the next input) first;
 * - `epilogue`: the `matmul` epilogue over the f32 accumulator and extra inputs (see matmul.ts);
 * - `rope`: rotate-half RoPE over heads of `headDim` at the token positions (the next input).
 *
 * Inputs: a [..., K], w [N, K] (HF `Linear` layout), then w2 if `paired`, the norm weight [K] if
 * `normEps`, the positions i32 [rows] if `rope`, then the epilogue's extras. The output is [..., N], or
 * [..., N / headDim, headDim] with `rope`. The compiler's fusion emits it (passes/fuse-linear.ts);
 * nothing is rounded between the parts, so it is at least as accurate as the ops it replaces.
 */
import type { TensorDesc } from '../backends/backend.js';
import type { Rng } from '../util/rng.js';
import { checkLinear } from './linear-check.js';
import { type LinearAttrs, type LinearParts, linearMatmulAttrs, linearParts } from './linear-parts.js';
import { matmulOp } from './matmul.js';
import { defineOp, type OpCase } from './op-spec.js';
import { ropeOp } from './rope.js';
import { rmsnormOp } from './rmsnorm.js';
import { FLOAT_DTYPES, randomIds, randomInput, storageEps } from './test-data.js';

export { type LinearAttrs, type LinearParts, type LinearRope, linearMatmulAttrs, linearParts } from './linear-parts.js';

/** The second product of a paired call as the matmul's first extra input (f32, [..., N]). */
function pairDesc(p: LinearParts<TensorDesc>): TensorDesc[] {
  return p.w2 ? [{ dtype: 'f32', shape: [...p.a.shape.slice(0, -1), p.w2.shape[0]!] }] : [];
}

function outputs(attrs: LinearAttrs, inputs: readonly TensorDesc[]): TensorDesc[] {
  const p = linearParts(attrs, inputs);
  if (attrs.normEps !== undefined) rmsnormOp.outputs({ eps: attrs.normEps }, [p.a, p.norm!]);
  if (p.w2 && (p.w2.shape.length !== 2 || p.w2.shape.join() !== p.w.shape.join()))
    throw new Error(`linear: the paired weight [${p.w2.shape.join(', ')}] differs from w [${p.w.shape.join(', ')}]`);
  if (p.w2 && !attrs.epilogue) throw new Error('linear: a paired weight needs an epilogue that reads x1');
  const [y] = matmulOp.outputs(linearMatmulAttrs(attrs), [p.a, p.w, ...pairDesc(p), ...p.extras]);
  if (!attrs.rope) return [y!];
  const hd = attrs.rope.headDim;
  const N = y!.shape[y!.shape.length - 1]!;
  if (!(hd > 0) || N % hd !== 0) throw new Error(`linear: N = ${N} is not a multiple of headDim ${hd}`);
  const rows = y!.shape.slice(0, -1);
  ropeOp.outputs(attrs.rope, [{ dtype: y!.dtype, shape: [rows.reduce((x, z) => x * z, 1), N / hd, hd] }, p.pos!]);
  return [{ dtype: y!.dtype, shape: [...rows, N / hd, hd] }];
}

function reference(
  attrs: LinearAttrs,
  inputs: readonly Float64Array[],
  inDescs: readonly TensorDesc[],
): Float64Array[] {
  const p = linearParts(attrs, inputs);
  const d = linearParts(attrs, inDescs);
  const a =
    attrs.normEps !== undefined
      ? rmsnormOp.reference({ eps: attrs.normEps }, [p.a, p.norm!], [d.a, d.norm!], [d.a])[0]!
      : p.a;
  const plain = { transB: true };
  const pair = d.w2 ? matmulOp.reference(plain, [a, p.w2!], [d.a, d.w2], pairDesc(d)) : [];
  const extraDescs = [...pairDesc(d), ...d.extras];
  const [yd] = matmulOp.outputs(linearMatmulAttrs(attrs), [d.a, d.w, ...extraDescs]);
  const [y] = matmulOp.reference(
    linearMatmulAttrs(attrs),
    [a, p.w, ...pair, ...p.extras],
    [d.a, d.w, ...extraDescs],
    [yd!],
  );
  if (!attrs.rope) return [y!];
  const hd = attrs.rope.headDim;
  const N = yd!.shape[yd!.shape.length - 1]!;
  const T = y!.length / N;
  const xd: TensorDesc = { dtype: yd!.dtype, shape: [T, N / hd, hd] };
  return ropeOp.reference(attrs.rope, [y!, p.pos!], [xd, d.pos!], [xd]);
}

/** The fusions a decoder asks for, each at GEMV sizes (M ≤ 16) and a GEMM size. */
const CASE_FUSIONS = [
  { norm: true, rope: true, paired: false },
  { norm: true, rope: false, paired: true },
  { norm: false, rope: true, paired: false },
] as const;

function makeCases(rng: Rng): OpCase<LinearAttrs>[] {
  const out: OpCase<LinearAttrs>[] = [];
  // GEMV sizes with 16-byte and with scalar loads (K a multiple of 8 or not), then a GEMM size;
  // every fusion at each, so the first cases (what quick runs take) already cover them all
  const sizes = [
    () => [rng.pick([1, rng.int(2, 17)]), 8 * rng.int(2, 40)],
    () => [rng.pick([1, rng.int(2, 17)]), 8 * rng.int(1, 6) + rng.int(1, 7)],
    () => [rng.int(17, 40), rng.pick([8 * rng.int(2, 40), rng.int(3, 50)])],
  ] as const;
  for (const size of sizes) {
    for (const { norm, rope, paired } of CASE_FUSIONS) {
      const [M, K] = size() as [number, number];
      const hd = rng.pick([8, 32]);
      const N = hd * rng.int(1, 5);
      const dtype = rng.pick(FLOAT_DTYPES);
      const wd = rng.pick(FLOAT_DTYPES);
      const bias = rng.next() < 0.5;
      const epilogue = paired ? (bias ? 'silu(x0) * x1 + x2' : 'silu(x0) * x1') : bias ? 'x0 + x1' : undefined;
      const attrs: LinearAttrs = {
        outDtype: dtype,
        ...(paired ? { paired } : {}),
        ...(norm ? { normEps: 1e-5 } : {}),
        ...(rope ? { rope: { theta: 10000, headDim: hd } } : {}),
        ...(epilogue ? { epilogue } : {}),
      };
      const inputs = [randomInput(rng, dtype, [M, K], 2), randomInput(rng, wd, [N, K], 0.5)];
      if (paired) inputs.push(randomInput(rng, wd, [N, K], 0.5));
      if (norm) inputs.push(randomInput(rng, wd, [K]));
      if (rope) inputs.push(randomIds(rng, M, 4096));
      if (bias) inputs.push(randomInput(rng, wd, [N]));
      const parts = [paired ? 'paired' : '', norm ? 'norm' : '', bias ? 'bias' : '', rope ? `rope${hd}` : ''];
      out.push({ label: `${dtype} w:${wd} M${M} N${N} K${K} ${parts.filter(Boolean).join('+')}`, attrs, inputs });
    }
  }
  return out;
}

export const linearOp = defineOp<LinearAttrs>({
  name: 'linear',
  outputs,
  reference: (attrs, inputs, inDescs) => reference(attrs, inputs, inDescs),
  cases: (rng) => makeCases(rng),
  // the bound is per element (linear-check.ts); this tolerance is only what reports print
  tolerance: (attrs, inDescs) => ({ abs: 1e-6, rel: 2 * storageEps(attrs.outDtype ?? inDescs[0]!.dtype) }),
  check: checkLinear,
});
