/**
 * The attention ops, declared once for every backend (see `src/ops/op-spec.ts`):
 * - `paged_attention`: ragged prefill and batch decode over the paged KV cache, driven by a plan's schedule;
 * - `append_kv`: new K/V rows into the pool through the page table (in place when the output is the pool);
 * - `merge_states`: two partial attention states (o, base-2 lse) into one.
 */
import type { TensorDesc } from '../backends/backend.js';
import { type DType, isFloat, toHost } from '../tensor/dtype.js';
import { type OpCase, defineOp } from '../ops/op-spec.js';
import { FLOAT_DTYPES, randomInput, storageEps } from '../ops/test-data.js';
import type { Rng } from '../util/rng.js';
import { randomAppendBatch, randomMask, randomPagedBatch } from './batch-gen.js';
import { type KvLayout, poolShape } from './kv-layout.js';
import { type KvQuantSpec, dequantizePool, kvPoolGeometry } from './kv-quant.js';
import { checkAppendQuant, quantAppendCase, quantAttentionCase, referenceAppendQuant } from './kv-quant-cases.js';
import { type ScheduleShape, planAttention, scheduleLength } from './plan.js';
import { referenceAppendKv, referenceMergeStates, referencePagedAttention } from './reference.js';
import { type VariantSpec, variantParts } from './variants.js';
import type { AttentionTuning } from './tuning.js';
import { qkvAppendOp } from './qkv-append.js';

export interface PagedAttentionAttrs extends ScheduleShape {
  readonly layout: KvLayout;
  readonly variant: VariantSpec;
  /** Softmax scale (default 1/√D). */
  readonly scale?: number;
  /** Output dtype (default q's); f32 keeps partial states exact for a later merge. */
  readonly outDtype?: DType;
  /**
   * Whether the schedule now in the buffer has split units; without them the merge pass is left
   * out (a dispatch saved, ~2 µs on the H100). Asked at encode time and at every replay of a
   * recorded stream, so it must read the current plan. Absent: the merge pass always runs.
   */
  readonly mergeNeeded?: () => boolean;
  /** Template tuning overrides (benchmarks and tests); absent: the shipped defaults. */
  readonly tuning?: AttentionTuning;
  /** The pool is a quantized KV pool of this geometry (kv-quant.ts); absent: a float pool. */
  readonly kvQuant?: KvQuantSpec;
  readonly [key: string]: unknown;
}

const fail = (op: string, msg: string): never => {
  throw new Error(`${op}: ${msg}`);
};

function expectI32(op: string, name: string, t: TensorDesc | undefined, len?: number): void {
  if (!t) fail(op, `missing input '${name}'`);
  if (t!.dtype !== 'i32' || t!.shape.length !== 1)
    fail(op, `'${name}' must be a 1-D i32 tensor, got ${t!.dtype} [${t!.shape.join(', ')}]`);
  if (len !== undefined && t!.shape[0] !== len) fail(op, `'${name}' has ${t!.shape[0]} entries, expected ${len}`);
}

