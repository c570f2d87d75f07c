/**
 * The LoRA ops, Punica's two: out = y + scale[a]·(x·A[a]ᵀ)·B[a]ᵀ for each row, where a is the row's
 * adapter slot and y the base projection's output.
 *
 * - `lora_bgmv` (decode): one slot index per row, i32[n]; −1 (or any slot outside the stack) leaves
 *   the row as y.
 * - `lora_sgmv` (prefill): segments of consecutive rows sharing a slot: starts i32[s+1] (starts[0] = 0,
 *   starts[s] = n, non-decreasing) and slot i32[s].
 *
 * Inputs: y [n, out] and x [n, in] in the activation dtype (f32 or f16); A [slots, rmax, in] and
 * B [slots, out, rmax] (f32 or f16), the adapters stacked with their rank padded to rmax; scale
 * f32[slots]; rank i32[slots] (rows r ≥ rank[a] of A and columns of B are never read, so slots of
 * different ranks share one stack and each costs its own rank).
 */
import type { TensorDesc } from '../backends/backend.js';
import { defineOp, type OpCase } from '../ops/op-spec.js';
import { randomInput } from '../ops/test-data.js';
import type { DType } from '../tensor/dtype.js';
import type { Rng } from '../util/rng.js';

export interface LoraGeometry {
  readonly n: number;
  readonly in: number;
  readonly out: number;
  readonly slots: number;
  readonly rmax: number;
  readonly act: DType;
  readonly weight: DType;
}

const FLOATS: readonly DType[] = ['f32', 'f16'];

export function loraGeometry(op: string, inputs: readonly TensorDesc[]): LoraGeometry {
  const want = op === 'lora_bgmv' ? 7 : 8;
  if (inputs.length !== want)
    throw new Error(
      `${op}: takes ${want} inputs (y, x, A, B, scale, rank, ${op === 'lora_bgmv' ? 'index' : 'starts, slot'}), ${inputs.length} given`,
    );
  const [y, x, a, b, scale, rank] = inputs as TensorDesc[];
  const two = (t: TensorDesc, what: string) => {
    if (t.shape.length !== 2) throw new Error(`${op}: ${what} must be 2-D, got [${t.shape}]`);
  };
  two(y!, 'y');
  two(x!, 'x');
  const [n, out] = y!.shape as [number, number];
  if (x!.shape[0] !== n) throw new Error(`${op}: x has ${x!.shape[0]} rows, y has ${n}`);
  const inn = x!.shape[1]!;
  if (!FLOATS.includes(y!.dtype) || x!.dtype !== y!.dtype)
    throw new Error(`${op}: y and x must share an f32 or f16 dtype, got ${y!.dtype} and ${x!.dtype}`);
  if (a!.shape.length !== 3 || b!.shape.length !== 3) throw new Error(`${op}: A and B must be 3-D stacks`);
  const [slots, rmax] = a!.shape as [number, number, number];
  if (a!.shape[2] !== inn) throw new Error(`${op}: A is [${a!.shape}], x has ${inn} columns`);
  if (b!.shape[0] !== slots || b!.shape[1] !== out || b!.shape[2] !== rmax)
    throw new Error(`${op}: B is [${b!.shape}], expected [${slots}, ${out}, ${rmax}]`);
  if (!FLOATS.includes(a!.dtype) || b!.dtype !== a!.dtype)
    throw new Error(`${op}: A and B must share an f32 or f16 dtype, got ${a!.dtype} and ${b!.dtype}`);
  if (scale!.dtype !== 'f32' || scale!.shape.length !== 1 || scale!.shape[0] !== slots)
    throw new Error(`${op}: scale must be f32[${slots}], got ${scale!.dtype}[${scale!.shape}]`);
  if (rank!.dtype !== 'i32' || rank!.shape.length !== 1 || rank!.shape[0] !== slots)
    throw new Error(`${op}: rank must be i32[${slots}], got ${rank!.dtype}[${rank!.shape}]`);
  if (op === 'lora_bgmv') {
    const idx = inputs[6]!;
    if (idx.dtype !== 'i32' || idx.shape.length !== 1 || idx.shape[0] !== n)
      throw new Error(`${op}: index must be i32[${n}], got ${idx.dtype}[${idx.shape}]`);
  } else {
    const [starts, slot] = [inputs[6]!, inputs[7]!];
    if (starts.dtype !== 'i32' || starts.shape.length !== 1 || starts.shape[0]! < 1)
      throw new Error(`${op}: starts must be a non-empty i32 vector, got ${starts.dtype}[${starts.shape}]`);
    if (slot.dtype !== 'i32' || slot.shape.length !== 1 || slot.shape[0] !== starts.shape[0]! - 1)
      throw new Error(`${op}: slot must be i32[${starts.shape[0]! - 1}], got ${slot.dtype}[${slot.shape}]`);
  }
  return { n, in: inn, out, slots, rmax, act: y!.dtype, weight: a!.dtype };
}

