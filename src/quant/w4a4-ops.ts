/**
 * Atom W4A4 ops (layout in w4a4-format.ts):
 *
 * - `atom_quantize`: per-token activation quantization, optionally fused behind the op that
 *   produces the activation (`prologue`: `rmsnorm` with its weight, or `silu_mul` of gate and up)
 *   and optionally gathering the channels into the calibrated order (`reordered`, a perm input
 *   i32 [K]: output channel j is input channel perm[j]). Outputs the i8 codes [..., K] and the f32
 *   scales [..., K / 128].
 * - `atom_matmul`: y [..., N] = Σ_groups scale_x · scale_w · Σ q_x · q_w, the weights as stored.
 *
 * Oracles in float64. The quantizer's check accepts any code within half a step (plus the f32
 * rounding of the prologue) of the exact value x / scale, so round-half-even and round-half-away
 * both pass but an off-by-one code does not. The matmul's oracle is the quantized math itself:
 * integers times scales, which float64 holds exactly; the kernels sum the i32 group products
 * scaled in f32, so the f32 summation bound applies with K / 32 terms.
 */
import type { Attrs, TensorDesc } from '../backends/backend.js';
import { type OpCase, defineOp } from '../ops/op-spec.js';
import { compareWithBound } from '../sparse/ops.js';
import { toHost } from '../tensor/dtype.js';
import type { Rng } from '../util/rng.js';
import {
  ATOM_GROUP,
  ATOM_OUTLIERS,
  groupsOf,
  qmaxOfGroup,
  quantizeActivations,
  quantizeW4a4Weights,
  unpackW4a4Weights,
  w4a4WeightBytes,
  whyW4a4ShapeInvalid,
} from './w4a4-format.js';

export const ATOM_PROLOGUES = ['none', 'rmsnorm', 'silu_mul'] as const;
export type AtomPrologue = (typeof ATOM_PROLOGUES)[number];

export interface AtomQuantizeAttrs {
  readonly prologue: AtomPrologue;
  readonly reordered: boolean;
  /** RMSNorm's epsilon (prologue `rmsnorm` only). */
  readonly eps?: number;
  readonly [key: string]: unknown;
}

export interface AtomMatmulAttrs {
  readonly n: number;
  readonly k: number;
  readonly [key: string]: unknown;
}

const lead = (d: TensorDesc) => d.shape.slice(0, -1).reduce((a, b) => a * b, 1);
const lastDim = (d: TensorDesc) => d.shape[d.shape.length - 1]!;

/** Rows and channels of `atom_quantize`; every refusal names its reason. */
export function atomQuantizeGeometry(attrs: Attrs, inputs: readonly TensorDesc[]): { m: number; k: number } {
  const { prologue, reordered, eps } = attrs as AtomQuantizeAttrs;
  const fail = (msg: string): never => {
    throw new Error(`atom_quantize: ${msg}`);
  };
  if (!(ATOM_PROLOGUES as readonly string[]).includes(prologue))
    fail(`prologue must be one of ${ATOM_PROLOGUES.join(', ')}, got ${String(prologue)}`);
  const names = prologue === 'rmsnorm' ? ['x', 'w'] : prologue === 'silu_mul' ? ['gate', 'up'] : ['x'];
  if (reordered) names.push('perm');
  if (inputs.length !== names.length)
    fail(`takes ${names.length} inputs (${names.join(', ')}), ${inputs.length} given`);
  const x = inputs[0]!;
  const k = lastDim(x);
  if (x.dtype !== 'f32' || x.shape.length < 1) fail(`x must be f32 [..., K], got ${x.dtype} [${x.shape.join(', ')}]`);
  const why = whyW4a4ShapeInvalid(1, k);
  if (why) fail(why);
  const vector = (d: TensorDesc, name: string, dtype: string) => {
    if (d.dtype !== dtype || d.shape.length !== 1 || d.shape[0] !== k)
      fail(`${name} must be ${dtype} [${k}], got ${d.dtype} [${d.shape.join(', ')}]`);
  };
  if (prologue === 'rmsnorm') {
    vector(inputs[1]!, 'w', 'f32');
    if (typeof eps !== 'number' || !(eps >= 0)) fail(`eps must be a number ≥ 0, got ${String(eps)}`);
  }
  if (prologue === 'silu_mul') {
    const up = inputs[1]!;
    if (up.dtype !== 'f32' || up.shape.join() !== x.shape.join())
      fail(`up must be f32 [${x.shape.join(', ')}] like gate, got ${up.dtype} [${up.shape.join(', ')}]`);
  }
  if (reordered) vector(inputs[names.length - 1]!, 'perm', 'i32');
  return { m: lead(x), k };
}

