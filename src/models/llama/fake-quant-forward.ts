/**
 * A float64 Llama forward over whole windows of text with each quantization scheme applied as fake
 * quantization (src/quant/atom-fake-quant.ts): the accuracy side of Atom's ablation (issue 22),
 * independent of the WebGPU kernels, whose own correctness against the same quantized math the
 * conformance tests check. It also records the calibration statistics (mean |x| per input channel
 * at each projection's input) that choose the outlier channels.
 *
 * Activation sites per layer, each the input of the projections that share one quantizer:
 * `attn_in` (q, k, v), `o_in` (o), `mlp_in` (gate, up), `down_in` (down). The LM head and the
 * embedding stay in full precision in every scheme, as in Atom.
 */
import { toFloat64 } from '../../tensor/dtype.js';
import {
  fakeQuantKv,
  fakeQuantSymmetric,
  fakeQuantW4,
  fakeQuantW4a4Activations,
  fakeQuantW4a4Weights,
} from '../../quant/atom-fake-quant.js';
import { ChannelStats, permuteColumns } from '../../quant/atom-reorder.js';
import { divideColumns, scaleColumns, smoothingFactors } from '../../quant/smoothquant.js';
import { ATOM_GROUP, QMAX4 } from '../../quant/w4a4-format.js';

/** INT8's symmetric code range (±127, as SmoothQuant's W8A8). */
const QMAX8 = 127;
import type { LlamaConfig } from './llama-config.js';
import { openLlamaModel } from './llama-family.js';
import { weightNames } from './graph.js';

/**
 * fp: the checkpoint's weights, float64 math. w4a16: weights in our `w4` format. w4a4: Atom's
 * layout, the last 128 channels (after the calibrated reordering, where one is given) in INT8.
 * w4a4-no-outliers: every group of weights and activations 4-bit, no reordering. w8a8: INT8
 * weights per output channel (f16 scale) and INT8 activations per token, symmetric; with
 * SmoothQuant's factors (`smooth`) where given.
 */
export const PPL_SCHEMES = ['fp', 'w4a16', 'w4a4', 'w4a4-no-outliers', 'w8a8'] as const;
export type PplScheme = (typeof PPL_SCHEMES)[number];
export const SITES = ['attn_in', 'o_in', 'mlp_in', 'down_in'] as const;
export type Site = (typeof SITES)[number];

export interface FakeQuantOptions {
  readonly scheme: PplScheme;
  /** KV cache bits (fake-quantized after RoPE, as the cache stores it); null: full precision. */
  readonly kvBits?: 4 | 8 | null;
  /** `layer.site` → channel gather (w4a4 only); absent: channels in checkpoint order. */
  readonly perms?: ReadonlyMap<string, Int32Array>;
  /**
   * `layer.site` → SmoothQuant factors s (w8a8 only; src/quant/smoothquant.ts): the site's
   * activation divided by s, its weights' columns multiplied by s, before quantization.
   */
  readonly smooth?: ReadonlyMap<string, Float64Array>;
}

/** The sites whose smoothing folds into the RMSNorm in front of them, as SmoothQuant does for Llama. */
export const SMOOTHED_SITES: readonly Site[] = ['attn_in', 'mlp_in'];

export interface LlamaF64 {
  readonly cfg: LlamaConfig;
  readonly w: ReadonlyMap<string, Float64Array>;
}

export async function loadLlamaF64(dir: string): Promise<LlamaF64 & { encode(text: string): number[] }> {
  const model = await openLlamaModel(dir);
  try {
    const cfg = model.config;
    if (cfg.ropeScaling)
      throw new Error(`fake-quant forward: RoPE scaling '${cfg.ropeScaling.type}' is not implemented`);
    if (!model.tokenizer) throw new Error(`${dir}: no tokenizer`);
    const w = new Map<string, Float64Array>();
    for (const name of weightNames(cfg)) {
      const info = model.weights.tensors.get(name)!;
      w.set(name, toFloat64(info.dtype, await model.weights.read(name)));
    }
    const tok = model.tokenizer;
    return { cfg, w, encode: (text) => tok.encode(text) };
  } finally {
    await model.weights.close();
  }
}

