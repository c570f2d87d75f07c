/**
 * `rope`: rotary position embedding on x [T, H, D] with positions i32 [T], in the rotate-half
 * layout of HF Llama (pairs are (i, i + rd/2) of the first `rotaryDim` = rd dims; the rest pass
 * through, as partial rotary in GPT-NeoX/Phi). Frequencies θ^(−2i/rd), optionally rescaled as
 * Llama 3.1 does (HF `_compute_llama3_parameters`).
 *
 * Precision: the reference works in float64. Kernels get the inverse frequencies from the host
 * (float64, split into f32 pieces) and reduce pos·f/2π modulo 1 exactly, so the angle they give
 * to sin/cos is accurate at any position below 2^24; a plain f32 pos·invfreq would be off by up
 * to ~0.01 rad at 128K positions (HF itself computes in f32 and carries that error).
 */
import type { TensorDesc } from '../backends/backend.js';
import { isFloat } from '../tensor/dtype.js';
import { defineOp } from './op-spec.js';
import { FLOAT_DTYPES, randomInput, storageEps } from './test-data.js';

export interface Llama3Scaling {
  readonly factor: number;
  readonly lowFreqFactor: number;
  readonly highFreqFactor: number;
  readonly originalMaxPositions: number;
}

export interface RopeAttrs {
  readonly theta: number;
  readonly rotaryDim?: number;
  readonly scaling?: Llama3Scaling;
  readonly [key: string]: unknown;
}

/** Positions must be exact small integers: the kernels' exact angle reduction assumes < 2^24. */
export const ROPE_MAX_POSITION = 2 ** 24;

/** Validates attributes and shapes; returns the rotated width rd and the layout. */
export function ropeDims(
  attrs: RopeAttrs,
  inputs: readonly TensorDesc[],
): { T: number; H: number; D: number; rd: number } {
  if (inputs.length !== 2) throw new Error(`rope: takes 2 inputs (x, positions), ${inputs.length} given`);
  const [x, pos] = inputs as [TensorDesc, TensorDesc];
  if (x.shape.length !== 3 || !isFloat(x.dtype))
    throw new Error(`rope: x must be a float [T, H, D] tensor, got ${x.dtype} [${x.shape.join(', ')}]`);
  const [T, H, D] = x.shape as [number, number, number];
  if (pos.dtype !== 'i32' || pos.shape.length !== 1 || pos.shape[0] !== T)
    throw new Error(`rope: positions must be i32 [${T}], got ${pos.dtype} [${pos.shape.join(', ')}]`);
  if (!(attrs.theta > 0)) throw new Error(`rope: theta must be > 0, got ${String(attrs.theta)}`);
  const rd = attrs.rotaryDim ?? D;
  if (attrs.rotaryDim === undefined && D % 2 === 1)
    throw new Error(
      `rope: head dim ${D} is odd; rotate-half pairs dims (i, i + D/2), so D must be even (or set an even rotaryDim)`,
    );
  if (!Number.isInteger(rd) || rd % 2 === 1 || rd < 2 || rd > D)
    throw new Error(`rope: rotaryDim must be an even integer in [2, ${D}], got ${rd}`);
  const s = attrs.scaling;
  if (s) {
    const ok = s.factor > 0 && s.originalMaxPositions > 0 && s.lowFreqFactor > 0 && s.highFreqFactor > s.lowFreqFactor;
    if (!ok)
      throw new Error(
        `rope: Llama-3 scaling needs factor > 0, originalMaxPositions > 0 and highFreqFactor > lowFreqFactor > 0, got ${JSON.stringify(s)}`,
      );
  }
  return { T, H, D, rd };
}

/** Inverse frequencies (float64) of the rd/2 rotated pairs, with Llama-3 scaling applied if asked. */
export function ropeInvFreqs(theta: number, rd: number, scaling?: Llama3Scaling): Float64Array {
  const out = new Float64Array(rd / 2);
  for (let i = 0; i < rd / 2; i++) {
    const inv = 1 / theta ** ((2 * i) / rd);
    out[i] = scaling ? llama3Scale(inv, scaling) : inv;
  }
  return out;
}

