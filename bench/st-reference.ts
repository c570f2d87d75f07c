/**
 * Tessera's BERT encoder against sentence-transformers on the random-weight MiniLM-L6 checkpoint
 * that scripts/embeddings/st_reference.py writes with its float64 reference embeddings: token ids
 * must match exactly and each embedding must lie within cosine 0.9999 of the reference. Shared by
 * test/models/bert/st-reference.test.ts and bench/st-check.ts (the GPU machine, where torch is).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Backend } from '../src/backends/backend.js';
import type { BertModelConfig } from '../src/models/bert/bert-config.js';
import { BertEncoder } from '../src/models/bert/bert-encoder.js';
import type { OpenedModel } from '../src/models/family.js';
import { openModel } from '../src/models/open-model.js';

export const MIN_COSINE = 0.9999;

export interface StReference {
  seed: number;
  modules: string[];
  sentences: string[];
  token_ids: number[][];
  embeddings: number[][];
}

export interface StComparison {
  readonly reference: StReference;
  readonly model: OpenedModel<BertModelConfig>;
  /** Our token ids per sentence. */
  readonly ids: number[][];
  readonly cosines: number[];
  readonly maxAbsErrors: number[];
}

export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i]! * b[i]!;
    aa += a[i]! * a[i]!;
    bb += b[i]! * b[i]!;
  }
  return ab / Math.sqrt(aa * bb);
}

/** Opens the checkpoint, tokenizes and embeds the reference sentences; the caller closes `model.weights`. */
export async function compareWithStReference(dir: string, backend: Backend): Promise<StComparison> {
  const reference = JSON.parse(readFileSync(join(dir, 'st_reference.json'), 'utf8')) as StReference;
  const model = (await openModel(dir)) as OpenedModel<BertModelConfig>;
  const ids = reference.sentences.map((s) => model.tokenizer!.encode(s));
  const enc = await BertEncoder.load(model, { backend, maxTokens: 128, maxTexts: 8 });
  try {
    const got = await enc.embed(ids);
    return {
      reference,
      model,
      ids,
      cosines: got.map((e, i) => cosine(e, reference.embeddings[i]!)),
      maxAbsErrors: got.map((e, i) => Math.max(...Array.from(e, (v, j) => Math.abs(v - reference.embeddings[i]![j]!)))),
    };
  } finally {
    enc.destroy();
  }
}
