/**
 * Tensor names and shapes of a BERT encoder as transformers' `BertModel` saves them
 * (`embeddings.*`, `encoder.layer.<l>.*`); checkpoints of task heads keep the same names under a
 * `bert.` prefix, which `tensorPrefix` finds. The pooler is not used: sentence-transformers pools
 * token states itself.
 */
import { CheckpointError } from '../../io/errors.js';
import type { TensorInfo } from '../../io/tensor-source.js';
import type { BertConfig } from './bert-config.js';

/** The encoder's tensors in graph parameter order, without prefix, with their shapes. */
export function bertTensorShapes(c: BertConfig): Map<string, readonly number[]> {
  const h = c.hiddenSize;
  const m = new Map<string, readonly number[]>([
    ['embeddings.word_embeddings.weight', [c.vocabSize, h]],
    ['embeddings.position_embeddings.weight', [c.maxPositionEmbeddings, h]],
    ['embeddings.token_type_embeddings.weight', [c.typeVocabSize, h]],
    ['embeddings.LayerNorm.weight', [h]],
    ['embeddings.LayerNorm.bias', [h]],
  ]);
  for (let l = 0; l < c.numLayers; l++) {
    const p = `encoder.layer.${l}.`;
    for (const proj of ['query', 'key', 'value']) {
      m.set(`${p}attention.self.${proj}.weight`, [h, h]);
      m.set(`${p}attention.self.${proj}.bias`, [h]);
    }
    m.set(`${p}attention.output.dense.weight`, [h, h]);
    m.set(`${p}attention.output.dense.bias`, [h]);
    m.set(`${p}attention.output.LayerNorm.weight`, [h]);
    m.set(`${p}attention.output.LayerNorm.bias`, [h]);
    m.set(`${p}intermediate.dense.weight`, [c.intermediateSize, h]);
    m.set(`${p}intermediate.dense.bias`, [c.intermediateSize]);
    m.set(`${p}output.dense.weight`, [h, c.intermediateSize]);
    m.set(`${p}output.dense.bias`, [h]);
    m.set(`${p}output.LayerNorm.weight`, [h]);
    m.set(`${p}output.LayerNorm.bias`, [h]);
  }
  return m;
}

/** '' for a bare `BertModel` checkpoint, 'bert.' for one saved with a task head. */
export function tensorPrefix(tensors: ReadonlyMap<string, TensorInfo>): string {
  return !tensors.has('embeddings.word_embeddings.weight') && tensors.has('bert.embeddings.word_embeddings.weight')
    ? 'bert.'
    : '';
}

/** Throws a CheckpointError for the first tensor missing, misshapen or not a float; returns the unused ones. */
export function checkBertTensors(c: BertConfig, tensors: ReadonlyMap<string, TensorInfo>, path: string): string[] {
  const prefix = tensorPrefix(tensors);
  const wanted = bertTensorShapes(c);
  for (const [name, shape] of wanted) {
    const info = tensors.get(prefix + name);
    if (!info)
      throw new CheckpointError(path, `has no tensor '${prefix + name}'`, { hint: 'not a BertModel checkpoint?' });
    if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i]))
      throw new CheckpointError(info.file, `has shape [${info.shape}], the config implies [${shape}]`, {
        tensor: prefix + name,
      });
    if (info.dtype !== 'f32' && info.dtype !== 'f16' && info.dtype !== 'bf16')
      throw new CheckpointError(info.file, `has dtype ${info.dtype}; BERT weights must be f32, f16 or bf16`, {
        tensor: prefix + name,
      });
  }
  return [...tensors.keys()].filter((n) => !wanted.has(n.slice(prefix.length)) || !n.startsWith(prefix));
}
