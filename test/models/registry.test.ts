import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UnsupportedModelError } from '../../src/io/errors.js';
import { writeGguf } from '../../src/io/gguf-writer.js';
import { openCheckpoint } from '../../src/io/open-checkpoint.js';
import { writeRandomLlamaCheckpoint } from '../../src/models/llama/random-checkpoint.js';
import { writeSafetensors } from '../../src/io/safetensors-writer.js';
import { openModel } from '../../src/models/open-model.js';
import { checkpointIdentity, familyFor, modelFamilies } from '../../src/models/registry.js';
import { rejection, tempFolder } from '../io/helpers.js';

let dir = '';
beforeAll(async () => {
  dir = await tempFolder();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const tinyLlama = {
  model_type: 'llama',
  hidden_size: 16,
  intermediate_size: 24,
  num_hidden_layers: 1,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  vocab_size: 40,
};

/** A folder with this config.json and one small tensor: a valid checkpoint of no known family. */
async function foreignFolder(name: string, config: object): Promise<string> {
  const folder = join(dir, name);
  await mkdir(folder, { recursive: true });
  await writeFile(join(folder, 'config.json'), JSON.stringify(config));
  await writeSafetensors(
    join(folder, 'model.safetensors'),
    new Map([['w', { dtype: 'f32' as const, shape: [2], data: new Float32Array(2) }]]),
  );
  return folder;
}

describe('model family registry', () => {
  it('has llama registered from the composition root', () => {
    expect(modelFamilies().map((f) => f.name)).toContain('llama');
  });

  it('hands a llama / mistral / qwen2 config to the llama family, by model_type or by architectures alone', async () => {
    for (const [name, config] of [
      ['by-type', tinyLlama],
      ['mistral', { ...tinyLlama, model_type: 'mistral' }],
      ['by-arch', { ...tinyLlama, model_type: undefined, architectures: ['Qwen2ForCausalLM'] }],
    ] as const) {
      const folder = join(dir, name);
      await writeRandomLlamaCheckpoint(folder, { ...tinyLlama, model_type: config.model_type ?? 'qwen2' }, { seed: 1 });
      await writeFile(join(folder, 'config.json'), JSON.stringify(config));
      const m = await openModel(folder);
      expect(m.family).toBe('llama');
      expect((m.config as { modelType: string }).modelType).toBe(config.model_type ?? 'qwen2');
      await m.weights.close();
    }
  });

  it('refuses an unknown model_type, naming the supported families', async () => {
    const folder = await foreignFolder('t5', { model_type: 't5', architectures: ['T5Model'] });
    const e = await rejection(openModel(folder));
    expect(e).toBeInstanceOf(UnsupportedModelError);
    expect(e.message).toContain(join(folder, 'config.json'));
    expect(e.message).toMatch(/model_type 't5' belongs to no supported model family/);
    expect(e.message).toMatch(/supported: llama \(config.json model_type 'llama', 'mistral', 'qwen2'/);
    expect(e.message).toMatch(/bert \(config.json model_type 'bert'/);
  });

  it('refuses a config with only an unknown architecture, and one with neither key', async () => {
    const arch = await foreignFolder('arch-only', { architectures: ['GPTNeoXForCausalLM'] });
    expect((await rejection(openModel(arch))).message).toMatch(/architectures GPTNeoXForCausalLM \(no model_type\)/);
    const none = await foreignFolder('neither', { hidden_size: 4 });
    expect((await rejection(openModel(none))).message).toMatch(/without model_type or architectures/);
  });

  it('refuses an unknown GGUF architecture, naming the supported ones', async () => {
    const file = join(dir, 'mamba.gguf');
    await writeGguf(file, { metadata: { 'general.architecture': 'mamba' }, tensors: [] });
    const c = await openCheckpoint(file);
    expect(checkpointIdentity(c)).toEqual({ format: 'gguf', ggufArchitecture: 'mamba', architectures: [] });
    const e = (() => {
      try {
        familyFor(c);
      } catch (err) {
        return err as Error;
      }
      throw new Error('familyFor accepted a mamba GGUF');
    })();
    await c.weights.close();
    expect(e).toBeInstanceOf(UnsupportedModelError);
    expect(e.message).toMatch(/GGUF architecture 'mamba' belongs to no supported model family/);
    expect(e.message).toMatch(/GGUF general.architecture 'llama', 'qwen2'/);
  });

  it('leaves the config as raw JSON at the io level', async () => {
    const folder = await foreignFolder('raw', { model_type: 'whatever', extra: [1, 2] });
    const c = await openCheckpoint(folder);
    expect(c.format === 'safetensors' && c.config).toEqual({ model_type: 'whatever', extra: [1, 2] });
    await c.weights.close();
  });
});
