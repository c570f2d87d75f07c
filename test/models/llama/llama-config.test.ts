import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckpointError, UnsupportedModelError } from '../../../src/io/errors.js';
import { parseLlamaConfig, readLlamaConfig, type LlamaConfig } from '../../../src/models/llama/llama-config.js';
import { checkLlamaTensors, llamaTensorShapes } from '../../../src/models/llama/llama-tensors.js';
import type { TensorInfo } from '../../../src/io/tensor-source.js';
import { rejection, tempFolder } from '../../io/helpers.js';

const fixtures = new URL('../../fixtures/io/configs/', import.meta.url).pathname;
const load = async (name: string) =>
  JSON.parse(await readFile(join(fixtures, `${name}.json`), 'utf8')) as Record<string, unknown>;

let dir = '';
beforeAll(async () => {
  dir = await tempFolder();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('HF config.json for the Llama family', () => {
  it('Llama 2 7B: MHA, no RoPE scaling, defaults filled', async () => {
    const c = await readLlamaConfig(join(fixtures, 'llama-2-7b.json'));
    expect(c).toMatchObject({
      modelType: 'llama',
      hiddenSize: 4096,
      numHeads: 32,
      numKvHeads: 32,
      headDim: 128,
      ropeTheta: 10000,
      ropeScaling: null,
      tieWordEmbeddings: false,
      qkvBias: false,
      oBias: false,
      bosTokenId: 1,
      eosTokenIds: [2],
      torchDtype: 'float16',
    });
  });

  it('Llama 3.1 8B: GQA, llama3 RoPE scaling, several EOS ids', async () => {
    const c = parseLlamaConfig(await load('llama-3.1-8b-instruct'), 'cfg');
    expect(c.numKvHeads).toBe(8);
    expect(c.ropeTheta).toBe(500000);
    expect(c.ropeScaling).toEqual({
      type: 'llama3',
      factor: 8,
      lowFreqFactor: 1,
      highFreqFactor: 4,
      originalMaxPositionEmbeddings: 8192,
    });
    expect(c.eosTokenIds).toEqual([128001, 128008, 128009]);
  });

  it('Llama 3.2 1B: explicit head_dim and tied embeddings', async () => {
    const c = parseLlamaConfig(await load('llama-3.2-1b'), 'cfg');
    expect(c).toMatchObject({ headDim: 64, hiddenSize: 2048, tieWordEmbeddings: true });
    expect(llamaTensorShapes(c).has('lm_head.weight')).toBe(false);
  });

  it('Mistral 7B v0.1 keeps its sliding window; Qwen2.5 gets QKV bias and ignores its unused window', async () => {
    const m = parseLlamaConfig(await load('mistral-7b-v0.1'), 'cfg');
    expect(m).toMatchObject({ modelType: 'mistral', slidingWindow: 4096, qkvBias: false });
    const q = parseLlamaConfig(await load('qwen2.5-0.5b-instruct'), 'cfg');
    expect(q).toMatchObject({
      modelType: 'qwen2',
      headDim: 64,
      numKvHeads: 2,
      qkvBias: true,
      oBias: false,
      slidingWindow: null,
      tieWordEmbeddings: true,
      rmsNormEps: 1e-6,
    });
    const shapes = llamaTensorShapes(q);
    expect(shapes.get('model.layers.0.self_attn.k_proj.bias')).toEqual([128]);
    expect(shapes.has('model.layers.0.self_attn.o_proj.bias')).toBe(false);
  });

  it('transformers 5 configs: theta and llama3 scaling under rope_parameters', async () => {
    const c = await load('llama-3.1-8b-instruct');
    const scaling = c.rope_scaling as Record<string, unknown>;
    delete c.rope_scaling;
    delete c.rope_theta;
    c.rope_parameters = { ...scaling, rope_theta: 500000 };
    const p = parseLlamaConfig(c, 'cfg');
    expect(p.ropeTheta).toBe(500000);
    expect(p.ropeScaling).toEqual({
      type: 'llama3',
      factor: 8,
      lowFreqFactor: 1,
      highFreqFactor: 4,
      originalMaxPositionEmbeddings: 8192,
    });
    const builtin = await readLlamaConfig(new URL('../../../models/builtin/config.json', import.meta.url).pathname);
    expect(builtin).toMatchObject({ ropeTheta: 10000, ropeScaling: null, numKvHeads: 4, tieWordEmbeddings: true });
  });

  it('reads config.json from a model folder', async () => {
    await writeFile(join(dir, 'config.json'), JSON.stringify(await load('llama-2-7b')));
    expect((await readLlamaConfig(dir)).numLayers).toBe(32);
  });

  const base = async () => load('llama-3.1-8b-instruct');
  const unsupported: [string, (c: Record<string, unknown>) => void, RegExp][] = [
    [
      'an unknown model_type',
      (c) => (c.model_type = 'gemma2'),
      /model_type 'gemma2' is not supported\n  → supported: model_type 'llama', 'mistral', 'qwen2'/,
    ],
    [
      'YaRN RoPE',
      (c) => (c.rope_scaling = { rope_type: 'yarn', factor: 4 }),
      /rope_scaling type 'yarn' is not supported\n  → supported: rope_scaling none\/'default', 'linear', 'llama3'/,
    ],
    [
      'dynamic RoPE (old "type" key)',
      (c) => (c.rope_scaling = { type: 'dynamic', factor: 2 }),
      /rope_scaling type 'dynamic' is not supported/,
    ],
    [
      'a GELU MLP',
      (c) => (c.hidden_act = 'gelu'),
      /hidden_act 'gelu' is not supported\n  → supported: hidden_act 'silu'/,
    ],
    [
      'Qwen2 sliding-window layers',
      (c) => Object.assign(c, { model_type: 'qwen2', use_sliding_window: true }),
      /use_sliding_window: true/,
    ],
  ];
  for (const [label, edit, message] of unsupported) {
    it(`refuses ${label}, listing what is supported`, async () => {
      const c = await base();
      edit(c);
      const e = (() => {
        try {
          parseLlamaConfig(c, 'models/x/config.json');
        } catch (err) {
          return err as Error;
        }
        throw new Error('accepted');
      })();
      expect(e).toBeInstanceOf(UnsupportedModelError);
      expect(e.message).toMatch(message);
      expect(e.message).toContain('models/x/config.json');
    });
  }

  const invalid: [string, (c: Record<string, unknown>) => void, RegExp][] = [
    ['a missing hidden_size', (c) => delete c.hidden_size, /hidden_size: Invalid input/],
    ['a string layer count', (c) => (c.num_hidden_layers = '32'), /num_hidden_layers/],
    [
      'heads not a multiple of KV heads',
      (c) => (c.num_key_value_heads = 5),
      /num_attention_heads 32 is not a multiple of num_key_value_heads 5/,
    ],
    ['an odd head dimension', (c) => (c.head_dim = 7), /head dimension 7/],
    [
      'an incomplete llama3 rope_scaling',
      (c) => (c.rope_scaling = { rope_type: 'llama3', factor: 8 }),
      /rope_scaling 'llama3' is incomplete \(low_freq_factor/,
    ],
    ['a missing model_type', (c) => delete c.model_type, /model_type/],
  ];
  for (const [label, edit, message] of invalid) {
    it(`rejects ${label} with the file named`, async () => {
      const c = await base();
      edit(c);
      expect(() => parseLlamaConfig(c, 'models/x/config.json')).toThrow(CheckpointError);
      expect(() => parseLlamaConfig(c, 'models/x/config.json')).toThrow(message);
    });
  }

  it('reports unreadable and non-JSON config files by path', async () => {
    await writeFile(join(dir, 'broken.json'), '{"model_type": "llama",');
    expect((await rejection(readLlamaConfig(join(dir, 'broken.json')))).message).toMatch(
      /broken.json': is not valid JSON/,
    );
    expect((await rejection(readLlamaConfig(join(dir, 'absent')))).message).toMatch(/absent': cannot read/);
  });
});

describe('checkpoint tensors against the config', () => {
  const tiny: LlamaConfig = parseLlamaConfig(
    {
      model_type: 'qwen2',
      hidden_size: 8,
      intermediate_size: 12,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      vocab_size: 10,
    },
    'tiny',
  );
  const full = () => {
    const m = new Map<string, TensorInfo>();
    for (const [name, shape] of llamaTensorShapes(tiny))
      m.set(name, { dtype: 'bf16', shape, byteLength: 0, file: `shard-of-${name}` });
    return m;
  };

  it('accepts a complete checkpoint and reports unused extras', () => {
    const t = full();
    t.set('model.layers.0.self_attn.rotary_emb.inv_freq', { dtype: 'f32', shape: [1], byteLength: 4, file: 'x' });
    expect(checkLlamaTensors(tiny, t, 'ckpt')).toEqual(['model.layers.0.self_attn.rotary_emb.inv_freq']);
    expect(llamaTensorShapes(tiny).size).toBe(3 + 2 * 12); // embed, norm, lm_head; per layer 2 norms, 7 projections, 3 QKV biases
  });

  it('names a missing tensor', () => {
    const t = full();
    t.delete('model.layers.1.self_attn.v_proj.bias');
    const e = (() => {
      try {
        checkLlamaTensors(tiny, t, 'ckpt/model.safetensors.index.json');
      } catch (err) {
        return err as CheckpointError;
      }
      throw new Error('accepted');
    })();
    expect(e.tensor).toBe('model.layers.1.self_attn.v_proj.bias');
    expect(e.message).toMatch(/missing: config.json \(qwen2, 2 layers\) needs it with shape \[4\]/);
  });

  it('names a tensor whose shape disagrees with the config, and the file holding it', () => {
    const t = full();
    t.set('model.layers.0.mlp.down_proj.weight', {
      dtype: 'bf16',
      shape: [12, 8],
      byteLength: 0,
      file: 'model-00002.safetensors',
    });
    expect(() => checkLlamaTensors(tiny, t, 'ckpt')).toThrow(
      /'model-00002.safetensors', tensor 'model.layers.0.mlp.down_proj.weight': has shape \[12, 8\] but config.json implies \[8, 12\]/,
    );
  });

  it('refuses integer weights', () => {
    const t = full();
    t.set('model.norm.weight', { dtype: 'i8', shape: [8], byteLength: 8, file: 'f' });
    expect(() => checkLlamaTensors(tiny, t, 'ckpt')).toThrow(/has dtype i8/);
  });
});
