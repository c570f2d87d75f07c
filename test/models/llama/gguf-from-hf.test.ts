/**
 * HF checkpoint → llama GGUF (writeLlamaGguf): the file read back through our own loader gives the
 * source tensors (exactly for BF16 and 1-D F32 tensors; rounded to f16 for F16, checked against an
 * independent float64 rounding); the stored Q/K rows are llama.cpp's permutation, written here as
 * its converter states it (reshape to heads × 2 × headDim/2, swap the middle axes); metadata keys
 * carry the value types llama.cpp requires; configs the llama architecture cannot express are refused.
 */
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UnsupportedModelError } from '../../../src/io/errors.js';
import { writeLlamaGguf } from '../../../src/models/llama/gguf-from-hf.js';
import { GgufFile } from '../../../src/io/gguf-file.js';
import { encodeGguf, writeGgufLazily, type GgufTensorToWrite } from '../../../src/io/gguf-writer.js';
import { parseLlamaConfig } from '../../../src/models/llama/llama-config.js';
import { openLlamaModel } from '../../../src/models/llama/llama-family.js';
import { writeRandomLlamaCheckpoint } from '../../../src/models/llama/random-checkpoint.js';
import { toFloat64 } from '../../../src/tensor/dtype.js';
import { rejection, tempFolder } from '../../io/helpers.js';

