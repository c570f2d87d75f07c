/**
 * The BERT family: encoder-only models served for embeddings (`/v1/embeddings`), in the
 * sentence-transformers layout (config.json, model.safetensors, modules.json, 1_Pooling/) or as a
 * bare `BertModel` folder. It has no generative runner: `loadEncoder` builds its `BertEncoder`.
 */
import type { Checkpoint } from '../../io/open-checkpoint.js';
import type { ModelFamily, OpenedModel } from '../family.js';
import { type BertModelConfig, parseBertConfig, readSentenceHead, SUPPORTED_BERT_MODEL_TYPES } from './bert-config.js';
import { BertEncoder, type BertEncoderOptions } from './bert-encoder.js';
import { checkBertTensors } from './bert-tensors.js';

/** transformers class names of BERT encoders, for configs that name only their architecture. */
const ARCHITECTURES = ['BertModel', 'BertForMaskedLM', 'BertForPreTraining'];

export class NotAGeneratorError extends Error {
  constructor(path: string) {
    super(
      `${path}: a BERT encoder makes embeddings, not text; serve it beside a chat model with --model (it answers on /v1/embeddings)`,
    );
    this.name = 'NotAGeneratorError';
  }
}

export const bertFamily: ModelFamily<BertModelConfig> = {
  name: 'bert',
  accepts: `config.json model_type ${SUPPORTED_BERT_MODEL_TYPES.map((t) => `'${t}'`).join(', ')} or architectures ${ARCHITECTURES.join(', ')} (embeddings)`,

  matches(id) {
    if (id.format !== 'safetensors') return false;
    if (id.modelType !== undefined) return (SUPPORTED_BERT_MODEL_TYPES as readonly string[]).includes(id.modelType);
    return id.architectures.some((a) => ARCHITECTURES.includes(a));
  },

  open(c: Checkpoint): OpenedModel<BertModelConfig> {
    if (c.format !== 'safetensors') throw new Error(`${c.path}: BERT encoders load from safetensors folders only`);
    const encoder = parseBertConfig(c.config, c.configFile);
    const config = { encoder, head: readSentenceHead(c.path) };
    const unusedTensors = checkBertTensors(encoder, c.weights.tensors, c.weights.path);
    return {
      family: 'bert',
      format: c.format,
      path: c.path,
      tokenizer: c.tokenizer,
      config,
      weights: c.weights,
      unusedTensors,
    };
  },

  loadRunner: async (model) => {
    throw new NotAGeneratorError(model.path);
  },
};

/** The encoder of an opened BERT model (the family's counterpart of `loadRunner`). */
export function loadBertEncoder(
  model: OpenedModel<BertModelConfig>,
  options: BertEncoderOptions,
): Promise<BertEncoder> {
  return BertEncoder.load(model, options);
}