/** y [m, n] = x [m, k] · W [n, k]ᵀ */
function matmulNT(x: Float64Array, w: Float64Array, m: number, n: number, k: number): Float64Array {
  const y = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      const xo = i * k;
      const wo = j * k;
      for (let c = 0; c < k; c++) s += x[xo + c]! * w[wo + c]!;
      y[i * n + j] = s;
    }
  return y;
}

function rmsNorm(x: Float64Array, g: Float64Array, m: number, k: number, eps: number): Float64Array {
  const y = new Float64Array(m * k);
  for (let i = 0; i < m; i++) {
    let ss = 0;
    for (let c = 0; c < k; c++) ss += x[i * k + c]! ** 2;
    const inv = 1 / Math.sqrt(ss / k + eps);
    for (let c = 0; c < k; c++) y[i * k + c] = x[i * k + c]! * inv * g[c]!;
  }
  return y;
}

/** HF's rotate-half RoPE on [t, heads, hd] at positions 0..t−1, in place. */
function rope(x: Float64Array, t: number, heads: number, hd: number, theta: number): void {
  const half = hd / 2;
  for (let p = 0; p < t; p++)
    for (let h = 0; h < heads; h++) {
      const o = (p * heads + h) * hd;
      for (let i = 0; i < half; i++) {
        const a = p * theta ** ((-2 * i) / hd);
        const [c, s] = [Math.cos(a), Math.sin(a)];
        const [x0, x1] = [x[o + i]!, x[o + i + half]!];
        x[o + i] = x0 * c - x1 * s;
        x[o + i + half] = x1 * c + x0 * s;
      }
    }
}

/** Causal GQA attention of q [t, nh, hd] over k, v [t, nkv, hd] → [t, nh·hd]. */
function attention(q: Float64Array, k: Float64Array, v: Float64Array, t: number, nh: number, nkv: number, hd: number) {
  const out = new Float64Array(t * nh * hd);
  const scale = 1 / Math.sqrt(hd);
  const p = new Float64Array(t);
  for (let h = 0; h < nh; h++) {
    const kh = Math.floor(h / (nh / nkv));
    for (let i = 0; i < t; i++) {
      let mx = -Infinity;
      for (let j = 0; j <= i; j++) {
        let s = 0;
        for (let d = 0; d < hd; d++) s += q[(i * nh + h) * hd + d]! * k[(j * nkv + kh) * hd + d]!;
        p[j] = s * scale;
        mx = Math.max(mx, p[j]!);
      }
      let z = 0;
      for (let j = 0; j <= i; j++) z += p[j] = Math.exp(p[j]! - mx);
      for (let j = 0; j <= i; j++)
        for (let d = 0; d < hd; d++) out[(i * nh + h) * hd + d]! += (p[j]! / z) * v[(j * nkv + kh) * hd + d]!;
    }
  }
  return out;
}

/** Each site of layer `l` and the projections reading it. */
function siteWeights(l: number): [Site, string[]][] {
  const p = `model.layers.${l}.`;
  return [
    ['attn_in', ['q', 'k', 'v'].map((s) => `${p}self_attn.${s}_proj.weight`)],
    ['o_in', [`${p}self_attn.o_proj.weight`]],
    ['mlp_in', [`${p}mlp.gate_proj.weight`, `${p}mlp.up_proj.weight`]],
    ['down_in', [`${p}mlp.down_proj.weight`]],
  ];
}