/** The activation the quantizer sees, in float64, channels in the output order. */
export function atomPrologueF64(attrs: AtomQuantizeAttrs, ins: readonly Float64Array[], m: number, k: number) {
  const perm = attrs.reordered ? ins[ins.length - 1]! : null;
  const v = new Float64Array(m * k);
  for (let r = 0; r < m; r++) {
    let inv = 1;
    if (attrs.prologue === 'rmsnorm') {
      let ss = 0;
      for (let c = 0; c < k; c++) ss += ins[0]![r * k + c]! ** 2;
      inv = 1 / Math.sqrt(ss / k + attrs.eps!);
    }
    for (let j = 0; j < k; j++) {
      const c = perm ? perm[j]! : j;
      const a = ins[0]![r * k + c]!;
      v[r * k + j] =
        attrs.prologue === 'rmsnorm'
          ? a * inv * ins[1]![c]!
          : attrs.prologue === 'silu_mul'
            ? (a / (1 + Math.exp(-a))) * ins[1]![r * k + c]!
            : a;
    }
  }
  return v;
}

function permutation(rng: Rng, k: number): Int32Array {
  const p = Int32Array.from({ length: k }, (_, i) => i);
  for (let i = k - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [p[i], p[j]] = [p[j]!, p[i]!];
  }
  return p;
}

/** Activations with a few large channels, as real ones have (what the outlier group is for). */
function activations(rng: Rng, m: number, k: number, hot: readonly number[]): Float64Array {
  const x = rng.normals(m * k, 1);
  for (let r = 0; r < m; r++) for (const c of hot) x[r * k + c] = x[r * k + c]! * 30;
  return x;
}

function quantizeCases(rng: Rng): OpCase<AtomQuantizeAttrs>[] {
  const out: OpCase<AtomQuantizeAttrs>[] = [];
  for (const prologue of ATOM_PROLOGUES)
    for (const reordered of [false, true]) {
      const m = rng.pick([1, 3, rng.int(5, 19) | 1]);
      const k = ATOM_GROUP * rng.int(2, 4);
      const hot = [rng.int(0, k - 1), rng.int(0, k - 1)];
      const x = activations(rng, m, k, hot);
      const f32 = (v: Float64Array, shape: number[]) => ({
        desc: { dtype: 'f32' as const, shape },
        data: toHost('f32', v),
      });
      const inputs = [f32(x, [m, k])];
      if (prologue === 'rmsnorm') inputs.push(f32(rng.normals(k, 1), [k]));
      if (prologue === 'silu_mul') inputs.push(f32(rng.normals(m * k, 1), [m, k]));
      const perm = reordered ? permutation(rng, k) : null;
      out.push({
        label: `${prologue}${reordered ? ' reordered' : ''} M${m} K${k}`,
        attrs: { prologue, reordered, ...(prologue === 'rmsnorm' ? { eps: 1e-5 } : {}) },
        inputs: perm ? [...inputs, { desc: { dtype: 'i32', shape: [k] }, data: perm }] : inputs,
      });
    }
  return out;
}

export const atomQuantizeOp = defineOp<AtomQuantizeAttrs>({
  name: 'atom_quantize',
  outputs(attrs, inputs) {
    const { k } = atomQuantizeGeometry(attrs, inputs);
    const lead = inputs[0]!.shape.slice(0, -1);
    return [
      { dtype: 'i8', shape: [...lead, k] },
      { dtype: 'f32', shape: [...lead, groupsOf(k)] },
    ];
  },
  reference(attrs, ins, descs) {
    const { m, k } = atomQuantizeGeometry(attrs, descs);
    const { q, scale } = quantizeActivations(atomPrologueF64(attrs, ins, m, k), m, k);
    return [Float64Array.from(q), scale];
  },
  cases: quantizeCases,
  tolerance: () => ({ abs: 0, rel: 1e-5 }),
  check(attrs, ins, got, want, descs) {
    const { m, k } = atomQuantizeGeometry(attrs, descs);
    const v = atomPrologueF64(attrs, ins, m, k);
    const G = groupsOf(k);
    // f32 rounding of the prologue (a K-term sum for RMSNorm) and of the scale, relative to qmax
    const rel = 2 * (k + 16) * 2 ** -24;
    for (let r = 0; r < m; r++)
      for (let g = 0; g < G; g++) {
        const s = want[1]![r * G + g]!;
        const gs = got[1]![r * G + g]!;
        if (!(Math.abs(gs - s) <= rel * s)) return `scale [${r}, ${g}]: got ${gs}, want ${s} (within ${rel} relative)`;
        const qmax = qmaxOfGroup(g, k);
        for (let i = 0; i < ATOM_GROUP; i++) {
          const e = r * k + g * ATOM_GROUP + i;
          const exact = s > 0 ? v[e]! / s : 0;
          if (!(Math.abs(got[0]![e]! - exact) <= 0.5 + rel * qmax) || Math.abs(got[0]![e]!) > qmax)
            return `code [${r}, ${g * ATOM_GROUP + i}]: got ${got[0]![e]}, exact x / scale = ${exact} (qmax ${qmax})`;
        }
      }
    return null;
  },
});

