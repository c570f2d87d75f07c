/**
 * GGUF Llama-family models seen as HF checkpoints: `llama.*` / `qwen2.*` metadata becomes an HF
 * `config.json`-shaped object (validated by parseLlamaConfig), and tensors are renamed
 * (`blk.3.attn_q.weight` → `model.layers.3.self_attn.q_proj.weight`).
 *
 * llama.cpp's converter permutes the rows of Q and K for the `llama` architecture so that each
 * head's rotary pairs are adjacent (ggml's "normal" RoPE) where HF pairs dimension i with
 * i + headDim/2: the HF view undoes that permutation, so model code uses one RoPE for both
 * formats. `qwen2` GGUFs are converted without it (llama.cpp uses NeoX RoPE there).
 */
import type { HostArray } from '../../tensor/dtype.js';
import { CheckpointError, UnsupportedModelError } from '../../io/errors.js';
import type { GgufFile } from '../../io/gguf-file.js';
import type { GgufValue } from '../../io/gguf-header.js';
import { parseLlamaConfig, type LlamaConfig } from './llama-config.js';
import type { TensorInfo, TensorSource } from '../../io/tensor-source.js';
import { formatOfGgmlType } from '../../quant/codec.js';
import { type QuantFormat, rowBytes, whyShapeInvalid } from '../../quant/formats.js';

export const SUPPORTED_GGUF_ARCHS = ['llama', 'qwen2'] as const;

const GLOBAL_NAMES: Readonly<Record<string, string>> = {
  'token_embd.weight': 'model.embed_tokens.weight',
  'output_norm.weight': 'model.norm.weight',
  'output.weight': 'lm_head.weight',
};

const LAYER_NAMES: Readonly<Record<string, string>> = {
  attn_norm: 'input_layernorm',
  attn_q: 'self_attn.q_proj',
  attn_k: 'self_attn.k_proj',
  attn_v: 'self_attn.v_proj',
  attn_output: 'self_attn.o_proj',
  ffn_norm: 'post_attention_layernorm',
  ffn_gate: 'mlp.gate_proj',
  ffn_up: 'mlp.up_proj',
  ffn_down: 'mlp.down_proj',
};

/** The HF name of a GGUF tensor name; names with no HF counterpart (e.g. rope_freqs.weight) map to themselves. */
export function ggufNameToHf(name: string): string {
  const global = GLOBAL_NAMES[name];
  if (global !== undefined) return global;
  const m = /^blk\.(\d+)\.([a-z_]+)\.(weight|bias)$/.exec(name);
  const part = m ? LAYER_NAMES[m[2]!] : undefined;
  return m && part ? `model.layers.${m[1]}.${part}.${m[3]}` : name;
}

const HF_GLOBAL_NAMES = new Map(Object.entries(GLOBAL_NAMES).map(([g, hf]) => [hf, g]));
const HF_LAYER_NAMES = new Map(Object.entries(LAYER_NAMES).map(([g, hf]) => [hf, g]));

/** The GGUF name of an HF Llama tensor name (the inverse of ggufNameToHf); undefined when GGUF has no name for it. */
export function hfNameToGguf(name: string): string | undefined {
  const global = HF_GLOBAL_NAMES.get(name);
  if (global !== undefined) return global;
  const m = /^model\.layers\.(\d+)\.([a-z_.]+)\.(weight|bias)$/.exec(name);
  const part = m ? HF_LAYER_NAMES.get(m[2]!) : undefined;
  return m && part ? `blk.${m[1]}.${part}.${m[3]}` : undefined;
}

/**
 * An HF-style config.json object from GGUF metadata (and tensor names: tied embeddings, biases
 * and precomputed RoPE factors show up only as the presence or absence of tensors).
 */