/** Validates q/pool/page-table inputs; returns the geometry. */
function checkAttentionInputs(attrs: PagedAttentionAttrs, inputs: readonly TensorDesc[]): { hq: number; d: number } {
  const op = 'paged_attention';
  const [q, pool, qoIndptr, kvIndptr, kvIndices, lastPageLen, sched] = inputs;
  if (!q || q.shape.length !== 3)
    fail(op, `q must be [tokens, qoHeads, headDim], got ${q ? `[${q.shape.join(', ')}]` : 'nothing'}`);
  if (!pool) fail(op, 'missing the KV pool');
  if (!isFloat(q!.dtype) || (!attrs.kvQuant && !isFloat(pool!.dtype)))
    fail(op, `q (${q!.dtype}) and the pool (${pool!.dtype}) must be float types (or the pool quantized, with kvQuant)`);
  const g = kvPoolGeometry(pool!, attrs.layout, attrs.kvQuant, op);
  const [, hq, d] = q!.shape as [number, number, number];
  if (d !== g.headDim) fail(op, `q head dim ${d} differs from the pool's ${g.headDim}`);
  if (d % 8 !== 0) fail(op, `head dim ${d} must be a multiple of 8`);
  if (hq % g.numKvHeads !== 0) fail(op, `${hq} query heads is not a multiple of ${g.numKvHeads} KV heads`);
  expectI32(op, 'qoIndptr', qoIndptr);
  const batch = qoIndptr!.shape[0]! - 1;
  expectI32(op, 'kvIndptr', kvIndptr, batch + 1);
  expectI32(op, 'kvIndices', kvIndices);
  expectI32(op, 'lastPageLen', lastPageLen, batch);
  expectI32(op, 'schedule', sched, scheduleLength(attrs));
  if (variantParts(attrs.variant).some((v) => v.usesMaskInput)) {
    expectI32(op, 'mask', inputs[7]);
    expectI32(op, 'maskIndptr', inputs[8], batch + 1);
  }
  return { hq, d };
}

/** |got − want| ≤ abs + rel·|want| with NaN failing; the message names the worst element. */
function within(what: string, got: Float64Array, want: Float64Array, abs: number, rel: number): string | null {
  let worst = -1;
  let excess = 1;
  for (let i = 0; i < got.length; i++) {
    const g = got[i]!;
    const w = want[i]!;
    if (g === w) continue;
    const e = Number.isNaN(g) || Number.isNaN(w) ? Infinity : Math.abs(g - w) / (abs + rel * Math.abs(w));
    if (e > excess) {
      excess = e;
      worst = i;
    }
  }
  return worst < 0 ? null : `${what}[${worst}]: got ${got[worst]}, want ${want[worst]}`;
}

/** Tolerance of attention outputs: f32 arithmetic, the output's rounding, and RoPE's sin/cos. */
export function attentionTolerance(outDtype: DType, variant: VariantSpec): { abs: number; rel: number } {
  const trig = variant.rope ? 3e-3 : 0;
  return { abs: 2e-4 + trig + 2 * storageEps(outDtype), rel: 2e-4 + 2 * storageEps(outDtype) };
}

const VARIANTS: readonly VariantSpec[] = [
  {},
  { causal: true },
  { causal: true, windowLeft: 5 },
  { softCap: 2.5 },
  { causal: true, alibi: true },
  { customMask: true },
  { causal: true, rope: { theta: 10000 } },
  {
    causal: true,
    rope: { theta: 500000, scaling: { factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 64 } },
  },
];

export interface AttentionCaseOptions {
  readonly decode?: boolean;
  readonly variant?: VariantSpec;
  readonly headDim?: number;
  readonly kvChunk?: number | 'none';
  /** Rows per work item (64 selects the tensor-core template where the device has it). */
  readonly tileRows?: number;
  readonly dtype?: DType;
  /** Fixed lengths (one request per entry) instead of random short ones. */
  readonly lengths?: { readonly qo: readonly number[]; readonly kv: readonly number[] };
}