/** Slot per row from segments; throws where the segments do not tile [0, n). */
export function rowsFromSegments(starts: ArrayLike<number>, slot: ArrayLike<number>, n: number): Int32Array {
  const s = slot.length;
  if (starts[0] !== 0 || starts[s] !== n)
    throw new Error(`lora_sgmv: segments must cover rows [0, ${n}), got starts ${starts[0]}..${starts[s]}`);
  const idx = new Int32Array(n);
  for (let k = 0; k < s; k++) {
    if (starts[k + 1]! < starts[k]!) throw new Error(`lora_sgmv: starts decrease at segment ${k}`);
    idx.fill(slot[k]!, starts[k]!, starts[k + 1]!);
  }
  return idx;
}

/** The float64 oracle, row by row. */
export function loraReference(
  g: LoraGeometry,
  y: ArrayLike<number>,
  x: ArrayLike<number>,
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  scale: ArrayLike<number>,
  rank: ArrayLike<number>,
  idx: ArrayLike<number>,
): Float64Array {
  const out = Float64Array.from(y as ArrayLike<number>);
  const v = new Float64Array(g.rmax);
  for (let i = 0; i < g.n; i++) {
    const s = idx[i]!;
    if (s < 0 || s >= g.slots) continue;
    const r = rank[s]!;
    for (let q = 0; q < r; q++) {
      let acc = 0;
      for (let k = 0; k < g.in; k++) acc += x[i * g.in + k]! * a[(s * g.rmax + q) * g.in + k]!;
      v[q] = acc;
    }
    for (let j = 0; j < g.out; j++) {
      let acc = 0;
      for (let q = 0; q < r; q++) acc += v[q]! * b[(s * g.out + j) * g.rmax + q]!;
      out[i * g.out + j] += scale[s]! * acc;
    }
  }
  return out;
}

interface CaseShape {
  n: number;
  in: number;
  out: number;
  ranks: number[];
  act: DType;
  weight: DType;
}

const SHAPES: readonly CaseShape[] = [
  { n: 1, in: 24, out: 33, ranks: [8], act: 'f32', weight: 'f32' },
  { n: 7, in: 70, out: 33, ranks: [1, 16, 7], act: 'f32', weight: 'f32' },
  { n: 37, in: 64, out: 48, ranks: [4, 64, 2, 33], act: 'f32', weight: 'f16' },
  { n: 9, in: 40, out: 26, ranks: [3, 16], act: 'f16', weight: 'f16' },
  { n: 5, in: 96, out: 40, ranks: [256, 5], act: 'f32', weight: 'f32' },
];

