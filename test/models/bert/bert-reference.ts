/**
 * A float64 BERT encoder in plain loops, the oracle for the compiled one: embeddings (word +
 * position + token type) → LayerNorm → post-LN layers (softmax(QKᵀ/√d)V per head, exact erf GELU) →
 * pooling over one text's tokens → optional L2 normalisation. One text at a time, so no mask: a
 * packed or padded batch must give exactly this.
 */
import { toFloat64 } from '../../../src/tensor/dtype.js';
import type { TensorSource } from '../../../src/io/tensor-source.js';

export interface ReferenceConfig {
  hidden: number;
  layers: number;
  heads: number;
  intermediate: number;
  eps: number;
  pooling: 'mean' | 'cls';
  normalize: boolean;
}

/** The tiny encoder the server tests write with random weights (`writeRandomBertCheckpoint`, same sizes). */
export const TINY_BERT: ReferenceConfig = {
  hidden: 32,
  layers: 2,
  heads: 4,
  intermediate: 64,
  eps: 1e-12,
  pooling: 'mean',
  normalize: true,
};

export type Weights = Map<string, Float64Array>;

export async function readWeights(source: TensorSource): Promise<Weights> {
  const w: Weights = new Map();
  for (const [name, info] of source.tensors) w.set(name, toFloat64(info.dtype, await source.read(name)));
  return w;
}

/** erf to ~1e-13: Maclaurin series below 3, the asymptotic erfc series above (erfc(3) ≈ 2e-5). */
export function erf(x: number): number {
  const a = Math.abs(x);
  let r: number;
  if (a < 3) {
    let term = a;
    let sum = a;
    for (let n = 1; n < 80; n++) {
      term *= (-a * a) / n;
      sum += term / (2 * n + 1);
    }
    r = (2 / Math.sqrt(Math.PI)) * sum;
  } else {
    const z = 1 / (2 * a * a);
    const series = 1 - z + 3 * z * z - 15 * z * z * z + 105 * z ** 4;
    r = 1 - (Math.exp(-a * a) / (a * Math.sqrt(Math.PI))) * series;
  }
  return x < 0 ? -r : r;
}

const gelu = (x: number) => 0.5 * x * (1 + erf(x / Math.SQRT2));

/** y[t, o] = Σ_i x[t, i] · W[o, i] + b[o] (HF Linear layout). */
function linear(x: Float64Array, rows: number, inDim: number, W: Float64Array, b: Float64Array): Float64Array {
  const outDim = b.length;
  const y = new Float64Array(rows * outDim);
  for (let t = 0; t < rows; t++)
    for (let o = 0; o < outDim; o++) {
      let s = b[o]!;
      for (let i = 0; i < inDim; i++) s += x[t * inDim + i]! * W[o * inDim + i]!;
      y[t * outDim + o] = s;
    }
  return y;
}

function layerNorm(x: Float64Array, rows: number, dim: number, g: Float64Array, b: Float64Array, eps: number) {
  const y = new Float64Array(x.length);
  for (let t = 0; t < rows; t++) {
    let mean = 0;
    for (let i = 0; i < dim; i++) mean += x[t * dim + i]!;
    mean /= dim;
    let v = 0;
    for (let i = 0; i < dim; i++) v += (x[t * dim + i]! - mean) ** 2;
    const r = 1 / Math.sqrt(v / dim + eps);
    for (let i = 0; i < dim; i++) y[t * dim + i] = (x[t * dim + i]! - mean) * r * g[i]! + b[i]!;
  }
  return y;
}

function attention(q: Float64Array, k: Float64Array, v: Float64Array, T: number, heads: number, d: number) {
  const h = heads * d;
  const out = new Float64Array(T * h);
  for (let hd = 0; hd < heads; hd++)
    for (let i = 0; i < T; i++) {
      const s = new Float64Array(T);
      let max = -Infinity;
      for (let j = 0; j < T; j++) {
        let dot = 0;
        for (let c = 0; c < d; c++) dot += q[i * h + hd * d + c]! * k[j * h + hd * d + c]!;
        s[j] = dot / Math.sqrt(d);
        max = Math.max(max, s[j]!);
      }
      let z = 0;
      for (let j = 0; j < T; j++) z += s[j] = Math.exp(s[j]! - max);
      for (let j = 0; j < T; j++)
        for (let c = 0; c < d; c++) out[i * h + hd * d + c] += (s[j]! / z) * v[j * h + hd * d + c]!;
    }
  return out;
}

/** The embedding of one text (token ids with [CLS]/[SEP] in place), token types all 0. */
export function referenceEmbedding(w: Weights, c: ReferenceConfig, ids: readonly number[]): Float64Array {
  const T = ids.length;
  const H = c.hidden;
  const W = (n: string) => {
    const t = w.get(n);
    if (!t) throw new Error(`reference: no weight ${n}`);
    return t;
  };
  let x = new Float64Array(T * H);
  const word = W('embeddings.word_embeddings.weight');
  const pos = W('embeddings.position_embeddings.weight');
  const type = W('embeddings.token_type_embeddings.weight');
  for (let t = 0; t < T; t++)
    for (let i = 0; i < H; i++) x[t * H + i] = word[ids[t]! * H + i]! + pos[t * H + i]! + type[i]!;
  x = layerNorm(x, T, H, W('embeddings.LayerNorm.weight'), W('embeddings.LayerNorm.bias'), c.eps);
  for (let l = 0; l < c.layers; l++) {
    const p = `encoder.layer.${l}.`;
    const lin = (inp: Float64Array, inDim: number, name: string) =>
      linear(inp, T, inDim, W(`${p}${name}.weight`), W(`${p}${name}.bias`));
    const q = lin(x, H, 'attention.self.query');
    const k = lin(x, H, 'attention.self.key');
    const v = lin(x, H, 'attention.self.value');
    const a = lin(attention(q, k, v, T, c.heads, H / c.heads), H, 'attention.output.dense');
    for (let i = 0; i < a.length; i++) a[i] += x[i]!;
    const x1 = layerNorm(
      a,
      T,
      H,
      W(`${p}attention.output.LayerNorm.weight`),
      W(`${p}attention.output.LayerNorm.bias`),
      c.eps,
    );
    const inter = lin(x1, H, 'intermediate.dense').map(gelu);
    const o = lin(inter, c.intermediate, 'output.dense');
    for (let i = 0; i < o.length; i++) o[i] += x1[i]!;
    x = layerNorm(o, T, H, W(`${p}output.LayerNorm.weight`), W(`${p}output.LayerNorm.bias`), c.eps);
  }
  const e = new Float64Array(H);
  if (c.pooling === 'cls') e.set(x.subarray(0, H));
  else for (let t = 0; t < T; t++) for (let i = 0; i < H; i++) e[i] += x[t * H + i]! / T;
  if (!c.normalize) return e;
  const norm = Math.sqrt(e.reduce((s, v) => s + v * v, 0));
  return e.map((v) => v / norm);
}
