/**
 * `lora_delta`: the LoRA term of one or more projections of the same rows, as f32 tensors of their
 * own, d_i = scale[a]·(x̂·A_i[a]ᵀ)·B_i[a]ᵀ per row (a the row's slot, −1 or out of range: zeros),
 * where x̂ is x, or x RMS-normalised and scaled by a norm weight when `normEps` is set. The base
 * projection adds d in its epilogue (`y = x̂·Wᵀ + d`), before RoPE or the residual, so the fused
 * projection kernels (Q/K/V with RoPE and the page store, gate/up with SiLU·mul, o/down with the
 * residual) keep running with adapters; the compiler forms it (src/compiler/passes/group-lora-deltas.ts).
 *
 * Inputs: x [n, K] (f32 or f16), the norm weight [K] if `normEps`, the row slots i32[n], scale
 * f32[slots], then per member A [slots, rmax, K], B [slots, N_i, rmax] (f32 or f16) and rank
 * i32[slots] (as `lora_bgmv`: a slot of rank r reads the first r rows of A and columns of B).
 * Outputs: f32 [n, N_i] per member.
 */
import type { TensorDesc } from '../backends/backend.js';
import { defineOp, type OpCase } from '../ops/op-spec.js';
import { randomInput } from '../ops/test-data.js';
import type { DType } from '../tensor/dtype.js';
import type { Rng } from '../util/rng.js';
import { loraReference } from './lora-ops.js';

export interface LoraDeltaAttrs {
  readonly count: number;
  readonly normEps?: number;
  readonly [key: string]: unknown;
}

export interface LoraDeltaGeometry {
  readonly n: number;
  readonly k: number;
  readonly slots: number;
  readonly rmax: number;
  /** Output columns of each member. */
  readonly widths: readonly number[];
  readonly act: DType;
  readonly weight: DType;
  readonly normDtype?: DType;
}

const FLOATS: readonly DType[] = ['f32', 'f16'];

/** Where member i's A, B and rank sit among the inputs. */
export const memberInputs = (attrs: LoraDeltaAttrs, i: number) => {
  const first = (attrs.normEps !== undefined ? 4 : 3) + 3 * i;
  return { a: first, b: first + 1, rank: first + 2 };
};

export function loraDeltaGeometry(attrs: LoraDeltaAttrs, inputs: readonly TensorDesc[]): LoraDeltaGeometry {
  const fail = (m: string): never => {
    throw new Error(`lora_delta: ${m}`);
  };
  const count = attrs.count;
  if (!Number.isInteger(count) || count < 1) fail(`count must be a positive integer, got ${count}`);
  const normed = attrs.normEps !== undefined;
  const want = (normed ? 4 : 3) + 3 * count;
  if (inputs.length !== want) fail(`takes ${want} inputs, ${inputs.length} given`);
  const x = inputs[0]!;
  if (x.shape.length !== 2 || !FLOATS.includes(x.dtype))
    fail(`x must be f32 or f16 [n, K], got ${x.dtype}[${x.shape}]`);
  const [n, k] = x.shape as [number, number];
  const norm = normed ? inputs[1]! : undefined;
  if (norm && (norm.shape.length !== 1 || norm.shape[0] !== k))
    fail(`the norm weight must be [${k}], got [${norm.shape}]`);
  const idx = inputs[normed ? 2 : 1]!;
  const scale = inputs[normed ? 3 : 2]!;
  if (idx.dtype !== 'i32' || idx.shape.length !== 1 || idx.shape[0] !== n)
    fail(`the row slots must be i32[${n}], got ${idx.dtype}[${idx.shape}]`);
  const a0 = inputs[memberInputs(attrs, 0).a]!;
  if (a0.shape.length !== 3) fail(`A must be a 3-D stack, got [${a0.shape}]`);
  const [slots, rmax] = a0.shape as [number, number];
  if (scale.dtype !== 'f32' || scale.shape.length !== 1 || scale.shape[0] !== slots)
    fail(`scale must be f32[${slots}], got ${scale.dtype}[${scale.shape}]`);
  const widths: number[] = [];
  for (let i = 0; i < count; i++) {
    const at = memberInputs(attrs, i);
    const [a, b, rank] = [inputs[at.a]!, inputs[at.b]!, inputs[at.rank]!];
    if (a.shape.join() !== [slots, rmax, k].join())
      fail(`member ${i}: A is [${a.shape}], expected [${slots}, ${rmax}, ${k}]`);
    if (b.shape.length !== 3 || b.shape[0] !== slots || b.shape[2] !== rmax)
      fail(`member ${i}: B is [${b.shape}], expected [${slots}, N, ${rmax}]`);
    if (!FLOATS.includes(a.dtype) || a.dtype !== a0.dtype || b.dtype !== a0.dtype)
      fail(`member ${i}: A and B must share one f32 or f16 dtype across members`);
    if (rank.dtype !== 'i32' || rank.shape.length !== 1 || rank.shape[0] !== slots)
      fail(`member ${i}: rank must be i32[${slots}], got ${rank.dtype}[${rank.shape}]`);
    widths.push(b.shape[1]!);
  }
  return { n, k, slots, rmax, widths, act: x.dtype, weight: a0.dtype, ...(norm ? { normDtype: norm.dtype } : {}) };
}

