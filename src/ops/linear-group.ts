/**
 * `linear_group`: several projections of the same rows as one op with one output each (Relax's
 * CombineParallelMatmul, with the outputs kept apart so no split copies follow): Q, K and V of a
 * decoder layer. Every member shares the RMSNorm prologue; the first `roped` members also get RoPE.
 *
 * Inputs: a [..., K], the `count` weights [N_i, K], then the norm weight [K] if `normEps`, the
 * positions i32 [rows] if `rope`, the `count` biases [N_i] if `biased`, the `count` per-row terms
 * f32 [rows, N_i] if `delta` (a LoRA term, src/lora/lora-delta.ts). Output i is what `linear`
 * (src/ops/linear.ts) gives for (a, w_i) with the same norm, the bias and the row term added
 * (epilogue `(x0 + x1)`, or `((x0 + x1) + x2)` with both), and RoPE when i < roped.
 */
import type { Rng } from '../util/rng.js';
import { checkLinear } from './linear-check.js';
import type { LinearAttrs, LinearRope } from './linear-parts.js';
import { linearOp } from './linear.js';
import { defineOp, type OpCase } from './op-spec.js';
import { FLOAT_DTYPES, randomIds, randomInput, storageEps } from './test-data.js';

export interface LinearGroupAttrs {
  readonly count: number;
  readonly roped: number;
  readonly outDtype?: LinearAttrs['outDtype'];
  readonly normEps?: number;
  readonly rope?: LinearRope;
  readonly biased?: boolean;
  /** Each member adds a per-row f32 term [rows, N_i] before RoPE (inputs after the biases). */
  readonly delta?: boolean;
  readonly [key: string]: unknown;
}

/** The epilogue of a biased member (the text FuseOps gives a bias add), or of one with a row term. */
export const BIAS_EPILOGUE = '(x0 + x1)';
/** The epilogue of a member with a bias (x1) and a row term (x2). */
export const BIAS_DELTA_EPILOGUE = '((x0 + x1) + x2)';

/** Member i as a `linear` call: its attrs and inputs. */
export function groupMember<T>(
  attrs: LinearGroupAttrs,
  inputs: readonly T[],
  i: number,
): { attrs: LinearAttrs; inputs: T[] } {
  const { count, roped } = attrs;
  if (!(count >= 1) || !(roped >= 0 && roped <= count)) throw new Error(`linear_group: count ${count}, roped ${roped}`);
  let j = 1 + count;
  const norm = attrs.normEps !== undefined ? inputs[j++] : undefined;
  const pos = attrs.rope ? inputs[j++] : undefined;
  const bias = attrs.biased ? inputs[j + i] : undefined;
  if (attrs.biased) j += count;
  const delta = attrs.delta ? inputs[j + i] : undefined;
  if (attrs.delta) j += count;
  if (inputs.length !== j) throw new Error(`linear_group: ${inputs.length} inputs, ${j} expected`);
  const rope = i < roped ? attrs.rope : undefined;
  const member: LinearAttrs = {
    ...(attrs.outDtype ? { outDtype: attrs.outDtype } : {}),
    ...(attrs.normEps !== undefined ? { normEps: attrs.normEps } : {}),
    ...(rope ? { rope } : {}),
    ...(bias !== undefined || delta !== undefined
      ? { epilogue: bias !== undefined && delta !== undefined ? BIAS_DELTA_EPILOGUE : BIAS_EPILOGUE }
      : {}),
  };
  const ins = [
    inputs[0]!,
    inputs[1 + i]!,
    ...(norm !== undefined ? [norm] : []),
    ...(rope ? [pos!] : []),
    ...(bias !== undefined ? [bias] : []),
    ...(delta !== undefined ? [delta] : []),
  ];
  return { attrs: member, inputs: ins };
}

const members = (attrs: LinearGroupAttrs) => Array.from({ length: attrs.count }, (_, i) => i);

function makeCases(rng: Rng): OpCase<LinearGroupAttrs>[] {
  // one GEMV pass (K a multiple of 8), members one by one at a GEMV size (scalar K), a GEMM size
  const sizes = [
    [rng.int(1, 17), 8 * rng.int(2, 40)],
    [rng.int(1, 17), 8 * rng.int(1, 6) + rng.int(1, 7)],
    [rng.int(17, 40), 8 * rng.int(2, 40)],
  ] as const;
  return sizes.map(([M, K]) => {
    const hd = rng.pick([8, 32]);
    const dtype = rng.pick(FLOAT_DTYPES);
    const wd = rng.pick(FLOAT_DTYPES);
    const heads = [rng.int(1, 5), rng.int(1, 3), rng.int(1, 3)];
    const biased = rng.next() < 0.5;
    const delta = rng.next() < 0.5;
    const attrs: LinearGroupAttrs = {
      ...(biased ? { biased } : {}),
      ...(delta ? { delta } : {}),
      count: 3,
      roped: 2,
      outDtype: dtype,
      normEps: 1e-5,
      rope: { theta: 10000, headDim: hd },
    };
    const inputs = [randomInput(rng, dtype, [M, K], 2), ...heads.map((h) => randomInput(rng, wd, [h * hd, K], 0.5))];
    inputs.push(randomInput(rng, wd, [K]), randomIds(rng, M, 4096));
    if (biased) inputs.push(...heads.map((h) => randomInput(rng, rng.pick(FLOAT_DTYPES), [h * hd])));
    if (delta) inputs.push(...heads.map((h) => randomInput(rng, 'f32', [M, h * hd])));
    return {
      label: `${dtype} w:${wd} M${M} K${K} heads ${heads.join('/')}×${hd}${biased ? ' bias' : ''}${delta ? ' delta' : ''}`,
      attrs,
      inputs,
    };
  });
}

export const linearGroupOp = defineOp<LinearGroupAttrs>({
  name: 'linear_group',
  outputs: (attrs, inputs) =>
    members(attrs).flatMap((i) => {
      const m = groupMember(attrs, inputs, i);
      return linearOp.outputs(m.attrs, m.inputs);
    }),
  reference: (attrs, inputs, inDescs) =>
    members(attrs).flatMap((i) => {
      const m = groupMember(attrs, inputs, i);
      const d = groupMember(attrs, inDescs, i);
      return linearOp.reference(m.attrs, m.inputs, d.inputs, linearOp.outputs(d.attrs, d.inputs));
    }),
  cases: (rng) => makeCases(rng),
  tolerance: (attrs, inDescs) => ({ abs: 1e-6, rel: 2 * storageEps(attrs.outDtype ?? inDescs[0]!.dtype) }),
  check(attrs, inputs, got, want, inDescs) {
    for (const i of members(attrs)) {
      const m = groupMember(attrs, inputs, i);
      const d = groupMember(attrs, inDescs, i);
      const r = checkLinear(m.attrs, m.inputs, [got[i]!], [want[i]!], d.inputs);
      if (r) return r.replace('output 0', `output ${i}`);
    }
    return null;
  },
});