function caseInputs(rng: Rng, c: CaseShape) {
  const slots = c.ranks.length;
  const rmax = Math.max(...c.ranks);
  // A at 1/sqrt(in) and B at 1/sqrt(r): the LoRA delta is of the order of y, so both matter.
  // Rows of A past a slot's rank hold random values too: a kernel reading them would be caught.
  return [
    randomInput(rng, c.act, [c.n, c.out]),
    randomInput(rng, c.act, [c.n, c.in]),
    randomInput(rng, c.weight, [slots, rmax, c.in], 1 / Math.sqrt(c.in)),
    randomInput(rng, c.weight, [slots, c.out, rmax], 1 / Math.sqrt(rmax)),
    { desc: { dtype: 'f32' as const, shape: [slots] }, data: Float32Array.from(c.ranks, () => rng.uniform(0.5, 2)) },
    { desc: { dtype: 'i32' as const, shape: [slots] }, data: Int32Array.from(c.ranks) },
  ];
}

const label = (c: CaseShape) => `n=${c.n} ${c.in}→${c.out} ranks [${c.ranks}] ${c.act}/${c.weight}`;

function bgmvCases(rng: Rng): OpCase[] {
  return SHAPES.map((c) => {
    // −1 marks rows with no adapter; every slot and the −1 appear in the larger cases
    const idx = Int32Array.from({ length: c.n }, () => rng.int(-1, c.ranks.length - 1));
    return {
      label: label(c),
      attrs: {},
      inputs: [...caseInputs(rng, c), { desc: { dtype: 'i32' as const, shape: [c.n] }, data: idx }],
    };
  });
}

function sgmvCases(rng: Rng): OpCase[] {
  return SHAPES.map((c) => {
    const cuts = new Set<number>([0, c.n]);
    const want = Math.min(c.n, 1 + rng.int(0, 3));
    while (cuts.size < want + 1) cuts.add(rng.int(1, c.n));
    const starts = Int32Array.from([...cuts].sort((p, q) => p - q));
    const slot = Int32Array.from({ length: starts.length - 1 }, () => rng.int(-1, c.ranks.length - 1));
    return {
      label: `${label(c)} ${slot.length} segments`,
      attrs: {},
      inputs: [
        ...caseInputs(rng, c),
        { desc: { dtype: 'i32' as const, shape: [starts.length] }, data: starts },
        { desc: { dtype: 'i32' as const, shape: [slot.length] }, data: slot },
      ],
    };
  });
}

/**
 * Accumulation is f32 throughout (the rank-sized intermediate included), so f32 outputs carry a few
 * ulp of sums over `in` and `rank` terms of unit size; f16 outputs carry the output's own rounding.
 */
function tolerance(_attrs: unknown, inDescs: readonly TensorDesc[]) {
  return inDescs[0]!.dtype === 'f16' ? { abs: 2e-3, rel: 2e-3 } : { abs: 2e-5, rel: 2e-5 };
}

export const loraBgmvOp = defineOp({
  name: 'lora_bgmv',
  outputs: (_attrs, inputs) => {
    const g = loraGeometry('lora_bgmv', inputs);
    return [{ dtype: g.act, shape: [g.n, g.out] }];
  },
  reference: (_attrs, [y, x, a, b, scale, rank, idx], inDescs) => [
    loraReference(loraGeometry('lora_bgmv', inDescs), y!, x!, a!, b!, scale!, rank!, idx!),
  ],
  cases: bgmvCases,
  tolerance,
});

export const loraSgmvOp = defineOp({
  name: 'lora_sgmv',
  outputs: (_attrs, inputs) => {
    const g = loraGeometry('lora_sgmv', inputs);
    return [{ dtype: g.act, shape: [g.n, g.out] }];
  },
  reference: (_attrs, [y, x, a, b, scale, rank, starts, slot], inDescs) => {
    const g = loraGeometry('lora_sgmv', inDescs);
    return [loraReference(g, y!, x!, a!, b!, scale!, rank!, rowsFromSegments(starts!, slot!, g.n))];
  },
  cases: sgmvCases,
  tolerance,
});

export const LORA_OPS = [loraBgmvOp, loraSgmvOp];
