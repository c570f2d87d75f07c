/**
 * `linear`: a projection with the neighbours a decoder puts around it, as one op so a kernel can
 * do them in one pass: y = rope(epilogue(rmsnorm(a) · wᵀ)). Each part is optional:
 *
 * - `normEps`: a's rows are RMS-normalised and scaled by the norm weight (input 2) first;
 * - `epilogue`: the `matmul` epilogue over the f32 accumulator and extra inputs (see matmul.ts);
 * - `rope`: rotate-half RoPE over heads of `headDim` at the token positions (the next input).
 *
 * Inputs: a [..., K], w [N, K] (HF `Linear` layout), then the norm weight [K] if `normEps`, the
 * positions i32 [rows] if `rope`, then the epilogue's extras. The output is [..., N], or
 * [..., N / headDim, headDim] with `rope`. The compiler's fusion emits it (passes/fuse-linear.ts);
 * nothing is rounded between the parts, so it is at least as accurate as the ops it replaces.
 */
import type { TensorDesc } from '../backends/backend.js';
import type { Rng } from '../util/rng.js';
import { type MatmulAttrs, matmulOp } from './matmul.js';
import { defineOp, type OpCase } from './op-spec.js';
import { type RopeAttrs, ropeOp } from './rope.js';
import { rmsnormOp } from './rmsnorm.js';
import { FLOAT_DTYPES, randomIds, randomInput, storageEps } from './test-data.js';

export interface LinearRope extends RopeAttrs {
  readonly headDim: number;
}

export interface LinearAttrs {
  readonly outDtype?: MatmulAttrs['outDtype'];
  readonly epilogue?: string;
  readonly normEps?: number;
  readonly rope?: LinearRope;
  readonly [key: string]: unknown;
}

/** The inputs of a `linear` call by role. */
export interface LinearParts<T> {
  readonly a: T;
  readonly w: T;
  readonly norm?: T;
  readonly pos?: T;
  readonly extras: readonly T[];
}

export function linearParts<T>(attrs: LinearAttrs, inputs: readonly T[]): LinearParts<T> {
  let i = 2;
  const norm = attrs.normEps !== undefined ? inputs[i++] : undefined;
  const pos = attrs.rope ? inputs[i++] : undefined;
  if (inputs.length < i) throw new Error(`linear: ${inputs.length} inputs, at least ${i} expected`);
  return {
    a: inputs[0]!,
    w: inputs[1]!,
    ...(norm !== undefined ? { norm } : {}),
    ...(pos !== undefined ? { pos } : {}),
    extras: inputs.slice(i),
  };
}

/** The plain matmul inside: transB with the same epilogue. */
export function linearMatmulAttrs(attrs: LinearAttrs): MatmulAttrs {
  return {
    transB: true,
    ...(attrs.outDtype ? { outDtype: attrs.outDtype } : {}),
    ...(attrs.epilogue ? { epilogue: attrs.epilogue } : {}),
  };
}

function outputs(attrs: LinearAttrs, inputs: readonly TensorDesc[]): TensorDesc[] {
  const p = linearParts(attrs, inputs);
  if (attrs.normEps !== undefined) rmsnormOp.outputs({ eps: attrs.normEps }, [p.a, p.norm!]);
  const [y] = matmulOp.outputs(linearMatmulAttrs(attrs), [p.a, p.w, ...p.extras]);
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
  const [yd] = matmulOp.outputs(linearMatmulAttrs(attrs), [d.a, d.w, ...d.extras]);
  const [y] = matmulOp.reference(linearMatmulAttrs(attrs), [a, p.w, ...p.extras], [d.a, d.w, ...d.extras], [yd!]);
  if (!attrs.rope) return [y!];
  const hd = attrs.rope.headDim;
  const N = yd!.shape[yd!.shape.length - 1]!;
  const T = y!.length / N;
  const xd: TensorDesc = { dtype: yd!.dtype, shape: [T, N / hd, hd] };
  return ropeOp.reference(attrs.rope, [y!, p.pos!], [xd, d.pos!], [xd]);
}

function makeCases(rng: Rng): OpCase<LinearAttrs>[] {
  const out: OpCase<LinearAttrs>[] = [];
  for (const M of [1, rng.int(2, 17), rng.int(17, 40)]) {
    const hd = rng.pick([8, 32]);
    const N = hd * rng.int(1, 5);
    const K = rng.pick([8 * rng.int(2, 40), rng.int(3, 50)]);
    const dtype = rng.pick(FLOAT_DTYPES);
    const wd = rng.pick(FLOAT_DTYPES);
    const norm = rng.next() < 0.7;
    const rope = rng.next() < 0.7;
    const bias = rng.next() < 0.5;
    const attrs: LinearAttrs = {
      outDtype: dtype,
      ...(norm ? { normEps: 1e-5 } : {}),
      ...(rope ? { rope: { theta: 10000, headDim: hd } } : {}),
      ...(bias ? { epilogue: 'x0 + x1' } : {}),
    };
    const inputs = [randomInput(rng, dtype, [M, K], 2), randomInput(rng, wd, [N, K], 0.5)];
    if (norm) inputs.push(randomInput(rng, wd, [K]));
    if (rope) inputs.push(randomIds(rng, M, 4096));
    if (bias) inputs.push(randomInput(rng, wd, [N]));
    const parts = [norm ? 'norm' : '', bias ? 'bias' : '', rope ? `rope${hd}` : ''].filter(Boolean).join('+');
    out.push({ label: `${dtype} w:${wd} M${M} N${N} K${K} ${parts || 'plain'}`, attrs, inputs });
  }
  return out;
}

export const linearOp = defineOp<LinearAttrs>({
  name: 'linear',
  outputs,
  reference: (attrs, inputs, inDescs) => reference(attrs, inputs, inDescs),
  cases: (rng) => makeCases(rng),
  tolerance(attrs, inDescs) {
    // f32 accumulation over K terms of inputs of magnitude ≤ 2 (scaled up to √K by the norm),
    // then the output's rounding; a dropped or doubled term is of order 0.1 and is caught. Kernels
    // that run the norm as its own pass (prefill sizes) round the normalised rows to a's dtype,
    // as the unfused graph does: one storage epsilon of a per term, a random walk over K.
    const a = inDescs[0]!;
    const K = a.shape[a.shape.length - 1]!;
    const normRounding = attrs.normEps !== undefined ? storageEps(a.dtype) : 0;
    return { abs: Math.sqrt(K) * (2e-4 + normRounding), rel: 2 * storageEps(attrs.outDtype ?? a.dtype) + 1e-5 };
  },
});
