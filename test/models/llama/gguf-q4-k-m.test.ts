/**
 * The Q4_K_M writer lays a file out as llama.cpp's quantizer does: Q6_K for the output matrix (the
 * tied embedding where there is none), for attn_v and ffn_down of the layers use_more_bits picks,
 * Q4_K for every other matrix, F32 norms and `general.file_type` 15 — and our loader keeps every
 * matrix of it quantized on the device.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GgufFile } from '../../../src/io/gguf-file.js';
import { writeLlamaGguf } from '../../../src/models/llama/gguf-from-hf.js';
import { q4KMTypeOf, useMoreBits } from '../../../src/models/llama/gguf-q4-k-m.js';
import { openLlamaModel } from '../../../src/models/llama/llama-family.js';
import { quantizedWeightPlan } from '../../../src/models/llama/quantized-weights.js';
import { tempFolder } from '../../io/helpers.js';

describe('Q4_K_M mix', () => {
  it("use_more_bits picks llama.cpp's layers", () => {
    const picked = (n: number) => Array.from({ length: n }, (_, i) => i).filter((i) => useMoreBits(i, n));
    // 32 layers (Llama-3-8B): the first and last four, and layers 6, 9, …, 27 between them
    expect(picked(32)).toEqual([0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31]);
    // 6 layers (the built-in model): n/8 = 0, 7n/8 = 5
    expect(picked(6)).toEqual([2, 5]);
  });

  it('untied embedding stays Q4_K, the LM head is Q6_K', async () => {
    const m = await openLlamaModel('models/builtin');
    const typeOf = q4KMTypeOf({ ...m.config, tieWordEmbeddings: false, numLayers: 32 });
    await m.weights.close();
    expect(typeOf('model.embed_tokens.weight')).toBe('Q4_K');
    expect(typeOf('lm_head.weight')).toBe('Q6_K');
    expect(typeOf('model.layers.5.self_attn.v_proj.weight')).toBe('Q4_K');
    expect(typeOf('model.layers.6.mlp.down_proj.weight')).toBe('Q6_K');
    expect(typeOf('model.layers.6.mlp.up_proj.weight')).toBe('Q4_K');
    expect(typeOf('model.layers.6.self_attn.q_proj.weight')).toBe('Q4_K');
  });

  describe('the built-in model written as Q4_K_M', () => {
    let dir = '';
    let file = '';
    beforeAll(async () => {
      dir = await tempFolder();
      file = join(dir, 'builtin.q4_k_m.gguf');
      const m = await openLlamaModel('models/builtin');
      await writeLlamaGguf(m.weights, m.config, file, { type: 'Q4_K_M' });
      await m.weights.close();
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('has the mix of types and file type 15', async () => {
      const g = await GgufFile.open(file);
      try {
        expect(g.metadata.get('general.file_type')).toBe(15);
        const types = new Map([...g.tensors.keys()].map((n) => [n, g.info(n).ggmlType]));
        // tied embedding: token_embd is the output matrix, so Q6_K
        expect(types.get('token_embd.weight')).toBe('Q6_K');
        expect(types.has('output.weight')).toBe(false);
        for (let i = 0; i < 6; i++) {
          const six = i === 2 || i === 5 ? 'Q6_K' : 'Q4_K';
          expect(types.get(`blk.${i}.attn_v.weight`), `layer ${i} attn_v`).toBe(six);
          expect(types.get(`blk.${i}.ffn_down.weight`), `layer ${i} ffn_down`).toBe(six);
          for (const t of ['attn_q', 'attn_k', 'attn_output', 'ffn_gate', 'ffn_up'])
            expect(types.get(`blk.${i}.${t}.weight`), `layer ${i} ${t}`).toBe('Q4_K');
          expect(types.get(`blk.${i}.attn_norm.weight`)).toBe('F32');
        }
      } finally {
        await g.close();
      }
    });

    it('our loader keeps every projection quantized (the tied table is dequantized: the gather reads floats)', async () => {
      const m = await openLlamaModel(file);
      try {
        const plan = quantizedWeightPlan(m.config, m.weights);
        const count = (f: string) => [...plan.values()].filter((a) => a.format === f).length;
        // 7 projections × 6 layers; V and down of layers 2 and 5 in Q6_K
        expect(count('q6_k')).toBe(4);
        expect(count('q4_k')).toBe(6 * 7 - 4);
      } finally {
        await m.weights.close();
      }
    });
  });
});