export function ggufToHfConfig(
  file: string,
  metadata: ReadonlyMap<string, GgufValue>,
  tensorNames: Iterable<string>,
): Record<string, unknown> {
  const arch = metadata.get('general.architecture');
  if (typeof arch !== 'string')
    throw new CheckpointError(file, "has no 'general.architecture' metadata string", {
      hint: 'this GGUF file is not a model',
    });
  if (!(SUPPORTED_GGUF_ARCHS as readonly string[]).includes(arch)) {
    throw new UnsupportedModelError(
      file,
      `GGUF architecture '${arch}' is not supported`,
      `GGUF architectures ${SUPPORTED_GGUF_ARCHS.map((a) => `'${a}'`).join(', ')} (Mistral GGUFs use 'llama')`,
    );
  }
  const names = new Set(tensorNames);
  const num = (key: string, required: boolean): number | undefined => {
    const v = metadata.get(`${arch}.${key}`);
    if (v === undefined) {
      if (required)
        throw new CheckpointError(file, `is missing metadata '${arch}.${key}'`, {
          hint: 'the GGUF file is incomplete or from an unusual converter',
        });
      return undefined;
    }
    if (typeof v !== 'number')
      throw new CheckpointError(
        file,
        `metadata '${arch}.${key}' is ${Array.isArray(v) ? 'an array' : typeof v}, not a number`,
      );
    return v;
  };
  const tokens = metadata.get('tokenizer.ggml.tokens');
  const heads = num('attention.head_count', true)!;
  const ropeDims = num('rope.dimension_count', false);
  const keyLength = num('attention.key_length', false) ?? ropeDims;
  const embd = num('embedding_length', true)!;
  const scalingType = metadata.get(`${arch}.rope.scaling.type`);

  let ropeScaling: Record<string, unknown> | null = null;
  if (names.has('rope_freqs.weight'))
    ropeScaling = null; // carried by the tensor: see ggufToLlamaConfig
  else if (scalingType === 'linear') ropeScaling = { rope_type: 'linear', factor: num('rope.scaling.factor', true) };
  else if (typeof scalingType === 'string' && scalingType !== 'none') ropeScaling = { rope_type: scalingType };

  const bos = metadata.get('tokenizer.ggml.bos_token_id');
  const eos = metadata.get('tokenizer.ggml.eos_token_id');
  return {
    model_type: arch,
    hidden_size: embd,
    intermediate_size: num('feed_forward_length', true),
    num_hidden_layers: num('block_count', true),
    num_attention_heads: heads,
    num_key_value_heads: num('attention.head_count_kv', false) ?? heads,
    ...(keyLength !== undefined && keyLength !== embd / heads ? { head_dim: keyLength } : {}),
    vocab_size: num('vocab_size', false) ?? (Array.isArray(tokens) ? tokens.length : undefined),
    max_position_embeddings: num('context_length', false),
    rms_norm_eps: num('attention.layer_norm_rms_epsilon', true),
    rope_theta: num('rope.freq_base', false) ?? 10000,
    rope_scaling: ropeScaling,
    tie_word_embeddings: !names.has('output.weight'),
    ...(arch === 'llama' ? { attention_bias: names.has('blk.0.attn_q.bias') } : {}),
    hidden_act: 'silu',
    bos_token_id: typeof bos === 'number' ? bos : null,
    eos_token_id: typeof eos === 'number' ? eos : null,
  };
}

/** The validated LlamaConfig of a GGUF file. */
export function ggufToLlamaConfig(gguf: GgufFile): LlamaConfig {
  const names = [...gguf.tensors.keys(), ...gguf.unsupported.keys()];
  const config = parseLlamaConfig(ggufToHfConfig(gguf.path, gguf.metadata, names), gguf.path);
  return names.includes('rope_freqs.weight')
    ? { ...config, ropeScaling: { type: 'freq-factors', tensor: 'rope_freqs.weight' } }
    : config;
}

/**
 * Undoes llama.cpp's Q/K row permutation: within each head, GGUF row 2i + t holds HF row
 * t·(headDim/2) + i. Works on weights ([rows, cols]) and biases ([rows]).
 */
export function unpermuteRotaryRows(data: HostArray, heads: number, rowLength: number): HostArray {
  return moveRotaryRows(data, heads, rowLength, 'to-hf');
}

/**
 * llama.cpp's Q/K row permutation, the exact inverse of unpermuteRotaryRows: HF row
 * t·(headDim/2) + i of each head goes to GGUF row 2i + t (what its HF → GGUF converter does).
 */
export function permuteRotaryRows(data: HostArray, heads: number, rowLength: number): HostArray {
  return moveRotaryRows(data, heads, rowLength, 'to-gguf');
}

