/**
 * Tessera's BERT encoder against sentence-transformers on the same random-weight MiniLM-L6
 * checkpoint (real shape), written with its reference embeddings by
 * scripts/embeddings/st_reference.py where torch is installed:
 *
 *   python3 scripts/embeddings/st_reference.py --out minilm-random --seed 0
 *   TESSERA_ST_REFERENCE=minilm-random npx vitest run test/models/bert/st-reference.test.ts
 *
 * Token ids must match exactly; each embedding within cosine 0.9999 of the reference.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { BertModelConfig } from '../../../src/models/bert/bert-config.js';
import { BertEncoder } from '../../../src/models/bert/bert-encoder.js';
import type { OpenedModel } from '../../../src/models/family.js';
import { openModel } from '../../../src/models/open-model.js';
import { gpuBackend, gpuSkipReason } from '../../gpu-setup.js';

const dir = process.env.TESSERA_ST_REFERENCE;
const gpu = dir ? await gpuBackend() : null;
const skip = !dir
  ? 'TESSERA_ST_REFERENCE is not set (see scripts/embeddings/st_reference.py)'
  : !gpu
    ? gpuSkipReason()
    : '';

interface StReference {
  seed: number;
  modules: string[];
  sentences: string[];
  token_ids: number[][];
  embeddings: number[][];
}

const cosine = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i]! * b[i]!;
    aa += a[i]! * a[i]!;
    bb += b[i]! * b[i]!;
  }
  return ab / Math.sqrt(aa * bb);
};

describe.skipIf(skip !== '')(`BERT encoder vs sentence-transformers${skip ? ` (skipped: ${skip})` : ''}`, () => {
  it('tokenizes as the reference and embeds within cosine 0.9999 of it', async () => {
    const ref = JSON.parse(readFileSync(join(dir!, 'st_reference.json'), 'utf8')) as StReference;
    console.log(`[st-reference] checkpoint seed ${ref.seed}, modules ${ref.modules.join(' → ')}`);
    const model = (await openModel(dir!)) as OpenedModel<BertModelConfig>;
    try {
      expect(model.family).toBe('bert');
      expect(model.config.head).toEqual({ pooling: 'mean', normalize: ref.modules.includes('Normalize') });
      const ids = ref.sentences.map((s) => model.tokenizer!.encode(s));
      expect(ids).toEqual(ref.token_ids);
      const enc = await BertEncoder.load(model, { backend: gpu!, maxTokens: 128, maxTexts: 8 });
      try {
        const got = await enc.embed(ids);
        got.forEach((e, i) => {
          const c = cosine(e, ref.embeddings[i]!);
          const err = Math.max(...Array.from(e, (v, j) => Math.abs(v - ref.embeddings[i]![j]!)));
          console.log(`[st-reference] sentence ${i}: cosine ${c.toFixed(8)}, max |error| ${err.toExponential(2)}`);
          expect(c).toBeGreaterThanOrEqual(0.9999);
        });
      } finally {
        enc.destroy();
      }
    } finally {
      await model.weights.close();
    }
  });
});
