import { readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckpointError } from '../../src/io/errors.js';
import { encodeGgml } from '../../src/io/gguf-quantize.js';
import { writeGguf } from '../../src/io/gguf-writer.js';
import { openModel } from '../../src/models/open-model.js';
import { writeRandomLlamaCheckpoint } from '../../src/models/llama/random-checkpoint.js';
import { openSafetensors } from '../../src/io/safetensors-checkpoint.js';
import { writeSafetensors } from '../../src/io/safetensors-writer.js';
import { bf16ToNumber } from '../../src/tensor/dtype.js';
import { handMadeTokenizer } from '../io/hand-made-tokenizer.js';
import { rejection, tempFolder } from '../io/helpers.js';

let dir = '';
beforeAll(async () => {
  dir = await tempFolder();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const tinyQwen = {
  model_type: 'qwen2',
  hidden_size: 16,
  intermediate_size: 24,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  vocab_size: 270,
  tie_word_embeddings: true,
  rms_norm_eps: 1e-6,
  rope_theta: 1e6,
};

describe('openModel', () => {
  it('opens a sharded HF folder: config, checked weights, tokenizer', async () => {
    const folder = join(dir, 'qwen');
    await writeRandomLlamaCheckpoint(folder, tinyQwen, { dtype: 'bf16', seed: 3, maxShardBytes: 8000 });
    await writeFile(join(folder, 'tokenizer.json'), JSON.stringify(handMadeTokenizer()));
    expect((await readdir(folder)).filter((n) => n.endsWith('.safetensors')).length).toBeGreaterThan(1);
    const m = await openModel(folder);
    expect(m.format).toBe('safetensors');
    expect(m.config).toMatchObject({
      modelType: 'qwen2',
      numLayers: 2,
      qkvBias: true,
      tieWordEmbeddings: true,
      torchDtype: 'bfloat16',
    });
    expect(m.unusedTensors).toEqual([]);
    expect(m.tokenizer?.encode('hello', { addSpecialTokens: false })).toEqual([m.tokenizer!.tokenToId('hello')]);
    const norm = (await m.weights.read('model.layers.1.input_layernorm.weight')) as Uint16Array;
    const mean = Array.from(norm, bf16ToNumber).reduce((a, b) => a + b, 0) / norm.length;
    expect(Math.abs(mean - 1)).toBeLessThan(0.2);
    await m.weights.close();
  });

  it('names the missing tensor when weights and config disagree', async () => {
    const folder = join(dir, 'mismatch');
    await writeRandomLlamaCheckpoint(folder, tinyQwen, { dtype: 'f16', seed: 4 });
    await writeFile(join(folder, 'config.json'), JSON.stringify({ ...tinyQwen, num_hidden_layers: 3 }));
    const e = await rejection(openModel(folder));
    expect(e).toBeInstanceOf(CheckpointError);
    expect((e as CheckpointError).tensor).toBe('model.layers.2.input_layernorm.weight');
    expect(e.message).toContain(join(folder, 'model.safetensors'));
  });

  it('names the tensor whose shape disagrees with config.json', async () => {
    const folder = join(dir, 'shape');
    await writeRandomLlamaCheckpoint(folder, tinyQwen, { dtype: 'f32', seed: 5 });
    const ckpt = await openSafetensors(folder);
    const all = new Map<string, { dtype: 'f32'; shape: readonly number[]; data: Float32Array }>();
    for (const [name, info] of ckpt.tensors)
      all.set(name, { dtype: 'f32', shape: info.shape, data: (await ckpt.read(name)) as Float32Array });
    await ckpt.close();
    all.set('model.layers.0.mlp.up_proj.weight', { dtype: 'f32', shape: [16, 24], data: new Float32Array(16 * 24) });
    await writeSafetensors(join(folder, 'model.safetensors'), all);
    const e = await rejection(openModel(folder));
    expect(e.message).toMatch(
      /tensor 'model.layers.0.mlp.up_proj.weight': has shape \[16, 24\] but config.json implies \[24, 16\]/,
    );
  });

  it('opens a GGUF file, and refuses one with a tensor type it cannot read', async () => {
    const meta = {
      'general.architecture': 'llama',
      'llama.embedding_length': 32,
      'llama.block_count': 1,
      'llama.feed_forward_length': 256,
      'llama.attention.head_count': 2,
      'llama.attention.head_count_kv': 2,
      'llama.attention.layer_norm_rms_epsilon': 1e-5,
      'llama.vocab_size': 4,
    };
    const t = (name: string, type: 'F32' | 'Q8_0' | 'Q5_K', shape: number[]) => ({
      name,
      type,
      shape,
      data:
        type === 'Q5_K'
          ? new Uint8Array(((shape[0]! * shape[1]!) / 256) * 176)
          : encodeGgml(type, new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(0.5)),
    });
    const tensors = [
      t('token_embd.weight', 'Q8_0', [4, 32]),
      t('output_norm.weight', 'F32', [32]),
      t('blk.0.attn_norm.weight', 'F32', [32]),
      t('blk.0.ffn_norm.weight', 'F32', [32]),
      t('blk.0.attn_q.weight', 'Q8_0', [32, 32]),
      t('blk.0.attn_k.weight', 'Q8_0', [32, 32]),
      t('blk.0.attn_v.weight', 'Q8_0', [32, 32]),
      t('blk.0.attn_output.weight', 'Q8_0', [32, 32]),
      t('blk.0.ffn_gate.weight', 'Q8_0', [256, 32]),
      t('blk.0.ffn_up.weight', 'Q8_0', [256, 32]),
      t('blk.0.ffn_down.weight', 'Q8_0', [32, 256]),
    ];
    const good = join(dir, 'tiny.gguf');
    await writeGguf(good, { metadata: meta, tensors });
    const bare = await openModel(good);
    expect(bare.tokenizer).toBeNull(); // no vocabulary in the metadata, no tokenizer.json beside it
    await bare.weights.close();
    const hand = handMadeTokenizer();
    const vocabTokens = Object.entries(hand.model.vocab)
      .sort((a, b) => a[1] - b[1])
      .map(([t]) => t);
    await writeGguf(good, {
      metadata: {
        ...meta,
        'tokenizer.ggml.model': 'gpt2',
        'tokenizer.ggml.pre': 'gpt-2',
        'tokenizer.ggml.tokens': vocabTokens,
        'tokenizer.ggml.merges': hand.model.merges,
      },
      tensors,
    });
    const m = await openModel(good);
    expect(m.tokenizer!.encode('hello the')).toEqual([vocabTokens.indexOf('hello'), vocabTokens.indexOf('Ġthe')]);
    expect(m.format).toBe('gguf');
    expect(m.config).toMatchObject({ numLayers: 1, hiddenSize: 32, tieWordEmbeddings: true });
    expect(
      Array.from(await m.weights.read('model.layers.0.mlp.down_proj.weight')).every((v) => Math.abs(v - 0.5) < 1e-3),
    ).toBe(true); // Q8_0: 127 × f16(0.5 / 127)
    await m.weights.close();

    const bad = join(dir, 'q5.gguf');
    await writeGguf(bad, {
      metadata: meta,
      tensors: [
        ...tensors.filter((x) => x.name !== 'blk.0.ffn_up.weight'),
        t('blk.0.ffn_up.weight', 'Q5_K', [256, 256]),
      ],
    });
    const e = await rejection(openModel(bad));
    expect(e.message).toMatch(/tensor 'blk.0.ffn_up.weight': quantization type Q5_K is not supported/);
  });

  it('says what it needs when given something else', async () => {
    const file = join(dir, 'notes.txt');
    await writeFile(file, 'hi');
    expect((await rejection(openModel(file))).message).toMatch(/is neither a model folder nor a .gguf file/);
    expect((await rejection(openModel(join(dir, 'nope')))).message).toMatch(/cannot open/);
  });
});