let dir = '';
beforeAll(async () => {
  dir = await tempFolder();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Round half to even of an exactly representable float64 quotient. */
function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  return d > 0.5 || (d === 0.5 && f % 2 !== 0) ? f + 1 : f;
}

/** IEEE binary16 rounding done in float64: 11 significant bits, subnormal step 2^-24 (inputs here are far below f16's max). */
function f16Round(x: number): number {
  if (x === 0 || !Number.isFinite(x)) return x;
  const e = Math.max(Math.floor(Math.log2(Math.abs(x))), -14);
  const q = 2 ** (e - 10);
  return roundHalfEven(x / q) * q;
}

/** llama.cpp's convert_hf_to_gguf permute: W.reshape(heads, 2, headDim/2, cols).swapaxes(1, 2). */
function converterPermute(x: Float64Array, heads: number, cols: number): Float64Array {
  const half = x.length / cols / heads / 2;
  const out = new Float64Array(x.length);
  // out[h][i][t][c] = in[h][t][i][c]
  for (let h = 0; h < heads; h++)
    for (let i = 0; i < half; i++)
      for (let t = 0; t < 2; t++)
        for (let c = 0; c < cols; c++) {
          out[((h * half + i) * 2 + t) * cols + c] = x[((h * 2 + t) * half + i) * cols + c]!;
        }
  return out;
}

const UNTIED = {
  model_type: 'llama',
  hidden_size: 64,
  intermediate_size: 96,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  head_dim: 24,
  vocab_size: 300,
  max_position_embeddings: 512,
  rms_norm_eps: 1e-5,
  rope_theta: 500000,
  tie_word_embeddings: false,
  attention_bias: true,
  hidden_act: 'silu',
  bos_token_id: 7,
  eos_token_id: 9,
};
const TIED = {
  model_type: 'llama',
  hidden_size: 32,
  intermediate_size: 48,
  num_hidden_layers: 1,
  num_attention_heads: 4,
  num_key_value_heads: 4,
  vocab_size: 320,
  max_position_embeddings: 128,
  rms_norm_eps: 1e-6,
  rope_parameters: { rope_theta: 10000, rope_type: 'default' },
  tie_word_embeddings: true,
  hidden_act: 'silu',
  bos_token_id: 0,
  eos_token_id: 1,
};

describe('writeLlamaGguf', () => {
  for (const [label, hf, seed] of [
    ['untied, GQA, head_dim ≠ hidden/heads, attention biases', UNTIED, 11],
    ['tied embeddings', TIED, 12],
  ] as const) {
    for (const type of ['F16', 'BF16'] as const) {
      it(`round-trips a random bf16 checkpoint through ${type} (${label}; seed ${seed})`, async () => {
        const folder = join(dir, `${label.length}-${type}`);
        await writeRandomLlamaCheckpoint(folder, hf, { dtype: 'bf16', seed });
        console.log(`checkpoint seed ${seed}, ${type}`);
        const src = await openLlamaModel(folder);
        const file = join(folder, 'model.gguf');
        const report = await writeLlamaGguf(src.weights, src.config, file, { type });
        const back = await openLlamaModel(file);
        try {
          const { torchDtype: _a, ...want } = src.config;
          const { torchDtype: _b, ...got } = back.config;
          expect(got).toEqual({ ...want, rmsNormEps: Math.fround(want.rmsNormEps) }); // GGUF stores epsilon as f32
          expect([...back.weights.tensors.keys()].sort()).toEqual([...src.weights.tensors.keys()].sort());
          let inexact = 0;
          for (const [name, info] of src.weights.tensors) {
            const a = toFloat64(info.dtype, await src.weights.read(name));
            const backInfo = back.weights.tensors.get(name)!;
            expect(backInfo.shape, name).toEqual(info.shape);
            expect(backInfo.dtype, name).toBe(info.shape.length === 1 ? 'f32' : type.toLowerCase());
            const b = toFloat64(backInfo.dtype, await back.weights.read(name));
            const expected = type === 'F16' && info.shape.length === 2 ? a.map(f16Round) : a;
            for (let i = 0; i < a.length; i++) if (expected[i] !== a[i]) inexact++;
            expect(b, name).toEqual(expected);
          }
          console.log(`${type}: ${inexact} values changed by the conversion`);
          expect(report.inexact).toBe(inexact);
          if (type === 'BF16') expect(inexact).toBe(0);
          expect(report.tensors).toBe(src.weights.tensors.size);
        } finally {
          await back.weights.close();
          await src.weights.close();
        }
      });
    }
  }

  it('stores Q and K rows in llama.cpp order, 1-D tensors as F32, and metadata with llama.cpp value types', async () => {
    const folder = join(dir, 'layout');
    await writeRandomLlamaCheckpoint(folder, UNTIED, { dtype: 'bf16', seed: 21 });
    const src = await openLlamaModel(folder);
    const file = join(folder, 'model.gguf');
    await writeLlamaGguf(src.weights, src.config, file, { type: 'BF16' });
    const g = await GgufFile.open(file);
    try {
      for (const [hf, gguf, heads] of [
        ['model.layers.1.self_attn.q_proj.weight', 'blk.1.attn_q.weight', 4],
        ['model.layers.1.self_attn.k_proj.weight', 'blk.1.attn_k.weight', 2],
        ['model.layers.0.self_attn.q_proj.bias', 'blk.0.attn_q.bias', 4],
        ['model.layers.0.self_attn.k_proj.bias', 'blk.0.attn_k.bias', 2],
      ] as const) {
        const info = src.weights.tensors.get(hf)!;
        const cols = info.shape.length === 2 ? info.shape[1]! : 1;
        const want = converterPermute(toFloat64(info.dtype, await src.weights.read(hf)), heads, cols);
        const stored = g.tensors.get(gguf)!;
        expect(toFloat64(stored.dtype, await g.read(gguf)), gguf).toEqual(want);
      }
      expect(g.tensors.get('blk.0.attn_v.weight')!.ggmlType).toBe('BF16');
      expect(g.tensors.get('blk.0.attn_norm.weight')!.ggmlType).toBe('F32');
      expect(g.tensors.get('blk.0.attn_v.bias')!.ggmlType).toBe('F32');
      expect(g.tensors.has('output.weight')).toBe(true);
      const kinds = g.header.kinds;
      for (const key of [
        'llama.context_length',
        'llama.embedding_length',
        'llama.block_count',
        'llama.feed_forward_length',
        'llama.attention.head_count',
        'llama.attention.head_count_kv',
        'llama.rope.dimension_count',
        'llama.attention.key_length',
        'llama.attention.value_length',
        'general.file_type',
        'tokenizer.ggml.bos_token_id',
        'tokenizer.ggml.eos_token_id',
      ])
        expect(kinds.get(key), key).toBe('u32');
      expect(kinds.get('llama.rope.freq_base')).toBe('f32');
      expect(kinds.get('llama.attention.layer_norm_rms_epsilon')).toBe('f32');
      expect(g.metadata.get('llama.rope.freq_base')).toBe(500000);
      expect(g.metadata.get('general.file_type')).toBe(32);
      expect(g.metadata.get('tokenizer.ggml.model')).toBe('llama');
      const tokens = g.metadata.get('tokenizer.ggml.tokens') as string[];
      expect(tokens.length).toBe(300);
      expect(new Set(tokens).size).toBe(300);
      // <unk> at 0, BOS 7 and EOS 9 control, the 256 byte pieces on ids 1..258 other than those
      const types = g.metadata.get('tokenizer.ggml.token_type') as number[];
      const byteIds = Array.from({ length: 258 }, (_, i) => i + 1).filter((i) => i !== 7 && i !== 9);
      expect(types.map((t, i) => [i, t]).filter(([, t]) => t !== 1)).toEqual(
        [[0, 2], ...byteIds.map((i) => [i, 6]), [7, 3], [9, 3]].sort((a, b) => a[0]! - b[0]!),
      );
      expect(tokens[0]).toBe('<unk>');
      expect(byteIds.map((i) => tokens[i])).toEqual(
        Array.from({ length: 256 }, (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`),
      );
      expect(tokens[259]).toBe('<t259>');
      expect(g.metadata.get('tokenizer.ggml.unknown_token_id')).toBe(0);
      expect((g.metadata.get('tokenizer.ggml.scores') as number[]).length).toBe(300);
    } finally {
      await g.close();
      await src.weights.close();
    }
  });

  it('refuses a vocabulary too small for the placeholder pieces', async () => {
    const source = {
      tensors: new Map(),
      read: async () => new Float32Array(0),
      readInto: async () => 0,
      close: async () => {},
    };
    const e = await rejection(
      writeLlamaGguf(source, parseLlamaConfig({ ...TIED, vocab_size: 200 }, 'config.json'), join(dir, 'small.gguf')),
    );
    expect(e.message).toMatch(/200 ids cannot hold/);
  });

  it('refuses configs the llama architecture cannot express', async () => {
    const source = {
      tensors: new Map(),
      read: async () => new Float32Array(0),
      readInto: async () => 0,
      close: async () => {},
    };
    for (const extra of [
      { model_type: 'qwen2' },
      { model_type: 'mistral', sliding_window: 4096 },
      { mlp_bias: true },
      {
        rope_scaling: {
          rope_type: 'llama3',
          factor: 8,
          low_freq_factor: 1,
          high_freq_factor: 4,
          original_max_position_embeddings: 8192,
        },
      },
    ]) {
      const config = parseLlamaConfig({ ...TIED, ...extra }, 'config.json');
      const e = await rejection(writeLlamaGguf(source, config, join(dir, 'refused.gguf')));
      expect(e, JSON.stringify(extra)).toBeInstanceOf(UnsupportedModelError);
    }
  });
});

describe('writeGgufLazily', () => {
  const tensors: GgufTensorToWrite[] = [
    { name: 'a', type: 'F32', shape: [3], data: new Uint8Array(new Float32Array([1, 2, 3]).buffer) },
    { name: 'b', type: 'F16', shape: [2, 5], data: new Uint8Array(20).map((_, i) => i) },
  ];
  const metadata = { 'general.architecture': 'llama', 'x.count': 3 };

  it('writes the same bytes as the in-memory encoder', async () => {
    const file = join(dir, 'lazy.gguf');
    await writeGgufLazily(
      file,
      { metadata, tensors: tensors.map((t) => ({ ...t, byteLength: t.data.byteLength })) },
      (i) => tensors[i]!.data,
    );
    expect(new Uint8Array(await readFile(file))).toEqual(encodeGguf({ metadata, tensors }));
  });

  it('refuses a tensor whose bytes differ from its announced length', async () => {
    const e = await rejection(
      writeGgufLazily(
        join(dir, 'bad.gguf'),
        { metadata, tensors: tensors.map((t) => ({ ...t, byteLength: 8 })) },
        (i) => tensors[i]!.data,
      ),
    );
    expect(e.message).toMatch(/tensor 'a' has 12 bytes, its layout said 8/);
  });
});