/** The float64 oracle: each member's delta, row by row. */
function reference(attrs: LoraDeltaAttrs, x: readonly Float64Array[], inDescs: readonly TensorDesc[]): Float64Array[] {
  const g = loraDeltaGeometry(attrs, inDescs);
  const normed = attrs.normEps !== undefined;
  const [xs, idx, scale] = [x[0]!, x[normed ? 2 : 1]!, x[normed ? 3 : 2]!];
  const rows = new Float64Array(g.n * g.k);
  for (let i = 0; i < g.n; i++) {
    let rs = 1;
    if (normed) {
      let ss = 0;
      for (let k = 0; k < g.k; k++) ss += xs[i * g.k + k]! ** 2;
      rs = 1 / Math.sqrt(ss / g.k + attrs.normEps!);
    }
    for (let k = 0; k < g.k; k++) rows[i * g.k + k] = xs[i * g.k + k]! * rs * (normed ? x[1]![k]! : 1);
  }
  // each member's delta is lora_bgmv's oracle on the (normalised) rows, added to zeros
  return g.widths.map((N, m) => {
    const at = memberInputs(attrs, m);
    const member = { n: g.n, in: g.k, out: N, slots: g.slots, rmax: g.rmax, act: g.act, weight: g.weight };
    return loraReference(member, new Float64Array(g.n * N), rows, x[at.a]!, x[at.b]!, scale, x[at.rank]!, idx);
  });
}

interface DeltaCase {
  n: number;
  k: number;
  widths: number[];
  ranks: number[];
  norm: boolean;
  act: DType;
  weight: DType;
}

const CASES: readonly DeltaCase[] = [
  { n: 1, k: 64, widths: [64, 32, 32], ranks: [8, 3], norm: true, act: 'f32', weight: 'f32' },
  { n: 5, k: 40, widths: [48, 48], ranks: [1, 16, 7], norm: true, act: 'f16', weight: 'f32' },
  { n: 3, k: 96, widths: [40], ranks: [4, 0], norm: false, act: 'f32', weight: 'f16' },
  { n: 37, k: 64, widths: [300, 20, 20], ranks: [2, 64, 33], norm: true, act: 'f32', weight: 'f32' },
  { n: 9, k: 56, widths: [520], ranks: [5, 12], norm: false, act: 'f16', weight: 'f16' },
  { n: 20, k: 48, widths: [64, 24], ranks: [3, 16, 0], norm: true, act: 'f16', weight: 'f16' },
  // decode rows as the WebGPU kernel's sliced schedule cuts them (lora-delta-sliced.ts): several
  // slices of K with a partial last one, ranks that are not a multiple of its eight at once, tiles
  // across members, rows of different slots and of none in one call
  { n: 3, k: 1032, widths: [72, 40], ranks: [70, 9, 0], norm: true, act: 'f16', weight: 'f32' },
  { n: 2, k: 2056, widths: [300], ranks: [33, 64], norm: false, act: 'f32', weight: 'f16' },
  { n: 5, k: 4104, widths: [520, 260], ranks: [17, 0, 32, 5], norm: true, act: 'f32', weight: 'f16' },
  { n: 4, k: 8200, widths: [40], ranks: [8, 3], norm: false, act: 'f16', weight: 'f32' },
  // small ranks: slices longer than a thread's unrolled block, so it loops over blocks
  { n: 2, k: 5000, widths: [264], ranks: [3, 1], norm: false, act: 'f16', weight: 'f16' },
  // three normalised members: at 16 storage bindings one slice of the whole K (no workspace binding)
  { n: 2, k: 2600, widths: [40, 24, 24], ranks: [9, 0, 5], norm: true, act: 'f16', weight: 'f16' },
  // more rows than decode: wide tiles of 16 columns a thread, a member wider than one tile
  { n: 18, k: 300, widths: [4200, 40], ranks: [5, 0, 11], norm: true, act: 'f16', weight: 'f16' },
];

function cases(rng: Rng): OpCase<LoraDeltaAttrs>[] {
  return CASES.map((c) => {
    const slots = c.ranks.length;
    const rmax = Math.max(...c.ranks, 1);
    const attrs: LoraDeltaAttrs = { count: c.widths.length, ...(c.norm ? { normEps: 1e-5 } : {}) };
    // −1 marks rows with no adapter; past a slot's rank A and B hold random values a kernel must not read
    const idx = Int32Array.from({ length: c.n }, () => rng.int(-1, slots - 1));
    const inputs = [
      randomInput(rng, c.act, [c.n, c.k], 2),
      ...(c.norm ? [randomInput(rng, c.weight, [c.k])] : []),
      { desc: { dtype: 'i32' as const, shape: [c.n] }, data: idx },
      { desc: { dtype: 'f32' as const, shape: [slots] }, data: Float32Array.from(c.ranks, () => rng.uniform(0.5, 2)) },
      ...c.widths.flatMap((N) => [
        randomInput(rng, c.weight, [slots, rmax, c.k], 1 / Math.sqrt(c.k)),
        randomInput(rng, c.weight, [slots, N, rmax], 1 / Math.sqrt(rmax)),
        { desc: { dtype: 'i32' as const, shape: [slots] }, data: Int32Array.from(c.ranks) },
      ]),
    ];
    const label = `n=${c.n} K=${c.k} → [${c.widths}] ranks [${c.ranks}]${c.norm ? ' norm' : ''} ${c.act}/${c.weight}`;
    return { label, attrs, inputs };
  });
}

export const loraDeltaOp = defineOp<LoraDeltaAttrs>({
  name: 'lora_delta',
  outputs: (attrs, inputs) => {
    const g = loraDeltaGeometry(attrs, inputs);
    return g.widths.map((N) => ({ dtype: 'f32' as const, shape: [g.n, N] }));
  },
  reference: (attrs, inputs, inDescs) => reference(attrs, inputs, inDescs),
  cases,
  // f32 sums over K and the rank, of unit-sized terms: a few ulp
  tolerance: () => ({ abs: 2e-5, rel: 2e-5 }),
});
