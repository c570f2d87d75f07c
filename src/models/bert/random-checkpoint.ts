/**
 * Writes a BERT encoder with random weights in the sentence-transformers layout: config.json,
 * model.safetensors (f32, `BertModel` names), modules.json, 1_Pooling/config.json and a WordPiece
 * tokenizer.json over a small made-up vocabulary. Tests load it both here and in float64 references.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeSafetensorsLazily } from '../../io/safetensors-writer.js';
import { numel } from '../../tensor/dtype.js';
import { Rng } from '../../util/rng.js';
import { type PoolingMode, parseBertConfig } from './bert-config.js';
import { bertTensorShapes } from './bert-tensors.js';

export interface RandomBertOptions {
  readonly seed?: number;
  readonly pooling?: PoolingMode;
  readonly normalize?: boolean;
}

/** Special tokens first (ids 0–4), then whole words and word pieces for the letters. */
export const SPECIAL_TOKENS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'] as const;
const WORDS = ['the', 'a', 'cat', 'dog', 'sat', 'on', 'mat', 'hello', 'world', 'is', 'good', '.', ',', '!', '?'];
const LETTERS = 'abcdefghijklmnopqrstuvwxyz0123456789'.split('');
export const BERT_TEST_VOCAB: readonly string[] = [
  ...SPECIAL_TOKENS,
  ...WORDS,
  ...LETTERS,
  ...LETTERS.map((c) => `##${c}`),
];

/** A BERT-style WordPiece tokenizer.json (lower-casing, [CLS] … [SEP]) over `vocab`. */
export function wordPieceTokenizerJson(vocab: readonly string[]): unknown {
  const id = (t: string) => vocab.indexOf(t);
  const special = (t: string) => ({ id: t, type_id: 0 });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIAL_TOKENS.map((t) => ({
      id: id(t),
      content: t,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: {
      type: 'BertNormalizer',
      clean_text: true,
      handle_chinese_chars: true,
      strip_accents: null,
      lowercase: true,
    },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [
        { SpecialToken: special('[CLS]') },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: special('[SEP]') },
      ],
      pair: [
        { SpecialToken: special('[CLS]') },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: special('[SEP]') },
        { Sequence: { id: 'B', type_id: 1 } },
        { SpecialToken: { id: '[SEP]', type_id: 1 } },
      ],
      special_tokens: Object.fromEntries(['[CLS]', '[SEP]'].map((t) => [t, { id: t, ids: [id(t)], tokens: [t] }])),
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: {
      type: 'WordPiece',
      unk_token: '[UNK]',
      continuing_subword_prefix: '##',
      max_input_chars_per_word: 100,
      vocab: Object.fromEntries(vocab.map((t, i) => [t, i])),
    },
  };
}

/** @example await writeRandomBertCheckpoint(dir, { hidden_size: 32, num_hidden_layers: 2, ... }, { seed: 7 }); */
export async function writeRandomBertCheckpoint(
  folder: string,
  hfConfig: Record<string, unknown>,
  options: RandomBertOptions = {},
): Promise<void> {
  const full = { model_type: 'bert', architectures: ['BertModel'], vocab_size: BERT_TEST_VOCAB.length, ...hfConfig };
  const config = parseBertConfig(full, join(folder, 'config.json'));
  if (config.vocabSize < BERT_TEST_VOCAB.length)
    throw new Error(`vocab_size ${config.vocabSize} is below the test vocabulary's ${BERT_TEST_VOCAB.length} tokens`);
  const rng = new Rng(options.seed ?? 0);
  const layout = [...bertTensorShapes(config)].map(([name, shape]) => ({ name, dtype: 'f32' as const, shape }));
  await mkdir(join(folder, '1_Pooling'), { recursive: true });
  await writeFile(join(folder, 'config.json'), JSON.stringify({ ...full, torch_dtype: 'float32' }, null, 2));
  // LayerNorm scales near 1, shifts and biases small, projections at 1/sqrt(fan-in): activations stay in range.
  await writeSafetensorsLazily(
    join(folder, 'model.safetensors'),
    layout,
    (k) => {
      const { name, shape } = layout[k]!;
      const n = numel(shape);
      if (name.endsWith('LayerNorm.weight')) return Float32Array.from(rng.normals(n, 0.1), (v) => 1 + v);
      if (name.endsWith('.bias')) return Float32Array.from(rng.normals(n, 0.05));
      const scale = name.startsWith('embeddings.') ? 1 : 1 / Math.sqrt(shape[shape.length - 1]!);
      return Float32Array.from(rng.normals(n, scale));
    },
    { format: 'pt' },
  );
  const modules = [
    { idx: 0, name: '0', path: '', type: 'sentence_transformers.models.Transformer' },
    { idx: 1, name: '1', path: '1_Pooling', type: 'sentence_transformers.models.Pooling' },
    ...((options.normalize ?? true)
      ? [{ idx: 2, name: '2', path: '2_Normalize', type: 'sentence_transformers.models.Normalize' }]
      : []),
  ];
  await writeFile(join(folder, 'modules.json'), JSON.stringify(modules, null, 2));
  const pooling = options.pooling ?? 'mean';
  await writeFile(
    join(folder, '1_Pooling', 'config.json'),
    JSON.stringify(
      {
        word_embedding_dimension: config.hiddenSize,
        pooling_mode_cls_token: pooling === 'cls',
        pooling_mode_mean_tokens: pooling === 'mean',
        pooling_mode_max_tokens: false,
        pooling_mode_mean_sqrt_len_tokens: false,
      },
      null,
      2,
    ),
  );
  await writeFile(join(folder, 'tokenizer.json'), JSON.stringify(wordPieceTokenizerJson(BERT_TEST_VOCAB)));
}
