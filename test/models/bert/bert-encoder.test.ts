/**
 * The compiled BERT encoder against a float64 reference of the same random checkpoint (tiny
 * config: hidden 32, 2 layers, 4 heads), on the CPU backend and, where there is one, on WebGPU.
 * Texts of different lengths go in one packed batch, so a mask leak across texts would show.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend } from '../../../src/backends/backend.js';
import { CpuBackend } from '../../../src/backends/cpu/cpu-backend.js';
import type { OpenedModel } from '../../../src/models/family.js';
import type { BertModelConfig } from '../../../src/models/bert/bert-config.js';
import { BertEncoder, EmbeddingInputError } from '../../../src/models/bert/bert-encoder.js';
import { writeRandomBertCheckpoint } from '../../../src/models/bert/random-checkpoint.js';
import { openModel } from '../../../src/models/open-model.js';
import { gpuBackend, gpuSkipReason } from '../../gpu-setup.js';
import { readWeights, referenceEmbedding, type ReferenceConfig, type Weights } from './bert-reference.js';
import { cosine } from '../../../bench/st-reference.js';

const SEED = 20261207;
const gpu = await gpuBackend();

const CONFIG = {
  hidden_size: 32,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  intermediate_size: 64,
  max_position_embeddings: 64,
  type_vocab_size: 2,
  layer_norm_eps: 1e-12,
  hidden_act: 'gelu',
};
const TEXTS = ['hello world', 'the cat sat on the mat.', 'a dog!', 'is the world good? hello hello a cat zebra'];

for (const pooling of ['mean', 'cls'] as const) {
  describe(`BERT encoder, ${pooling} pooling${pooling === 'mean' ? ' + Normalize' : ''}`, () => {
    let dir: string;
    let model: OpenedModel<BertModelConfig>;
    let weights: Weights;
    let ids: number[][];
    const ref: ReferenceConfig = {
      hidden: 32,
      layers: 2,
      heads: 4,
      intermediate: 64,
      eps: 1e-12,
      pooling,
      normalize: pooling === 'mean',
    };

    beforeAll(async () => {
      console.log(`[bert-encoder] checkpoint seed ${SEED}`);
      dir = await mkdtemp(join(tmpdir(), 'tessera-bert-'));
      await writeRandomBertCheckpoint(dir, CONFIG, { seed: SEED, pooling, normalize: ref.normalize });
      model = (await openModel(dir)) as OpenedModel<BertModelConfig>;
      weights = await readWeights(model.weights);
      ids = TEXTS.map((t) => model.tokenizer!.encode(t));
    });
    afterAll(async () => {
      await model?.weights.close();
      await rm(dir, { recursive: true, force: true });
    });

    it('reads the sentence-transformers head and tokenizes with [CLS] … [SEP]', () => {
      expect(model.family).toBe('bert');
      expect(model.config.head).toEqual({ pooling, normalize: ref.normalize });
      const tok = model.tokenizer!;
      expect(ids[0]).toEqual([2, ...['hello', 'world'].map((w) => tok.encode(w, { addSpecialTokens: false })[0]), 3]);
      expect(tok.decode(tok.encode('zebra', { addSpecialTokens: false }))).toBe('zebra');
    });

    const check = async (backend: Backend, maxTokens: number) => {
      const enc = await BertEncoder.load(model, { backend, maxTokens, maxTexts: 8 });
      try {
        const got = await enc.embed(ids);
        expect(got).toHaveLength(TEXTS.length);
        got.forEach((e, i) => {
          const want = referenceEmbedding(weights, ref, ids[i]!);
          const scale = Math.max(...want.map(Math.abs));
          const err = Math.max(...Array.from(e, (v, j) => Math.abs(v - want[j]!)));
          expect(err / scale, `text ${i}: max error ${err} against max |x| ${scale}`).toBeLessThan(2e-5);
          expect(cosine(e, want)).toBeGreaterThan(0.999999);
        });
      } finally {
        enc.destroy();
      }
    };

    it('matches the float64 reference on the CPU backend, one packed batch', () => check(new CpuBackend(), 64));
    it('matches it when the texts are split over several batches', () => check(new CpuBackend(), 16));
    it.skipIf(!gpu)(`matches it on WebGPU, one packed batch${gpu ? '' : ` (skipped: ${gpuSkipReason()})`}`, () =>
      check(gpu!, 64),
    );
    it.skipIf(!gpu)(`matches it on WebGPU over several batches${gpu ? '' : ` (skipped: ${gpuSkipReason()})`}`, () =>
      check(gpu!, 16),
    );

    it('refuses empty texts, unknown ids and texts over the context', async () => {
      const enc = await BertEncoder.load(model, { backend: new CpuBackend(), maxTokens: 16 });
      try {
        await expect(enc.embed([[]])).rejects.toThrow(EmbeddingInputError);
        await expect(enc.embed([[2, 10_000, 3]])).rejects.toThrow(/outside the vocabulary/);
        await expect(enc.embed([Array(17).fill(5)])).rejects.toThrow(/over the model's context/);
      } finally {
        enc.destroy();
      }
    });
  });
}