/** The model with one scheme's weights prepared once; `forward` runs windows of tokens. */
export class FakeQuantLlama {
  private readonly qw = new Map<string, Float64Array>();
  constructor(
    readonly model: LlamaF64,
    readonly opts: FakeQuantOptions,
  ) {
    const { cfg, w } = model;
    for (let l = 0; l < cfg.numLayers; l++)
      for (const [site, names] of siteWeights(l)) {
        const perm = opts.perms?.get(`${l}.${site}`);
        const smooth = opts.smooth?.get(`${l}.${site}`);
        if ((perm || smooth) && opts.scheme !== (perm ? 'w4a4' : 'w8a8'))
          throw new Error(
            `fake-quant forward: ${perm ? 'perms are for w4a4' : 'smooth is for w8a8'}, not ${opts.scheme}`,
          );
        for (const name of names) {
          const W = w.get(name)!;
          const [n, k] = [W.length / this.siteWidth(site), this.siteWidth(site)];
          const moved = perm ? permuteColumns(W, n, k, perm) : smooth ? scaleColumns(W, n, k, smooth) : W;
          this.qw.set(name, this.quantWeight(moved, n, k));
        }
      }
  }

  private siteWidth(site: Site): number {
    const c = this.model.cfg;
    return site === 'o_in' ? c.numHeads * c.headDim : site === 'down_in' ? c.intermediateSize : c.hiddenSize;
  }

  private quantWeight(W: Float64Array, n: number, k: number): Float64Array {
    switch (this.opts.scheme) {
      case 'fp':
        return W;
      case 'w4a16':
        return fakeQuantW4(W, n, k);
      case 'w4a4':
        return fakeQuantW4a4Weights(W, n, k);
      case 'w4a4-no-outliers':
        return fakeQuantSymmetric(W, n, k, ATOM_GROUP, QMAX4, true);
      case 'w8a8':
        return fakeQuantSymmetric(W, n, k, k, QMAX8, true);
    }
  }

  private quantAct(x: Float64Array, m: number, k: number, key: string): Float64Array {
    switch (this.opts.scheme) {
      case 'fp':
      case 'w4a16':
        return x;
      case 'w4a4': {
        const perm = this.opts.perms?.get(key);
        return fakeQuantW4a4Activations(perm ? permuteColumns(x, m, k, perm) : x, m, k);
      }
      case 'w4a4-no-outliers':
        return fakeQuantSymmetric(x, m, k, ATOM_GROUP, QMAX4, false);
      case 'w8a8': {
        const smooth = this.opts.smooth?.get(key);
        return fakeQuantSymmetric(smooth ? divideColumns(x, m, k, smooth) : x, m, k, k, QMAX8, false);
      }
    }
  }