/** One random paged-attention case (lengths, geometry, variant, plan) with its inputs. */
export function attentionCase(rng: Rng, o: AttentionCaseOptions = {}): OpCase<PagedAttentionAttrs> {
  const decode = o.decode ?? rng.next() < 0.4;
  const variant = o.variant ?? rng.pick(VARIANTS);
  const d = o.headDim ?? rng.pick([64, 64, 80, 96, 128, 256]);
  const hk = rng.pick([1, 2, 3]);
  const group = rng.pick([1, 2, 4, 7]);
  const pageSize = rng.pick([1, 5, 16, 64]);
  const batch = rng.int(1, 4);
  const qoLens = o.lengths
    ? [...o.lengths.qo]
    : Array.from({ length: batch }, () => (decode ? 1 : rng.int(0, 3) === 0 ? rng.int(0, 1) : rng.int(2, 9)));
  const kvLens = o.lengths ? [...o.lengths.kv] : qoLens.map((q) => q + (rng.next() < 0.2 ? 0 : rng.int(1, 40)));
  const layout: KvLayout = rng.pick(['NHD', 'HND']);
  const dtype = o.dtype ?? rng.pick(FLOAT_DTYPES);
  const b = randomPagedBatch(rng, {
    qoLens,
    kvLens,
    numQoHeads: hk * group,
    numKvHeads: hk,
    headDim: d,
    pageSize,
    layout,
    dtype,
    kvDtype: o.dtype ?? rng.pick(FLOAT_DTYPES),
  });
  // tiles sized for a 32 KiB workgroup-storage device (lavapipe), so every case runs everywhere we test
  const tileRows = o.tileRows ?? (d === 256 ? 4 : decode ? Math.min(16, 1 << Math.ceil(Math.log2(group))) : 8);
  const kvChunk = o.kvChunk ?? rng.pick<number | 'none' | undefined>(['none', rng.int(3, 17), undefined]);
  const grid = rng.int(3, 40);
  // half the cases leave the page-table start out of the items, so the kernels' fallback read is tested too
  const pageStarts = rng.next() < 0.5 ? (b.kvIndptr.data as Int32Array) : undefined;
  // room for the most items these lengths can make (16 row tiles × 3 KV heads × 4 requests × 17
  // chunks of 3 keys = 3264); 400 was exceeded by about 1 case in 2000, failing a test run now and then
  const maxItems = 4096;
  const plan = planAttention(
    {
      qoLens,
      kvLens,
      numQoHeads: hk * group,
      numKvHeads: hk,
      causal: variant.causal,
      windowLeft: variant.windowLeft,
      pageStarts,
    },
    { grid, maxItems, tileRows, kvChunk, minChunk: 8 },
  );
  const inputs = [
    b.q,
    b.pool,
    b.qoIndptr,
    b.kvIndptr,
    b.kvIndices,
    b.lastPageLen,
    { desc: { dtype: 'i32' as const, shape: [plan.schedule.length] }, data: plan.schedule },
  ];
  if (variant.customMask) {
    const m = randomMask(rng, qoLens, kvLens);
    inputs.push(m.mask, m.maskIndptr);
  }
  return {
    label: `${decode ? 'decode' : 'prefill'} ${Object.keys(variant).join('+') || 'plain'} ${dtype}/${b.pool.desc.dtype} d${d} ${hk * group}/${hk} P${pageSize} ${layout} q[${qoLens}] kv[${kvLens}] chunk ${plan.kvChunk}`,
    attrs: { layout, variant, grid, maxItems, tileRows, outDtype: dtype },
    inputs,
  };
}

export const pagedAttentionOp = defineOp<PagedAttentionAttrs>({
  name: 'paged_attention',
  outputs(attrs, inputs) {
    const { hq } = checkAttentionInputs(attrs, inputs);
    const q = inputs[0]!;
    return [
      { dtype: attrs.outDtype ?? q.dtype, shape: [...q.shape] },
      { dtype: 'f32', shape: [q.shape[0]!, hq] },
    ];
  },
  reference(attrs, x, inDescs) {
    // a quantized pool is attended as the float pool it dequantizes to, exactly
    const deq = attrs.kvQuant ? dequantizePool(x[1]!, attrs.kvQuant, attrs.layout) : null;
    const { o, lse } = referencePagedAttention(attrs, {
      q: x[0]!,
      qShape: inDescs[0]!.shape,
      pool: deq ? deq.pool : x[1]!,
      poolShape: deq ? poolShape(deq.g) : inDescs[1]!.shape,
      qoIndptr: x[2]!,
      kvIndptr: x[3]!,
      kvIndices: x[4]!,
      lastPageLen: x[5]!,
      mask: x[7],
      maskIndptr: x[8],
    });
    return [o, lse];
  },
  cases(rng, { big }) {
    const cases = Array.from({ length: big ? 24 : 6 }, () => attentionCase(rng));
    // quantized pools after the float cases, so those keep their random streams
    for (let i = 0; i < (big ? 8 : 2); i++) cases.push(quantAttentionCase(rng));
    return cases;
  },
  tolerance(attrs, inDescs) {
    return attentionTolerance(attrs.outDtype ?? inDescs[0]!.dtype, attrs.variant);
  },
  check(attrs, inputs, got, want) {
    void inputs;
    // without the output dtype in attrs, the loosest (bf16) rounding applies
    const tol = attentionTolerance(attrs.outDtype ?? 'bf16', attrs.variant);
    return (
      within('o', got[0]!, want[0]!, tol.abs, tol.rel) ??
      within('lse', got[1]!, want[1]!, 2e-4 + (attrs.variant.rope ? 4e-3 : 0), 2e-5)
    );
  },
});