/** Each head's rows between GGUF order (row 2i + t) and HF order (row t·(headDim/2) + i). */
function moveRotaryRows(data: HostArray, heads: number, rowLength: number, to: 'to-hf' | 'to-gguf'): HostArray {
  const rows = data.length / rowLength;
  const headDim = rows / heads;
  const half = headDim / 2;
  const out = new (data.constructor as new (n: number) => HostArray)(data.length);
  for (let h = 0; h < heads; h++) {
    for (let t = 0; t < 2; t++) {
      for (let i = 0; i < half; i++) {
        const gguf = (h * headDim + 2 * i + t) * rowLength;
        const hf = (h * headDim + t * half + i) * rowLength;
        const from = to === 'to-hf' ? gguf : hf;
        out.set(data.subarray(from, from + rowLength), to === 'to-hf' ? hf : gguf);
      }
    }
  }
  return out;
}

/**
 * A GGUF file as an HF-named tensor source, Q/K rows in HF order.
 *
 * @example
 * const g = await GgufFile.open('model.gguf');
 * const config = ggufToLlamaConfig(g);
 * const hf = new GgufAsHf(g, config);
 * await hf.read('model.layers.0.self_attn.q_proj.weight');
 */
export class GgufAsHf implements TensorSource {
  readonly tensors: ReadonlyMap<string, TensorInfo>;
  private readonly ggufName = new Map<string, string>();
  private readonly permuteHeads = new Map<string, number>();

  constructor(
    private readonly gguf: GgufFile,
    config: LlamaConfig,
  ) {
    const tensors = new Map<string, TensorInfo>();
    const permute = gguf.metadata.get('general.architecture') === 'llama';
    for (const [name, info] of gguf.tensors) {
      const hf = ggufNameToHf(name);
      tensors.set(hf, info);
      this.ggufName.set(hf, name);
      if (permute && /\.attn_q\./.test(name)) this.permuteHeads.set(hf, config.numHeads);
      if (permute && /\.attn_k\./.test(name)) this.permuteHeads.set(hf, config.numKvHeads);
    }
    this.tensors = tensors;
  }

  private source(name: string): string {
    const g = this.ggufName.get(name);
    if (g !== undefined) return g;
    const unsupported = [...this.gguf.unsupported.keys()].find((n) => ggufNameToHf(n) === name);
    if (unsupported !== undefined) return unsupported; // GgufFile.info() explains the type
    throw new CheckpointError(this.gguf.path, 'no such tensor (HF name) in this GGUF file', { tensor: name });
  }

  async read(name: string): Promise<HostArray> {
    const data = await this.gguf.read(this.source(name));
    const heads = this.permuteHeads.get(name);
    if (heads === undefined) return data;
    const info = this.tensors.get(name)!;
    return unpermuteRotaryRows(data, heads, info.shape.length === 2 ? info.shape[1]! : 1);
  }

  /**
   * The quantized format a matrix is stored in, where the kernels can multiply by it as stored
   * (Q8_0, Q4_0, Q4_K, Q6_K with K whole blocks); null for float tensors and other types.
   */
  storedQuantFormat(name: string): QuantFormat | null {
    const g = this.ggufName.get(name);
    if (g === undefined) return null;
    const info = this.gguf.info(g);
    const format = formatOfGgmlType(info.ggmlType);
    if (format === null || info.shape.length !== 2) return null;
    return whyShapeInvalid(format, info.shape[0]!, info.shape[1]!) === null ? format : null;
  }

  /**
   * A quantized matrix's stored bytes, rows in HF order: a block never spans two rows, so
   * llama.cpp's Q/K row permutation is undone on whole rows of blocks, bit for bit.
   */
  async readStored(name: string): Promise<Uint8Array> {
    const format = this.storedQuantFormat(name);
    if (format === null) throw new CheckpointError(this.gguf.path, 'is not a quantized matrix', { tensor: name });
    const raw = await this.gguf.readRaw(this.source(name));
    const heads = this.permuteHeads.get(name);
    if (heads === undefined) return raw;
    return unpermuteRotaryRows(raw, heads, rowBytes(format, this.tensors.get(name)!.shape[1]!)) as Uint8Array;
  }

  async readInto(name: string, target: Uint8Array): Promise<number> {
    const data = await this.read(name);
    if (target.byteLength < data.byteLength)
      throw new RangeError(
        `readInto('${name}'): target holds ${target.byteLength} bytes, the tensor has ${data.byteLength}`,
      );
    target.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    return data.byteLength;
  }

  close(): Promise<void> {
    return this.gguf.close();
  }
}
