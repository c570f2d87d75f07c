/**
 * PEFT adapter folders: the writer's layout read back, the scale rules, and the refusals, each
 * naming the field or tensor at fault.
 */
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SafetensorsFile } from '../../src/io/safetensors-file.js';
import { llamaLoraShapes, peftTensorName } from '../../src/lora/modules.js';
import { loadPeftAdapter } from '../../src/lora/peft-adapter.js';
import { parseLoraConfig } from '../../src/lora/peft-config.js';
import { writeRandomPeftAdapter } from '../../src/lora/random-adapter.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';

const seed = testSeed();
const dims = { numLayers: 2, hiddenSize: 16, intermediateSize: 24, numHeads: 4, numKvHeads: 2, headDim: 4 };
const base = llamaLoraShapes(dims);

describe(`PEFT adapters (${seedNote(seed)})`, () => {
  it('reads back what the writer wrote, under PEFT tensor names and shapes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lora-'));
    await writeRandomPeftAdapter(dir, base, { rank: 3, targets: ['q_proj', 'down_proj'], seed });
    const st = await SafetensorsFile.open(join(dir, 'adapter_model.safetensors'));
    expect([...st.tensors.keys()].sort()).toEqual(
      [0, 1]
        .flatMap((l) =>
          (['q_proj', 'down_proj'] as const).flatMap((m) => [peftTensorName(l, m, 'A'), peftTensorName(l, m, 'B')]),
        )
        .sort(),
    );
    expect(peftTensorName(1, 'q_proj', 'A')).toBe('base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight');
    expect(st.tensors.get(peftTensorName(1, 'down_proj', 'B'))!.shape).toEqual([16, 3]);
    const want = await st.read(peftTensorName(1, 'down_proj', 'B'));
    await st.close();
    const a = await loadPeftAdapter(dir, 'one', base);
    expect(a.config.targets).toEqual(['q_proj', 'down_proj']);
    expect(a.config.scale).toBe(2); // alpha defaults to 2r in the writer: 6/3
    expect(Array.from(a.layers[1]!.get('down_proj')!.b)).toEqual(Array.from(want as Float32Array));
    expect(a.layers[0]!.get('q_proj')!.a.length).toBe(3 * 16);
  });

  it('scales by alpha/r, or alpha/sqrt(r) with rsLoRA', () => {
    const c = { r: 16, lora_alpha: 32, target_modules: ['q_proj'] };
    expect(parseLoraConfig(c).scale).toBe(2);
    expect(parseLoraConfig({ ...c, use_rslora: true }).scale).toBe(8);
    expect(parseLoraConfig({ ...c, target_modules: 'all-linear' }).targets).toHaveLength(7);
  });

  it('refuses unsupported options, naming the field', () => {
    const c = { r: 4, lora_alpha: 8, target_modules: ['q_proj'] };
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ use_dora: true }, /use_dora: DoRA/],
      [{ bias: 'lora_only' }, /bias: trained biases/],
      [{ modules_to_save: ['lm_head'] }, /modules_to_save/],
      [{ fan_in_fan_out: true }, /fan_in_fan_out/],
      [{ rank_pattern: { q_proj: 8 } }, /rank_pattern/],
      [{ r: 0 }, /r: must be an integer in 1\.\.256/],
      [{ r: 257 }, /r: must be an integer in 1\.\.256/],
      [{ target_modules: ['embed_tokens'] }, /target_modules: 'embed_tokens'/],
      [{ target_modules: '.*q_proj' }, /target_modules: must be/],
      [{ peft_type: 'IA3' }, /peft_type/],
    ];
    for (const [patch, re] of bad) expect(() => parseLoraConfig({ ...c, ...patch }, 'x.json')).toThrow(re);
  });

  it('refuses an adapter whose shapes do not fit the base, naming the tensor', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lora-'));
    await writeRandomPeftAdapter(dir, llamaLoraShapes({ ...dims, hiddenSize: 20 }), {
      rank: 2,
      targets: ['v_proj'],
      seed,
    });
    await expect(loadPeftAdapter(dir, 'x', base)).rejects.toThrow(
      /'base_model\.model\.model\.layers\.0\.self_attn\.v_proj\.lora_A\.weight' has shape \[2,20\], the base model needs \[2,16\]/,
    );
  });

  it('refuses tensors plain LoRA does not use (layers past the last of the base)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lora-'));
    await writeRandomPeftAdapter(dir, llamaLoraShapes({ ...dims, numLayers: 3 }), {
      rank: 2,
      targets: ['k_proj'],
      seed,
    });
    await expect(loadPeftAdapter(dir, 'x', base)).rejects.toThrow(/layers\.2\.self_attn\.k_proj\.lora_A/);
  });

  it('names the file when the config is missing or malformed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lora-'));
    await expect(loadPeftAdapter(dir, 'x', base)).rejects.toThrow(/adapter_config\.json.*not found/);
    await writeFile(join(dir, 'adapter_config.json'), '{"r": 4,');
    await expect(loadPeftAdapter(dir, 'x', base)).rejects.toThrow(/not valid JSON/);
    expect((await readFile(join(dir, 'adapter_config.json'), 'utf8')).length).toBeGreaterThan(0);
  });
});