  /** Logits [t, vocab] of one window; `onSite` sees each site's float input (calibration). */
  forward(tokens: readonly number[], onSite?: (key: string, x: Float64Array, rows: number) => void): Float64Array {
    const { cfg, w } = this.model;
    const [t, H, hd, nh, nkv] = [tokens.length, cfg.hiddenSize, cfg.headDim, cfg.numHeads, cfg.numKvHeads];
    const emb = w.get('model.embed_tokens.weight')!;
    let x = new Float64Array(t * H);
    tokens.forEach((id, i) => x.set(emb.subarray(id * H, (id + 1) * H), i * H));
    const lin = (l: number, site: Site, a: Float64Array, names: string[]) => {
      const k = this.siteWidth(site);
      onSite?.(`${l}.${site}`, a, t);
      const aq = this.quantAct(a, t, k, `${l}.${site}`);
      return names.map((name) => {
        const W = this.qw.get(name)!;
        return matmulNT(aq, W, t, W.length / k, k);
      });
    };
    const kv = (a: Float64Array) => (this.opts.kvBits ? fakeQuantKv(a, t, nkv, hd, this.opts.kvBits) : a);
    for (let l = 0; l < cfg.numLayers; l++) {
      const [[, qkv], [, o], [, mlp], [, down]] = siteWeights(l);
      const p = `model.layers.${l}.`;
      const h = rmsNorm(x, w.get(`${p}input_layernorm.weight`)!, t, H, cfg.rmsNormEps);
      const [q, k, v] = lin(l, 'attn_in', h, qkv!) as [Float64Array, Float64Array, Float64Array];
      rope(q, t, nh, hd, cfg.ropeTheta);
      rope(k, t, nkv, hd, cfg.ropeTheta);
      const attn = attention(q, kv(k), kv(v), t, nh, nkv, hd);
      const [ao] = lin(l, 'o_in', attn, o!);
      const x1 = x.map((e, i) => e + ao![i]!);
      const h2 = rmsNorm(x1, w.get(`${p}post_attention_layernorm.weight`)!, t, H, cfg.rmsNormEps);
      const [g, u] = lin(l, 'mlp_in', h2, mlp!) as [Float64Array, Float64Array];
      const a = g.map((gi, i) => (gi / (1 + Math.exp(-gi))) * u[i]!);
      const [d] = lin(l, 'down_in', a, down!);
      x = x1.map((e, i) => e + d![i]!);
    }
    const hN = rmsNorm(x, w.get('model.norm.weight')!, t, H, cfg.rmsNormEps);
    const head = w.get(cfg.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight')!;
    return matmulNT(hN, head, t, cfg.vocabSize, H);
  }
}

/** Non-overlapping windows of `ctx` tokens (the last one shorter), each predicting its tokens 1.. from its prefix. */
export function windows(tokens: readonly number[], ctx: number): number[][] {
  const out: number[][] = [];
  for (let s = 0; s < tokens.length; s += ctx) if (tokens.length - s >= 2) out.push(tokens.slice(s, s + ctx));
  return out;
}

/** Mean negative log-likelihood and perplexity over the windows. */
export function perplexity(model: FakeQuantLlama, tokens: readonly number[], ctx: number) {
  const V = model.model.cfg.vocabSize;
  let nll = 0;
  let count = 0;
  for (const win of windows(tokens, ctx)) {
    const logits = model.forward(win);
    for (let i = 0; i + 1 < win.length; i++) {
      const row = logits.subarray(i * V, (i + 1) * V);
      let mx = -Infinity;
      for (const v of row) mx = Math.max(mx, v);
      let z = 0;
      for (const v of row) z += Math.exp(v - mx);
      nll += mx + Math.log(z) - row[win[i + 1]!]!;
      count++;
    }
  }
  return { nll: nll / count, ppl: Math.exp(nll / count), tokens: count };
}

/** Mean |x| per channel at every site over the calibration windows, and the permutations they give. */
export function calibrate(model: LlamaF64, tokens: readonly number[], ctx: number): Map<string, ChannelStats> {
  const fp = new FakeQuantLlama(model, { scheme: 'fp' });
  const stats = new Map<string, ChannelStats>();
  for (const win of windows(tokens, ctx))
    fp.forward(win, (key, x, rows) => {
      let s = stats.get(key);
      if (!s) stats.set(key, (s = new ChannelStats(x.length / rows)));
      s.add(x, rows);
    });
  return stats;
}

/** SmoothQuant's factors at the smoothed sites of every layer, from calibration's max |x| per channel. */
export function smoothingOf(
  model: LlamaF64,
  stats: ReadonlyMap<string, ChannelStats>,
  alpha?: number,
): Map<string, Float64Array> {
  const out = new Map<string, Float64Array>();
  for (let l = 0; l < model.cfg.numLayers; l++)
    for (const [site, names] of siteWeights(l)) {
      if (!SMOOTHED_SITES.includes(site)) continue;
      const s = stats.get(`${l}.${site}`);
      if (!s) throw new Error(`smoothing: no calibration statistics for ${l}.${site}`);
      out.set(
        `${l}.${site}`,
        smoothingFactors(
          s.max,
          names.map((n) => model.w.get(n)!),
          alpha,
        ),
      );
    }
  return out;
}
