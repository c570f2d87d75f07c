import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckpointError, UnsupportedModelError } from '../../../src/io/errors.js';
import { GgufFile } from '../../../src/io/gguf-file.js';
import { GgufAsHf, ggufNameToHf, ggufToLlamaConfig } from '../../../src/models/llama/gguf-llama.js';
import { encodeGgml } from '../../../src/io/gguf-quantize.js';
import { writeGguf, type GgufTensorToWrite, type GgufValueInput } from '../../../src/io/gguf-writer.js';
import { checkLlamaTensors, llamaTensorShapes } from '../../../src/models/llama/llama-tensors.js';
import { parseLlamaConfig } from '../../../src/models/llama/llama-config.js';
import { Rng } from '../../../src/util/rng.js';
import { rejection, tempFolder } from '../../io/helpers.js';

let dir = '';
beforeAll(async () => {
  dir = await tempFolder();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const HF_TO_GGUF: Record<string, string> = {
  'model.embed_tokens.weight': 'token_embd.weight',
  'model.norm.weight': 'output_norm.weight',
  'lm_head.weight': 'output.weight',
  input_layernorm: 'attn_norm',
  'self_attn.q_proj': 'attn_q',
  'self_attn.k_proj': 'attn_k',
  'self_attn.v_proj': 'attn_v',
  'self_attn.o_proj': 'attn_output',
  post_attention_layernorm: 'ffn_norm',
  'mlp.gate_proj': 'ffn_gate',
  'mlp.up_proj': 'ffn_up',
  'mlp.down_proj': 'ffn_down',
};
const toGgufName = (hf: string) =>
  HF_TO_GGUF[hf] ??
  hf.replace(
    /^model\.layers\.(\d+)\.(.+)\.(weight|bias)$/,
    (_, i, part, kind) => `blk.${i}.${HF_TO_GGUF[part]}.${kind}`,
  );

/**
 * llama.cpp's converter for the llama architecture: rows viewed as (heads, 2, headDim/2, cols),
 * the middle axes swapped — so each head's rotary pairs become adjacent rows.
 */
function converterPermute(x: Float32Array, heads: number, cols: number): Float32Array {
  const rows = x.length / cols;
  const half = rows / heads / 2;
  const out = new Float32Array(x.length);
  let dst = 0;
  for (let h = 0; h < heads; h++)
    for (let i = 0; i < half; i++)
      for (let t = 0; t < 2; t++) {
        const src = ((h * 2 + t) * half + i) * cols;
        out.set(x.subarray(src, src + cols), dst);
        dst += cols;
      }
  return out;
}

const meta = (arch: string, extra: Record<string, GgufValueInput> = {}): Record<string, GgufValueInput> => ({
  'general.architecture': arch,
  [`${arch}.embedding_length`]: 8,
  [`${arch}.block_count`]: 1,
  [`${arch}.feed_forward_length`]: 12,
  [`${arch}.attention.head_count`]: 2,
  [`${arch}.attention.head_count_kv`]: 1,
  [`${arch}.attention.layer_norm_rms_epsilon`]: 1e-5,
  [`${arch}.rope.freq_base`]: 500000,
  [`${arch}.context_length`]: 128,
  [`${arch}.rope.dimension_count`]: 4,
  'tokenizer.ggml.tokens': ['a', 'b', 'c', 'd', 'e', 'f'],
  'tokenizer.ggml.bos_token_id': 0,
  'tokenizer.ggml.eos_token_id': 1,
  ...extra,
});

async function tinyGguf(arch: 'llama' | 'qwen2', name: string, options: { tied?: boolean; ropeFreqs?: boolean } = {}) {
  const config = parseLlamaConfig(
    {
      model_type: arch,
      hidden_size: 8,
      intermediate_size: 12,
      num_hidden_layers: 1,
      num_attention_heads: 2,
      num_key_value_heads: 1,
      vocab_size: 6,
      tie_word_embeddings: options.tied ?? false,
    },
    'tiny',
  );
  const rng = new Rng(11);
  const hf = new Map<string, Float32Array>();
  const tensors: GgufTensorToWrite[] = [];
  for (const [hfName, shape] of llamaTensorShapes(config)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const values = Float32Array.from(rng.normals(n));
    hf.set(hfName, values);
    let stored: Float32Array = values;
    if (arch === 'llama' && /q_proj|k_proj/.test(hfName))
      stored = converterPermute(values, hfName.includes('q_proj') ? 2 : 1, shape[1] ?? 1);
    tensors.push({ name: toGgufName(hfName), type: 'F32', shape: [...shape], data: encodeGgml('F32', stored) });
  }
  if (options.ropeFreqs)
    tensors.push({ name: 'rope_freqs.weight', type: 'F32', shape: [2], data: encodeGgml('F32', [1, 8]) });
  const path = join(dir, name);
  await writeGguf(path, { metadata: meta(arch), tensors });
  return { path, hf };
}

describe('GGUF Llama-family models as HF checkpoints', () => {
  it('maps GGUF tensor names to HF names', () => {
    expect(ggufNameToHf('blk.12.attn_output.weight')).toBe('model.layers.12.self_attn.o_proj.weight');
    expect(ggufNameToHf('blk.0.attn_q.bias')).toBe('model.layers.0.self_attn.q_proj.bias');
    expect(ggufNameToHf('output.weight')).toBe('lm_head.weight');
    expect(ggufNameToHf('rope_freqs.weight')).toBe('rope_freqs.weight');
    expect(ggufNameToHf('blk.0.ffn_gate_exps.weight')).toBe('blk.0.ffn_gate_exps.weight');
  });

  it('llama: config from metadata, Q/K rows restored to HF order, every tensor equal to the HF original', async () => {
    const { path, hf } = await tinyGguf('llama', 'llama.gguf', { tied: true });
    const g = await GgufFile.open(path);
    const config = ggufToLlamaConfig(g);
    expect(config).toMatchObject({
      modelType: 'llama',
      hiddenSize: 8,
      intermediateSize: 12,
      numLayers: 1,
      numHeads: 2,
      numKvHeads: 1,
      headDim: 4,
      vocabSize: 6,
      maxPositionEmbeddings: 128,
      ropeTheta: 500000,
      tieWordEmbeddings: true,
      qkvBias: false,
      bosTokenId: 0,
      eosTokenIds: [1],
      ropeScaling: null,
    });
    expect(config.rmsNormEps).toBeCloseTo(1e-5, 10);
    const view = new GgufAsHf(g, config);
    expect(checkLlamaTensors(config, view.tensors, path)).toEqual([]);
    for (const [name, values] of hf) expect(await view.read(name), name).toEqual(values);
    await view.close();
  });

  it('qwen2: biases present, no row permutation', async () => {
    const { path, hf } = await tinyGguf('qwen2', 'qwen2.gguf');
    const g = await GgufFile.open(path);
    const config = ggufToLlamaConfig(g);
    expect(config).toMatchObject({ modelType: 'qwen2', qkvBias: true, tieWordEmbeddings: false });
    const view = new GgufAsHf(g, config);
    checkLlamaTensors(config, view.tensors, path);
    for (const [name, values] of hf) expect(await view.read(name), name).toEqual(values);
    await view.close();
  });

  it('Llama 3.1-style files: RoPE factors precomputed in rope_freqs.weight', async () => {
    const { path } = await tinyGguf('llama', 'rope.gguf', { ropeFreqs: true });
    const g = await GgufFile.open(path);
    expect(ggufToLlamaConfig(g).ropeScaling).toEqual({ type: 'freq-factors', tensor: 'rope_freqs.weight' });
    expect(Array.from(await new GgufAsHf(g, ggufToLlamaConfig(g)).read('rope_freqs.weight'))).toEqual([1, 8]);
    await g.close();
  });

  it('refuses other architectures and incomplete metadata, naming the file', async () => {
    const phi = join(dir, 'phi.gguf');
    await writeGguf(phi, { metadata: { 'general.architecture': 'phi3' }, tensors: [] });
    const g = await GgufFile.open(phi);
    expect(() => ggufToLlamaConfig(g)).toThrow(UnsupportedModelError);
    expect(() => ggufToLlamaConfig(g)).toThrow(
      /'.*phi.gguf': GGUF architecture 'phi3' is not supported\n  → supported: GGUF architectures 'llama', 'qwen2'/,
    );
    await g.close();
    const partial = join(dir, 'partial.gguf');
    const m = meta('llama');
    delete m['llama.block_count'];
    await writeGguf(partial, { metadata: m, tensors: [] });
    const p = await GgufFile.open(partial);
    expect(() => ggufToLlamaConfig(p)).toThrow(CheckpointError);
    expect(() => ggufToLlamaConfig(p)).toThrow(/is missing metadata 'llama.block_count'/);
    await p.close();
    const typo = join(dir, 'typo.gguf');
    await writeGguf(typo, { metadata: meta('llama', { 'llama.block_count': 'two' }), tensors: [] });
    const t = await GgufFile.open(typo);
    expect(() => ggufToLlamaConfig(t)).toThrow(/metadata 'llama.block_count' is string, not a number/);
    await t.close();
  });

  it('a missing tensor in a GGUF model is named by its HF name', async () => {
    const { path } = await tinyGguf('llama', 'llama2.gguf', { tied: true });
    const g = await GgufFile.open(path);
    const config = { ...ggufToLlamaConfig(g), numLayers: 2 };
    const e = (() => {
      try {
        checkLlamaTensors(config, new GgufAsHf(g, config).tensors, path);
      } catch (err) {
        return err as CheckpointError;
      }
      throw new Error('accepted');
    })();
    expect(e.tensor).toBe('model.layers.1.input_layernorm.weight');
    expect((await rejection(new GgufAsHf(g, config).read('model.layers.1.input_layernorm.weight'))).message).toMatch(
      /no such tensor/,
    );
    await g.close();
  });
});
