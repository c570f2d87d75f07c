/**
 * `attention` (contiguous, for the compiler's transformer block; the paged engine lives in
 * `src/attention`): q [T, Hq, D], k [S, Hk, D], v [S, Hk, D] → o [T, Hq, D] in q's dtype.
 * Grouped-query: query head h reads KV head ⌊h / (Hq/Hk)⌋. Causal: query i sees keys
 * j ≤ i + S − T (the queries are the last T of S positions). A query that sees no key (causal with
 * T > S) gets zeros. `scale` defaults to 1/√D. Arithmetic in f32 (f64 in the reference).
 */
import type { TensorDesc } from '../backends/backend.js';
import { isFloat } from '../tensor/dtype.js';
import { defineOp } from './op-spec.js';
import { FLOAT_DTYPES, randomInput, storageEps } from './test-data.js';

export interface AttentionAttrs {
  readonly causal: boolean;
  readonly scale?: number;
  /** Query rows a thread of the small-head GPU kernel holds, forced (tests); by default from D and the grid. */
  readonly rowsPerThread?: 1 | 2 | 4;
  readonly [key: string]: unknown;
}

export function attentionDims(inputs: readonly TensorDesc[]): {
  T: number;
  S: number;
  Hq: number;
  Hk: number;
  D: number;
} {
  if (inputs.length !== 3) throw new Error(`attention: takes 3 inputs (q, k, v), ${inputs.length} given`);
  const [q, k, v] = inputs as [TensorDesc, TensorDesc, TensorDesc];
  for (const [name, t] of [
    ['q', q],
    ['k', k],
    ['v', v],
  ] as const) {
    if (t.shape.length !== 3 || !isFloat(t.dtype))
      throw new Error(
        `attention: ${name} must be a float [len, heads, D] tensor, got ${t.dtype} [${t.shape.join(', ')}]`,
      );
  }
  const [T, Hq, D] = q.shape as [number, number, number];
  const [S, Hk, Dk] = k.shape as [number, number, number];
  if (Dk !== D || v.shape[2] !== D) throw new Error(`attention: head dims differ (q ${D}, k ${Dk}, v ${v.shape[2]})`);
  if (v.shape[0] !== S || v.shape[1] !== Hk)
    throw new Error(`attention: v has shape [${v.shape.join(', ')}], expected [${S}, ${Hk}, ${D}] like k`);
  if (Hk === 0 || Hq % Hk !== 0)
    throw new Error(`attention: query heads (${Hq}) must be a multiple of KV heads (${Hk})`);
  return { T, S, Hq, Hk, D };
}

export const attentionOp = defineOp<AttentionAttrs>({
  name: 'attention',
  outputs(attrs, inputs) {
    attentionDims(inputs);
    if (attrs.scale !== undefined && !Number.isFinite(attrs.scale))
      throw new Error(`attention: scale must be a finite number, got ${String(attrs.scale)}`);
    return [{ dtype: inputs[0]!.dtype, shape: [...inputs[0]!.shape] }];
  },
  reference(attrs, [q, k, v], inDescs) {
    const { T, S, Hq, Hk, D } = attentionDims(inDescs);
    const scale = attrs.scale ?? 1 / Math.sqrt(D);
    const group = Hq / Hk;
    const out = new Float64Array(T * Hq * D);
    const s = new Float64Array(S);
    for (let i = 0; i < T; i++) {
      const last = attrs.causal ? Math.min(S - 1, i + S - T) : S - 1;
      for (let h = 0; h < Hq; h++) {
        const kh = Math.floor(h / group);
        const qo = (i * Hq + h) * D;
        let m = -Infinity;
        for (let j = 0; j <= last; j++) {
          let dot = 0;
          for (let d = 0; d < D; d++) dot += q![qo + d]! * k![(j * Hk + kh) * D + d]!;
          s[j] = dot * scale;
          m = Math.max(m, s[j]!);
        }
        let l = 0;
        for (let j = 0; j <= last; j++) l += s[j] = Math.exp(s[j]! - m);
        for (let j = 0; j <= last; j++) {
          const p = s[j]! / l;
          for (let d = 0; d < D; d++) out[qo + d]! += p * v![(j * Hk + kh) * D + d]!;
        }
      }
    }
    return [out];
  },
  cases(rng, { big }) {
    // [T, S, Hq, Hk, D, causal]
    const shapes: [number, number, number, number, number, boolean][] = [
      [1, 1, 1, 1, 1, false],
      [1, rng.int(20, 70), 4, 2, 16, true],
      [rng.int(15, 25), 0, 6, 2, 32, true],
      [rng.int(3, 7), rng.int(17, 30), 2, 1, 2 * rng.int(2, 6) + 1, rng.next() < 0.5],
      [rng.int(30, 45), 0, 2, 2, 64, true],
      [rng.int(2, 4), rng.int(40, 60), 4, 1, 128, false],
      [6, 3, 2, 1, 8, true],
    ];
    // big: Llama-3-8B heads; lengths kept where the float64 oracle takes seconds, not minutes
    if (big) shapes.push([512, 512, 32, 8, 128, true], [16, 4096, 32, 8, 128, true]);
    return shapes.map(([T, S0, Hq, Hk, D, causal]) => {
      const S = S0 || T;
      const [dq, dk] = [rng.pick(FLOAT_DTYPES), rng.pick(FLOAT_DTYPES)];
      const scale = rng.next() < 0.2 ? 0.3 : undefined;
      const attrs: AttentionAttrs = scale === undefined ? { causal } : { causal, scale };
      return {
        label: `q:${dq} kv:${dk} T${T} S${S} H${Hq}/${Hk} D${D}${causal ? ' causal' : ''}${scale ? ' scale' : ''}`,
        attrs,
        inputs: [randomInput(rng, dq, [T, Hq, D]), randomInput(rng, dk, [S, Hk, D]), randomInput(rng, dk, [S, Hk, D])],
      };
    });
  },
  tolerance(_attrs, [q]) {
    // scores carry ~D·2^−24 relative error and the output is a convex mix of v (|v| ≲ 4)
    return { abs: 3e-5, rel: 2 * storageEps(q!.dtype) };
  },
});
