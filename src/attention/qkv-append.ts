/**
 * `qkv_append`: a decoder layer's Q/K/V `linear_group` (src/ops/linear-group.ts: three members, Q
 * and K RoPE'd) whose K and V are written straight into the paged KV pool instead of outputs of
 * their own, so no separate `append_kv` pass follows. Inputs: the `linear_group` inputs, then the
 * tokens' pool slots (i32, page · pageSize + offset, −1: not stored; see append-slots.ts), then
 * the pool. Outputs: Q, and the pool (in place when it is the input pool's buffer).
 */
import type { TensorDesc } from '../backends/backend.js';
import { checkLinear } from '../ops/linear-check.js';
import { type LinearGroupAttrs, groupMember, linearGroupOp } from '../ops/linear-group.js';
import { type OpCase, defineOp } from '../ops/op-spec.js';
import { FLOAT_DTYPES, randomInput } from '../ops/test-data.js';
import type { Rng } from '../util/rng.js';
import { appendSlots } from './append-slots.js';
import { randomPagedBatch } from './batch-gen.js';
import { type KvLayout, type PoolGeometry, poolOffset } from './kv-layout.js';
import { type KvQuantSpec, kvPoolGeometry } from './kv-quant.js';
import { checkQuantAtSlots, quantQkvCase, quantStoreAtSlots } from './qkv-append-quant.js';

export interface QkvAppendAttrs extends LinearGroupAttrs {
  readonly layout: KvLayout;
  /** The pool is a quantized KV pool of this geometry: K and V rows are quantized as they are stored. */
  readonly kvQuant?: KvQuantSpec;
}

const fail = (msg: string): never => {
  throw new Error(`qkv_append: ${msg}`);
};

/** The `linear_group` inputs, the slots and the pool; checks the shapes that tie them together. */
export function qkvAppendParts<T>(attrs: QkvAppendAttrs, inputs: readonly T[]): { group: T[]; slots: T; pool: T } {
  if (inputs.length < 3) fail('inputs are the linear_group inputs, the slots and the pool');
  return { group: inputs.slice(0, -2), slots: inputs[inputs.length - 2]!, pool: inputs[inputs.length - 1]! };
}

function geometry(attrs: QkvAppendAttrs, inputs: readonly TensorDesc[]): { g: PoolGeometry; outs: TensorDesc[] } {
  if (attrs.count !== 3 || attrs.roped !== 2)
    fail(`needs Q, K, V with Q and K roped (count ${attrs.count}, roped ${attrs.roped})`);
  const { group, slots, pool } = qkvAppendParts(attrs, inputs);
  const outs = linearGroupOp.outputs(attrs, group);
  const g = kvPoolGeometry(pool, attrs.layout, attrs.kvQuant, 'qkv_append');
  const hd = attrs.rope?.headDim;
  if (hd !== g.headDim) fail(`RoPE head dim ${hd} differs from the pool's ${g.headDim}`);
  for (const o of outs.slice(1)) {
    const width = o.shape.slice(1).reduce((a, b) => a * b, 1);
    if (width !== g.numKvHeads * g.headDim)
      fail(`K/V rows of ${width} elements, the pool holds ${g.numKvHeads} heads of ${g.headDim}`);
    if (attrs.kvQuant ? !['f32', 'f16'].includes(o.dtype) : o.dtype !== pool.dtype)
      fail(
        attrs.kvQuant
          ? `K/V are ${o.dtype}; a quantized pool takes f32 or f16 rows`
          : `K/V are ${o.dtype} but the pool is ${pool.dtype}`,
      );
  }
  const tokens = outs[1]!.shape[0]!;
  if (slots.dtype !== 'i32' || slots.shape.length !== 1 || slots.shape[0]! < tokens)
    fail(`slots must be i32 [≥ ${tokens}], got ${slots.dtype} [${slots.shape.join(', ')}]`);
  return { g, outs };
}

function cases(rng: Rng): OpCase<QkvAppendAttrs>[] {
  const float = Array.from({ length: 3 }, () => floatCase(rng));
  // a quantized pool after the float cases, so those keep their random streams
  return [...float, quantQkvCase(floatCase(rng, 'f16'), rng)];
}

function floatCase(rng: Rng, fixed?: 'f16'): OpCase<QkvAppendAttrs> {
  const hd = fixed ? 32 : rng.pick([8, 16, 32]);
  const hk = rng.int(1, 3);
  const hq = hk * rng.int(1, 3);
  const K = 8 * rng.int(2, 12);
  const dtype = fixed ?? rng.pick(FLOAT_DTYPES);
  const wd = rng.pick(FLOAT_DTYPES);
  const layout: KvLayout = rng.pick(['NHD', 'HND']);
  const pageSize = rng.pick([1, 3, 16]);
  // decode rows: one new token per request
  const batch = rng.int(1, 5);
  const qoLens = Array.from({ length: batch }, () => 1);
  const kvLens = qoLens.map(() => rng.int(1, 40));
  const b = randomPagedBatch(rng, {
    qoLens,
    kvLens,
    numQoHeads: hq,
    numKvHeads: hk,
    headDim: hd,
    pageSize,
    layout,
    dtype,
    sparePages: 1,
  });
  const rows = {
    qoLens,
    indptr: b.kvIndptr.data as Int32Array,
    indices: b.kvIndices.data as Int32Array,
    lastPageLen: b.lastPageLen.data as Int32Array,
  };
  const slots = appendSlots(rows, pageSize, batch + rng.int(0, 2));
  // a per-row term (a LoRA delta) on the members, in every other case
  const delta = rng.next() < 0.5;
  const attrs: QkvAppendAttrs = {
    ...(delta ? { delta } : {}),
    count: 3,
    roped: 2,
    outDtype: dtype,
    normEps: 1e-5,
    rope: { theta: 10000, headDim: hd },
    layout,
  };
  const inputs = [
    randomInput(rng, dtype, [batch, K], 2),
    ...[hq, hk, hk].map((h) => randomInput(rng, wd, [h * hd, K], 0.5)),
    randomInput(rng, wd, [K]),
    { desc: { dtype: 'i32' as const, shape: [batch] }, data: Int32Array.from(kvLens, (l) => l - 1) },
    ...(delta ? [hq, hk, hk].map((h) => randomInput(rng, 'f32', [batch, h * hd])) : []),
    { desc: { dtype: 'i32' as const, shape: [slots.length] }, data: slots },
    b.pool,
  ];
  return {
    label: `${dtype} w:${wd} ${layout} P${pageSize} M${batch} K${K} ${hq}/${hk}×${hd} kv[${kvLens}]${delta ? ' delta' : ''}`,
    attrs,
    inputs,
  };
}