export interface AppendKvAttrs {
  readonly layout: KvLayout;
  /** The pool is a quantized KV pool of this geometry: new rows are quantized as they are stored. */
  readonly kvQuant?: KvQuantSpec;
  readonly [key: string]: unknown;
}

export const appendKvOp = defineOp<AppendKvAttrs>({
  name: 'append_kv',
  outputs(attrs, inputs) {
    const op = 'append_kv';
    const [pool, k, v, appendIndptr, kvIndptr, kvIndices, lastPageLen] = inputs;
    if (!pool || !k || !v) fail(op, 'inputs are pool, k, v, appendIndptr, kvIndptr, kvIndices, lastPageLen');
    const g = kvPoolGeometry(pool!, attrs.layout, attrs.kvQuant, op);
    for (const [name, t] of [
      ['k', k],
      ['v', v],
    ] as const) {
      if (t!.shape.length !== 3 || t!.shape[1] !== g.numKvHeads || t!.shape[2] !== g.headDim)
        fail(op, `${name} must be [tokens, ${g.numKvHeads}, ${g.headDim}], got [${t!.shape.join(', ')}]`);
      if (attrs.kvQuant ? !['f32', 'f16'].includes(t!.dtype) : t!.dtype !== pool!.dtype)
        fail(
          op,
          attrs.kvQuant
            ? `${name} is ${t!.dtype}; a quantized pool takes f32 or f16 rows`
            : `${name} is ${t!.dtype} but the pool is ${pool!.dtype} (convert before appending)`,
        );
    }
    if (k!.shape[0] !== v!.shape[0]) fail(op, `k has ${k!.shape[0]} tokens, v ${v!.shape[0]}`);
    if (attrs.kvQuant && k!.dtype !== v!.dtype) fail(op, `k is ${k!.dtype}, v ${v!.dtype}`);
    if (!attrs.kvQuant && !['f32', 'f16', 'bf16'].includes(pool!.dtype))
      fail(op, `pool dtype ${pool!.dtype} is not f32, f16 or bf16`);
    expectI32(op, 'appendIndptr', appendIndptr);
    const batch = appendIndptr!.shape[0]! - 1;
    expectI32(op, 'kvIndptr', kvIndptr, batch + 1);
    expectI32(op, 'kvIndices', kvIndices);
    expectI32(op, 'lastPageLen', lastPageLen, batch);
    return [{ dtype: pool!.dtype, shape: [...pool!.shape] }];
  },
  reference(attrs, x, inDescs) {
    if (attrs.kvQuant) return [referenceAppendQuant({ ...attrs, kvQuant: attrs.kvQuant }, x)];
    return [referenceAppendKv(attrs.layout, x[0]!, inDescs[0]!.shape, x[1]!, x[2]!, x[3]!, x[4]!, x[5]!, x[6]!)];
  },
  cases(rng) {
    const float: OpCase<AppendKvAttrs>[] = Array.from({ length: 4 }, () => {
      const layout: KvLayout = rng.pick(['NHD', 'HND']);
      const dtype = rng.pick(FLOAT_DTYPES);
      const d = rng.pick([64, 80, 128]);
      const {
        batch: b,
        heads: hk,
        pageSize,
        news,
        kvLens,
        total,
      } = randomAppendBatch(rng, { layout, headDim: d, dtype });
      return {
        label: `${dtype} ${layout} d${d} hk${hk} P${pageSize} new[${news}] kv[${kvLens}]`,
        attrs: { layout },
        inputs: [
          b.pool,
          randomInput(rng, dtype, [total, hk, d]),
          randomInput(rng, dtype, [total, hk, d]),
          b.qoIndptr,
          b.kvIndptr,
          b.kvIndices,
          b.lastPageLen,
        ],
      };
    });
    // quantized pools after the float cases, so those keep their random streams
    return [...float, quantAppendCase(rng), quantAppendCase(rng)];
  },
  tolerance() {
    return { abs: 0, rel: 0 };
  },
  check(attrs, inputs, got, want) {
    if (attrs.kvQuant) return checkAppendQuant({ ...attrs, kvQuant: attrs.kvQuant }, inputs, got[0]!);
    for (let i = 0; i < want[0]!.length; i++)
      if (got[0]![i] !== want[0]![i] && !(Number.isNaN(got[0]![i]) && Number.isNaN(want[0]![i])))
        return `pool[${i}]: got ${got[0]![i]}, want ${want[0]![i]}`;
    return null;
  },
});

