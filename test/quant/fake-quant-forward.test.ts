/**
 * The float64 fake-quant Llama forward: unquantized, it reproduces the built-in model's float64
 * last-position logits from the independent NumPy implementation (models/builtin/reference.json);
 * calibration finds the channels an outlier permutation moves last; the W4A4 scheme's weights
 * are the bytes the kernels read.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { FakeQuantLlama, type LlamaF64, calibrate, loadLlamaF64 } from '../../src/models/llama/fake-quant-forward.js';
import { outlierPermutation } from '../../src/quant/atom-reorder.js';

const dir = join(import.meta.dirname, '../../models/builtin');
const ref = JSON.parse(readFileSync(join(dir, 'reference.json'), 'utf8')) as {
  references: { ids: number[]; lastLogits: number[] }[];
};

describe('fake-quant Llama forward (built-in model)', () => {
  let model: LlamaF64 & { encode(t: string): number[] };
  beforeAll(async () => {
    model = await loadLlamaF64(dir);
  });

  it('matches the NumPy float64 logits with no quantization', () => {
    const fp = new FakeQuantLlama(model, { scheme: 'fp' });
    const V = model.cfg.vocabSize;
    for (const r of ref.references) {
      const logits = fp.forward(r.ids);
      const last = logits.subarray((r.ids.length - 1) * V);
      const scale = Math.max(...r.lastLogits.map(Math.abs));
      let worst = 0;
      for (let i = 0; i < V; i++) worst = Math.max(worst, Math.abs(last[i]! - r.lastLogits[i]!));
      expect(worst / scale).toBeLessThan(1e-9);
    }
  });

  it('moves the largest mean-|x| channels of each site last', () => {
    const ids = ref.references[0]!.ids;
    const stats = calibrate(model, ids, 64);
    expect([...stats.keys()]).toContain('0.attn_in');
    const mean = stats.get('0.down_in')!.mean();
    const perm = outlierPermutation(mean);
    const threshold = [...mean].sort((a, b) => b - a)[127]!;
    for (let j = 0; j < perm.length; j++) expect(mean[perm[j]!]! >= threshold).toBe(j >= perm.length - 128);
  });
});
