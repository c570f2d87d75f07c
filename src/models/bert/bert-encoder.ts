/**
 * Runs a BERT encoder on a backend: texts (token ids) → one embedding each. The encoder is compiled
 * once for every packed batch up to `maxTokens` tokens and `maxTexts` texts (`graph.ts`); longer
 * lists are split into several batches. Weights and activations are f32: embeddings are compared
 * by cosine, and an encoder this size is cheap at full precision.
 *
 * @example
 * const enc = await BertEncoder.load(await openModel('models/all-MiniLM-L6-v2'), { backend });
 * const [e] = await enc.embed([[101, 7592, 102]]);
 */
import type { Backend, Tensor } from '../../backends/backend.js';
import { compile } from '../../compiler/compile.js';
import { VirtualMachine } from '../../compiler/vm.js';
import { loadEach, type TensorSource } from '../../io/tensor-source.js';
import { toFloat64 } from '../../tensor/dtype.js';
import type { RunnerOptions } from '../family.js';
import type { BertModelConfig, SentenceHead } from './bert-config.js';
import { bertTensorShapes, tensorPrefix } from './bert-tensors.js';
import { bertModule, MASKED } from './graph.js';

export interface BertEncoderOptions extends Pick<RunnerOptions, 'backend' | 'onProgress'> {
  /** Most tokens of one packed batch (default 512: one text of BERT's full context). */
  readonly maxTokens?: number;
  /** Most texts of one batch (default 64). */
  readonly maxTexts?: number;
}

export class EmbeddingInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EmbeddingInputError';
  }
}

export class BertEncoder {
  readonly dimensions: number;
  readonly maxContext: number;
  readonly vocabSize: number;
  private readonly vm: VirtualMachine;

  private constructor(
    readonly backend: Backend,
    readonly config: BertModelConfig,
    private readonly weights: Tensor[],
    readonly maxTokens: number,
    readonly maxTexts: number,
  ) {
    this.dimensions = config.encoder.hiddenSize;
    this.maxContext = Math.min(config.encoder.maxPositionEmbeddings, maxTokens);
    this.vocabSize = config.encoder.vocabSize;
    this.vm = new VirtualMachine(compile(bertModule(config.encoder, { maxTokens, maxTexts })), backend);
  }

  static async load(
    model: { readonly config: BertModelConfig; readonly weights: TensorSource },
    o: BertEncoderOptions,
  ): Promise<BertEncoder> {
    const maxTokens = o.maxTokens ?? Math.min(512, model.config.encoder.maxPositionEmbeddings);
    const maxTexts = o.maxTexts ?? 64;
    const prefix = tensorPrefix(model.weights.tensors);
    const names = [...bertTensorShapes(model.config.encoder).keys()];
    const byName = new Map<string, Tensor>();
    try {
      await loadEach(
        model.weights,
        (name, data, info) => {
          const t = o.backend.alloc({ dtype: 'f32', shape: info.shape }, name, 'weights');
          byName.set(name, t);
          o.backend.write(t, info.dtype === 'f32' ? data : Float32Array.from(toFloat64(info.dtype, data)));
        },
        { names: names.map((n) => prefix + n), onProgress: o.onProgress },
      );
    } catch (e) {
      for (const t of byName.values()) o.backend.free(t);
      throw e;
    }
    const weights = names.map((n) => byName.get(prefix + n)!);
    return new BertEncoder(o.backend, model.config, weights, maxTokens, maxTexts);
  }

  /** One embedding per text, in order; each text is token ids with the special tokens already in place. */
  async embed(texts: readonly (readonly number[])[]): Promise<Float32Array[]> {
    texts.forEach((t, i) => {
      if (t.length === 0) throw new EmbeddingInputError(`input ${i} has no tokens`);
      if (t.length > this.maxContext)
        throw new EmbeddingInputError(
          `input ${i} has ${t.length} tokens, over the model's context of ${this.maxContext}`,
        );
      for (const id of t)
        if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize)
          throw new EmbeddingInputError(`input ${i}: token ${id} is outside the vocabulary [0, ${this.vocabSize})`);
    });
    const out: Float32Array[] = [];
    for (const batch of this.batches(texts)) out.push(...(await this.embedBatch(batch)));
    return out;
  }

  /** Consecutive runs of texts within `maxTokens` and `maxTexts`. */
  private *batches(texts: readonly (readonly number[])[]): Generator<(readonly number[])[]> {
    let batch: (readonly number[])[] = [];
    let tokens = 0;
    for (const t of texts) {
      if (batch.length > 0 && (tokens + t.length > this.maxTokens || batch.length === this.maxTexts)) {
        yield batch;
        batch = [];
        tokens = 0;
      }
      batch.push(t);
      tokens += t.length;
    }
    if (batch.length > 0) yield batch;
  }

  private async embedBatch(texts: readonly (readonly number[])[]): Promise<Float32Array[]> {
    const inputs = packBatch(texts, this.config.head);
    const n = inputs.tokens.length;
    const b = texts.length;
    const temps: Tensor[] = [];
    const upload = (dtype: 'i32' | 'f32', shape: number[], data: Int32Array | Float32Array, label: string) => {
      const t = this.backend.alloc({ dtype, shape }, label, 'activations');
      temps.push(t);
      this.backend.write(t, data);
      return t;
    };
    try {
      const args = [
        upload('i32', [n], inputs.tokens, 'embed.tokens'),
        upload('i32', [n], inputs.positions, 'embed.positions'),
        upload('i32', [n], new Int32Array(n), 'embed.types'),
        upload('f32', [n, n], inputs.mask, 'embed.mask'),
        upload('f32', [b, n], inputs.pool, 'embed.pool'),
      ];
      // the VM hands the returned tensor to the caller
      const pooled = (await this.vm.run('encode', [...args, ...this.weights])) as Tensor;
      temps.push(pooled);
      const flat = (await this.backend.read(pooled)) as Float32Array;
      const d = this.dimensions;
      return texts.map((_, i) => finish(flat.subarray(i * d, (i + 1) * d), this.config.head.normalize));
    } finally {
      for (const t of temps) this.backend.free(t);
    }
  }

  destroy(): void {
    for (const t of this.weights) this.backend.free(t);
    this.weights.length = 0;
  }
}

/** The graph's inputs for texts packed end to end (see `graph.ts`). */
export function packBatch(texts: readonly (readonly number[])[], head: SentenceHead) {
  const n = texts.reduce((a, t) => a + t.length, 0);
  const tokens = new Int32Array(n);
  const positions = new Int32Array(n);
  const mask = new Float32Array(n * n).fill(MASKED);
  const pool = new Float32Array(texts.length * n);
  let at = 0;
  texts.forEach((t, i) => {
    for (let j = 0; j < t.length; j++) {
      tokens[at + j] = t[j]!;
      positions[at + j] = j;
      for (let k = 0; k < t.length; k++) mask[(at + j) * n + at + k] = 0;
      if (head.pooling === 'mean') pool[i * n + at + j] = 1 / t.length;
    }
    if (head.pooling === 'cls') pool[i * n + at] = 1;
    at += t.length;
  });
  return { tokens, positions, mask, pool };
}

/** A copy of the pooled row, L2-normalised when the model ends in `Normalize` (in f64, as torch's eps 1e-12 clamp). */
function finish(row: Float32Array, normalize: boolean): Float32Array {
  if (!normalize) return Float32Array.from(row);
  let s = 0;
  for (const v of row) s += v * v;
  const scale = 1 / Math.max(Math.sqrt(s), 1e-12);
  return Float32Array.from(row, (v) => v * scale);
}