/** Rows of K (which 0) or V (1) read back from the pool at the slots: [tokens, heads · headDim]. */
function gather(g: PoolGeometry, pool: Float64Array, slots: ArrayLike<number>, tokens: number, which: 0 | 1) {
  const row = g.numKvHeads * g.headDim;
  const out = new Float64Array(tokens * row);
  for (let t = 0; t < tokens; t++) {
    const s = slots[t]!;
    if (s < 0) continue;
    for (let h = 0; h < g.numKvHeads; h++)
      for (let e = 0; e < g.headDim; e++)
        out[t * row + h * g.headDim + e] =
          pool[poolOffset(g, Math.floor(s / g.pageSize), which, s % g.pageSize, h, e)]!;
  }
  return out;
}

export const qkvAppendOp = defineOp<QkvAppendAttrs>({
  name: 'qkv_append',
  outputs(attrs, inputs) {
    const { outs } = geometry(attrs, inputs);
    const pool = inputs[inputs.length - 1]!;
    return [outs[0]!, { dtype: pool.dtype, shape: [...pool.shape] }];
  },
  reference(attrs, x, inDescs) {
    const { g, outs } = geometry(attrs, inDescs);
    const { group, slots, pool } = qkvAppendParts(attrs, x);
    const groupDescs = qkvAppendParts(attrs, inDescs).group;
    const [q, k, v] = linearGroupOp.reference(attrs, group, groupDescs, outs);
    if (attrs.kvQuant) return [q!, quantStoreAtSlots(attrs.layout, attrs.kvQuant, pool, slots, [k!, v!], outs)];
    const out = pool.slice();
    const tokens = outs[1]!.shape[0]!;
    const row = g.numKvHeads * g.headDim;
    for (let t = 0; t < tokens; t++) {
      const s = slots[t]!;
      if (s < 0) continue;
      for (let h = 0; h < g.numKvHeads; h++)
        for (let e = 0; e < g.headDim; e++) {
          const page = Math.floor(s / g.pageSize);
          out[poolOffset(g, page, 0, s % g.pageSize, h, e)] = k![t * row + h * g.headDim + e]!;
          out[poolOffset(g, page, 1, s % g.pageSize, h, e)] = v![t * row + h * g.headDim + e]!;
        }
    }
    return [q!, out];
  },
  cases: (rng) => cases(rng),
  tolerance: (attrs, inDescs) => linearGroupOp.tolerance(attrs, qkvAppendParts(attrs, inDescs).group),
  check(attrs, inputs, got, want, inDescs) {
    const { g, outs } = geometry(attrs, inDescs);
    const { group, slots } = qkvAppendParts(attrs, inputs);
    const groupDescs = qkvAppendParts(attrs, inDescs).group;
    const tokens = outs[1]!.shape[0]!;
    const member = (i: number, g0: Float64Array, w0: Float64Array) => {
      const m = groupMember(attrs, group, i);
      const d = groupMember(attrs, groupDescs, i);
      return checkLinear(m.attrs, m.inputs, [g0], [w0], d.inputs)?.replace('output 0', ['Q', 'K', 'V'][i]!) ?? null;
    };
    const fromPool = (which: 0 | 1) =>
      [gather(g, got[1]!, slots, tokens, which), gather(g, want[1]!, slots, tokens, which)] as const;
    const q = member(0, got[0]!, want[0]!);
    if (q) return q;
    if (attrs.kvQuant) {
      const [, k, v] = linearGroupOp.reference(attrs, group, groupDescs, outs);
      return checkQuantAtSlots(attrs.layout, attrs.kvQuant, inputs[inputs.length - 1]!, got[1]!, slots, [k!, v!], outs);
    }
    for (const which of [0, 1] as const) {
      const [gk, wk] = fromPool(which);
      const r = member(1 + which, gk, wk);
      if (r) return `pool ${r}`;
    }
    // every element the slots do not name keeps its value exactly
    const written = new Set<number>();
    for (let t = 0; t < tokens; t++) {
      const s = slots[t]!;
      if (s < 0) continue;
      for (const which of [0, 1] as const)
        for (let h = 0; h < g.numKvHeads; h++)
          for (let e = 0; e < g.headDim; e++)
            written.add(poolOffset(g, Math.floor(s / g.pageSize), which, s % g.pageSize, h, e));
    }
    for (let i = 0; i < want[1]!.length; i++)
      if (!written.has(i) && got[1]![i] !== want[1]![i])
        return `pool[${i}] outside the new tokens' slots: got ${got[1]![i]}, want ${want[1]![i]}`;
    return null;
  },
});
