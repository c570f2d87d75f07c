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
import { describe, expect, it } from 'vitest';
import { MIN_COSINE, compareWithStReference } from '../../../bench/st-reference.js';
import { gpuBackend, gpuSkipReason } from '../../gpu-setup.js';

const dir = process.env.TESSERA_ST_REFERENCE;
const gpu = dir ? await gpuBackend() : null;
const skip = !dir
  ? 'TESSERA_ST_REFERENCE is not set (see scripts/embeddings/st_reference.py)'
  : !gpu
    ? gpuSkipReason()
    : '';

describe.skipIf(skip !== '')(`BERT encoder vs sentence-transformers${skip ? ` (skipped: ${skip})` : ''}`, () => {
  it('tokenizes as the reference and embeds within cosine 0.9999 of it', async () => {
    const r = await compareWithStReference(dir!, gpu!);
    try {
      console.log(`[st-reference] checkpoint seed ${r.reference.seed}, modules ${r.reference.modules.join(' → ')}`);
      expect(r.model.family).toBe('bert');
      expect(r.model.config.head).toEqual({ pooling: 'mean', normalize: r.reference.modules.includes('Normalize') });
      expect(r.ids).toEqual(r.reference.token_ids);
      r.cosines.forEach((c, i) => {
        console.log(
          `[st-reference] sentence ${i}: cosine ${c.toFixed(8)}, max |error| ${r.maxAbsErrors[i]!.toExponential(2)}`,
        );
        expect(c).toBeGreaterThanOrEqual(MIN_COSINE);
      });
    } finally {
      await r.model.weights.close();
    }
  });
});