/** Rows, outputs and channels of `atom_matmul`; every refusal names its reason. */
export function atomMatmulGeometry(attrs: Attrs, inputs: readonly TensorDesc[]): { m: number; n: number; k: number } {
  const { n, k } = attrs as AtomMatmulAttrs;
  const fail = (msg: string): never => {
    throw new Error(`atom_matmul: ${msg}`);
  };
  const why = whyW4a4ShapeInvalid(n, k);
  if (why) fail(why);
  if (inputs.length !== 3) fail(`takes 3 inputs (xq, xs, w), ${inputs.length} given`);
  const [xq, xs, w] = inputs as [TensorDesc, TensorDesc, TensorDesc];
  if (xq.dtype !== 'i8' || xq.shape.length < 1 || lastDim(xq) !== k)
    fail(`xq must be i8 [..., ${k}], got ${xq.dtype} [${xq.shape.join(', ')}]`);
  const m = lead(xq);
  if (xs.dtype !== 'f32' || lastDim(xs) !== groupsOf(k) || lead(xs) !== m)
    fail(
      `xs must be f32 [${xq.shape.slice(0, -1).join(', ')}, ${groupsOf(k)}], got ${xs.dtype} [${xs.shape.join(', ')}]`,
    );
  const bytes = w4a4WeightBytes(n, k);
  if (w.dtype !== 'u8' || w.shape.length !== 1 || w.shape[0] !== bytes)
    fail(`w must be the W4A4 bytes of [${n}, ${k}]: u8 [${bytes}], got ${w.dtype} [${w.shape.join(', ')}]`);
  return { m, n, k };
}

/** y in float64 (exact: integers and f16/f32 scales) and the magnitudes of the f32 sum's terms. */
function matmulReference(attrs: Attrs, [xq, xs, w]: readonly Float64Array[], descs: readonly TensorDesc[]) {
  const { m, n, k } = atomMatmulGeometry(attrs, descs);
  const G = groupsOf(k);
  const W = unpackW4a4Weights(Uint8Array.from(w!), n, k);
  const y = new Float64Array(m * n);
  const mag = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++)
      for (let g = 0; g < G; g++) {
        let dot = 0;
        let abs = 0;
        for (let c = g * ATOM_GROUP; c < (g + 1) * ATOM_GROUP; c++) {
          dot += xq![i * k + c]! * W.q[j * k + c]!;
          abs += Math.abs(xq![i * k + c]! * W.q[j * k + c]!);
        }
        const s = xs![i * G + g]! * W.scale[j * G + g]!;
        y[i * n + j] += dot * s;
        mag[i * n + j] += abs * Math.abs(s);
      }
  return { y, mag, terms: k / 32 };
}

function matmulCases(rng: Rng): OpCase<AtomMatmulAttrs>[] {
  const out: OpCase<AtomMatmulAttrs>[] = [];
  for (const m of [1, rng.int(2, 7) | 1, rng.int(17, 40) | 1]) {
    const n = rng.int(1, 12) * 2 + 1;
    const k = ATOM_GROUP * rng.int(2, 4);
    const x = activations(rng, m, k, [k - ATOM_OUTLIERS + rng.int(0, ATOM_OUTLIERS - 1)]);
    const a = quantizeActivations(x, m, k);
    const bytes = quantizeW4a4Weights(rng.normals(n * k, 0.5), n, k);
    out.push({
      label: `M${m} N${n} K${k}`,
      attrs: { n, k },
      inputs: [
        { desc: { dtype: 'i8', shape: [m, k] }, data: Int8Array.from(a.q) },
        { desc: { dtype: 'f32', shape: [m, groupsOf(k)] }, data: Float32Array.from(a.scale) },
        { desc: { dtype: 'u8', shape: [bytes.length] }, data: bytes },
      ],
    });
  }
  return out;
}

export const atomMatmulOp = defineOp<AtomMatmulAttrs>({
  name: 'atom_matmul',
  outputs(attrs, inputs) {
    const { n } = atomMatmulGeometry(attrs, inputs);
    return [{ dtype: 'f32', shape: [...inputs[0]!.shape.slice(0, -1), n] }];
  },
  reference: (attrs, ins, descs) => [matmulReference(attrs, ins, descs).y],
  cases: matmulCases,
  tolerance: () => ({ abs: 1e-5, rel: 1e-5 }),
  check(attrs, ins, got, _want, descs) {
    const { y, mag, terms } = matmulReference(attrs, ins, descs);
    return compareWithBound(got[0]!, y, mag, () => terms);
  },
});

export const ATOM_OPS = [atomQuantizeOp, atomMatmulOp];
export { ATOM_OUTLIERS };