export interface MergeStatesAttrs {
  readonly outDtype?: DType;
  readonly [key: string]: unknown;
}

export const mergeStatesOp = defineOp<MergeStatesAttrs>({
  name: 'merge_states',
  outputs(attrs, inputs) {
    const op = 'merge_states';
    const [va, sa, vb, sb] = inputs;
    if (!va || !sa || !vb || !sb) fail(op, 'inputs are va [T, H, D], sa [T, H], vb, sb');
    if (va!.shape.length !== 3 || va!.shape[2]! % 8 !== 0)
      fail(op, `va must be [T, H, D] with D a multiple of 8, got [${va!.shape.join(', ')}]`);
    if (va!.dtype !== vb!.dtype || va!.shape.join() !== vb!.shape.join())
      fail(op, 'va and vb differ in dtype or shape');
    for (const s of [sa!, sb!])
      if (s.dtype !== 'f32' || s.shape.join() !== va!.shape.slice(0, 2).join())
        fail(op, `states must be f32 [${va!.shape.slice(0, 2).join(', ')}]`);
    return [
      { dtype: attrs.outDtype ?? va!.dtype, shape: [...va!.shape] },
      { dtype: 'f32', shape: [...sa!.shape] },
    ];
  },
  reference(_attrs, x, inDescs) {
    const { v, s } = referenceMergeStates(x[0]!, x[1]!, x[2]!, x[3]!, inDescs[0]!.shape[2]!);
    return [v, s];
  },
  cases(rng) {
    return Array.from({ length: 3 }, () => {
      const dtype = rng.pick(FLOAT_DTYPES);
      const t = rng.int(1, 9);
      const h = rng.int(1, 5);
      const d = rng.pick([64, 80, 128]);
      const lse = (): { desc: TensorDesc; data: Float32Array } => {
        const v = rng.normals(t * h, 4);
        // some empty states (lse = −∞), one side or both
        for (let i = 0; i < v.length; i++) if (rng.next() < 0.15) v[i] = -Infinity;
        return { desc: { dtype: 'f32', shape: [t, h] }, data: toHost('f32', v) as Float32Array };
      };
      return {
        label: `${dtype} [${t}, ${h}, ${d}]`,
        attrs: {},
        inputs: [randomInput(rng, dtype, [t, h, d]), lse(), randomInput(rng, dtype, [t, h, d]), lse()],
      };
    });
  },
  tolerance(attrs, inDescs) {
    const e = storageEps(attrs.outDtype ?? inDescs[0]!.dtype);
    return { abs: 1e-5 + 2 * e, rel: 1e-5 + 2 * e };
  },
});

export const ATTENTION_OPS = [pagedAttentionOp, appendKvOp, mergeStatesOp, qkvAppendOp];
