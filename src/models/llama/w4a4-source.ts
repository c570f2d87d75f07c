/**
 * A W4A4 (Atom) checkpoint as the Llama loader reads it. The folder is an HF one (config.json,
 * tokenizer, model.safetensors) whose projection matrices are stored in the Atom layout
 * (src/quant/w4a4-format.ts) with their columns in the calibrated channel order:
 *
 * - `<projection>.weight.w4a4`: u8 [w4a4WeightBytes(n, k)], the W4A4 bytes of W[:, perm];
 * - `model.layers.<l>.atom.<site>.perm`: i32 [k], the gather of the site's activation (`perm[j]`
 *   is the original channel at position j), one per activation site: `attn_in` (q, k, v), `o_in`
 *   (o), `mlp_in` (gate, up), `down_in` (down);
 * - every other tensor (embedding, norms, LM head) as in the source checkpoint;
 * - the safetensors metadata `tessera.quantization` (and `quantization.json` beside it): JSON
 *   naming the scheme, group, outliers and calibration.
 *
 * `W4a4AsHf` shows such a folder to the rest of the loader as a float checkpoint — each projection
 * under its own name, read as its dequantized W4 weights in the original channel order — so
 * checks, the CPU backend and `keepQuantized: false` work unchanged, while `w4a4Plan` tells the
 * WebGPU path to upload the bytes as stored and run `atom_quantize` + `atom_matmul`.
 */
import type { HostArray } from '../../tensor/dtype.js';
import type { TensorInfo, TensorSource } from '../../io/tensor-source.js';
import { dequantizeW4a4Weights, w4a4WeightBytes, whyW4a4ShapeInvalid } from '../../quant/w4a4-format.js';
import type { LlamaConfig } from './llama-config.js';

export const W4A4_SUFFIX = '.w4a4';
export const ATOM_SITES = ['attn_in', 'o_in', 'mlp_in', 'down_in'] as const;
export type AtomSite = (typeof ATOM_SITES)[number];

export const permTensorName = (layer: number, site: AtomSite): string => `model.layers.${layer}.atom.${site}.perm`;

/** The projections each site's quantized activation feeds, by checkpoint name. */
export function siteProjections(layer: number, site: AtomSite): string[] {
  const p = `model.layers.${layer}.`;
  switch (site) {
    case 'attn_in':
      return ['q', 'k', 'v'].map((s) => `${p}self_attn.${s}_proj.weight`);
    case 'o_in':
      return [`${p}self_attn.o_proj.weight`];
    case 'mlp_in':
      return [`${p}mlp.gate_proj.weight`, `${p}mlp.up_proj.weight`];
    case 'down_in':
      return [`${p}mlp.down_proj.weight`];
  }
}

/** Input width of a site's projections. */
export function siteWidth(cfg: LlamaConfig, site: AtomSite): number {
  return site === 'o_in' ? cfg.numHeads * cfg.headDim : site === 'down_in' ? cfg.intermediateSize : cfg.hiddenSize;
}

/** Output width of one projection. */
function projectionRows(cfg: LlamaConfig, name: string): number {
  if (/q_proj/.test(name)) return cfg.numHeads * cfg.headDim;
  if (/[kv]_proj/.test(name)) return cfg.numKvHeads * cfg.headDim;
  if (/o_proj|down_proj/.test(name)) return cfg.hiddenSize;
  return cfg.intermediateSize;
}

/** Why a model cannot be W4A4 (a site's width is not whole groups of 128 with the INT8 group), or null. */
export function whyNotW4a4(cfg: LlamaConfig): string | null {
  if (cfg.qkvBias || cfg.oBias) return 'projection biases are not supported by the W4A4 path';
  for (const site of ATOM_SITES) {
    const why = whyW4a4ShapeInvalid(1, siteWidth(cfg, site));
    if (why) return `site ${site}: ${why}`;
  }
  return null;
}

export interface W4a4Projection {
  readonly layer: number;
  readonly site: AtomSite;
  readonly n: number;
  readonly k: number;
}

/** Every projection of a W4A4 checkpoint, by checkpoint name. */
export function w4a4Projections(cfg: LlamaConfig): Map<string, W4a4Projection> {
  const out = new Map<string, W4a4Projection>();
  for (let layer = 0; layer < cfg.numLayers; layer++)
    for (const site of ATOM_SITES)
      for (const name of siteProjections(layer, site))
        out.set(name, { layer, site, n: projectionRows(cfg, name), k: siteWidth(cfg, site) });
  return out;
}

export const isW4a4Checkpoint = (tensors: ReadonlyMap<string, TensorInfo>): boolean =>
  tensors.has(`model.layers.0.self_attn.q_proj.weight${W4A4_SUFFIX}`);

export function hasW4a4(s: TensorSource): s is W4a4AsHf {
  return s instanceof W4a4AsHf;
}

export class W4a4AsHf implements TensorSource {
  readonly tensors: ReadonlyMap<string, TensorInfo>;
  readonly projections: ReadonlyMap<string, W4a4Projection>;

  constructor(
    private readonly inner: TensorSource,
    readonly config: LlamaConfig,
  ) {
    this.projections = w4a4Projections(config);
    const tensors = new Map<string, TensorInfo>();
    for (const [name, info] of inner.tensors)
      if (!name.endsWith(W4A4_SUFFIX) && !/\.atom\./.test(name)) tensors.set(name, info);
    for (const [name, p] of this.projections) {
      const stored = inner.tensors.get(name + W4A4_SUFFIX);
      if (!stored) throw new Error(`W4A4 checkpoint: no ${name}${W4A4_SUFFIX}`);
      if (stored.byteLength !== w4a4WeightBytes(p.n, p.k))
        throw new Error(
          `W4A4 checkpoint: ${name}${W4A4_SUFFIX} has ${stored.byteLength} bytes, [${p.n}, ${p.k}] needs ${w4a4WeightBytes(p.n, p.k)}`,
        );
      tensors.set(name, { dtype: 'f32', shape: [p.n, p.k], byteLength: p.n * p.k * 4, file: stored.file });
    }
    this.tensors = tensors;
  }

  /** The projection's W4A4 bytes as stored (columns in its site's calibrated order). */
  async w4a4Bytes(name: string): Promise<Uint8Array> {
    const data = await this.inner.read(name + W4A4_SUFFIX);
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  }

  async perm(layer: number, site: AtomSite): Promise<Int32Array> {
    const data = await this.inner.read(permTensorName(layer, site));
    return new Int32Array(data.buffer, data.byteOffset, data.byteLength / 4);
  }

  async read(name: string): Promise<HostArray> {
    const p = this.projections.get(name);
    if (!p) return this.inner.read(name);
    // the stored weight dequantized, its columns back in checkpoint order: W[:, perm[j]] = Wp[:, j]
    const wp = dequantizeW4a4Weights(await this.w4a4Bytes(name), p.n, p.k);
    const perm = await this.perm(p.layer, p.site);
    const out = new Float32Array(p.n * p.k);
    for (let r = 0; r < p.n; r++) for (let j = 0; j < p.k; j++) out[r * p.k + perm[j]!] = wp[r * p.k + j]!;
    return out;
  }

  async readInto(name: string, target: Uint8Array): Promise<number> {
    if (!this.projections.has(name)) return this.inner.readInto(name, target);
    const data = await this.read(name);
    target.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    return data.byteLength;
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