/** One frequency through HF's `_compute_llama3_parameters`: long wavelengths slowed by `factor`, short kept, a smooth blend between. */
function llama3Scale(inv: number, s: Llama3Scaling): number {
  const lowFreqWavelen = s.originalMaxPositions / s.lowFreqFactor;
  const highFreqWavelen = s.originalMaxPositions / s.highFreqFactor;
  const wavelen = (2 * Math.PI) / inv;
  if (wavelen < highFreqWavelen) return inv;
  if (wavelen > lowFreqWavelen) return inv / s.factor;
  const smooth = (s.originalMaxPositions / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
  return ((1 - smooth) * inv) / s.factor + smooth * inv;
}

export const ropeOp = defineOp<RopeAttrs>({
  name: 'rope',
  outputs(attrs, inputs) {
    ropeDims(attrs, inputs);
    return [{ dtype: inputs[0]!.dtype, shape: [...inputs[0]!.shape] }];
  },
  reference(attrs, [x, pos], inDescs) {
    const { T, H, D, rd } = ropeDims(attrs, inDescs);
    const half = rd / 2;
    const inv = ropeInvFreqs(attrs.theta, rd, attrs.scaling);
    const out = Float64Array.from(x!);
    for (let t = 0; t < T; t++) {
      const p = pos![t]!;
      if (!Number.isInteger(p) || p < 0 || p >= ROPE_MAX_POSITION)
        throw new RangeError(`rope: position ${p} at token ${t} is outside [0, 2^24)`);
      for (let i = 0; i < half; i++) {
        const c = Math.cos(p * inv[i]!);
        const s = Math.sin(p * inv[i]!);
        for (let h = 0; h < H; h++) {
          const o = (t * H + h) * D;
          const a = x![o + i]!;
          const b = x![o + i + half]!;
          out[o + i] = a * c - b * s;
          out[o + i + half] = b * c + a * s;
        }
      }
    }
    return [out];
  },
  cases(rng, { big }) {
    const llama3 = { factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 8192 };
    const shapes: [number, number, number, number | undefined, RopeAttrs['scaling']][] = [
      [1, 1, 2, undefined, undefined],
      [rng.int(2, 9), rng.int(1, 5), 2 * rng.int(2, 20), undefined, undefined],
      [rng.int(3, 17), rng.int(2, 7), 64, undefined, llama3],
      [rng.int(2, 7), 3, 2 * rng.int(20, 40) + 1, 2 * rng.int(4, 20), undefined],
      [rng.int(2, 11), rng.int(1, 4), 128, 32, llama3],
    ];
    if (big) shapes.push([2048, 32, 128, undefined, llama3]);
    return shapes.map(([T, H, D, rotaryDim, scaling]) => {
      const dtype = rng.pick(FLOAT_DTYPES);
      const theta = rng.pick([10000, 500000, 1e6]);
      // positions from 0 to 128K: large ones show whether the kernel's angles hold up
      const pos = Int32Array.from({ length: T }, () => (rng.next() < 0.5 ? rng.int(0, 64) : rng.int(0, 131072)));
      const attrs: RopeAttrs = { theta, ...(rotaryDim ? { rotaryDim } : {}), ...(scaling ? { scaling } : {}) };
      return {
        label: `${dtype} ${T}x${H}x${D} θ${theta}${rotaryDim ? ` rd${rotaryDim}` : ''}${scaling ? ' llama3' : ''}`,
        attrs,
        inputs: [randomInput(rng, dtype, [T, H, D]), { desc: { dtype: 'i32' as const, shape: [T] }, data: pos }],
      };
    });
  },
  tolerance(_attrs, [xd]) {
    // angle error ≲ 3e-6 rad after exact reduction, sin/cos in [−π, π] ~1e-6; |x| up to ~5
    return { abs: 3e-5, rel: 2 * storageEps(xd!.dtype) };
  },
});
