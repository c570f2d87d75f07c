/**
 * The float64 fake-quant Llama forward: unquantized, it reproduces the built-in model's float64
 * last-position logits from the independent NumPy implementation (models/builtin/reference.json);
 * calibration finds the channels an outlier permutation moves last; the W4A4 scheme's weights
 * are the bytes the kernels read; W8A8, with and without SmoothQuant's factors, stays near the
 * float logits.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  FakeQuantLlama,
  type LlamaF64,
  SMOOTHED_SITES,
  calibrate,
  loadLlamaF64,
  smoothingOf,
} from '../../src/models/llama/fake-quant-forward.js';
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

  it('W8A8: smoothing factors at the q/k/v and gate/up inputs of every layer; logits near the float ones with and without them', () => {
    const ids = ref.references[0]!.ids;
    const stats = calibrate(model, ref.references[1]!.ids, 64);
    const smooth = smoothingOf(model, stats);
    expect([...smooth.keys()].sort()).toEqual(
      Array.from({ length: model.cfg.numLayers }, (_, l) => SMOOTHED_SITES.map((s) => `${l}.${s}`))
        .flat()
        .sort(),
    );
    expect(() => new FakeQuantLlama(model, { scheme: 'w4a4', smooth })).toThrow(/smooth is for w8a8/);
    const fp = new FakeQuantLlama(model, { scheme: 'fp' }).forward(ids);
    const rel = (got: Float64Array) => {
      let [d, n] = [0, 0];
      for (let i = 0; i < fp.length; i++) [d, n] = [d + (got[i]! - fp[i]!) ** 2, n + fp[i]! ** 2];
      return Math.sqrt(d / n);
    };
    const plain = rel(new FakeQuantLlama(model, { scheme: 'w8a8' }).forward(ids));
    const smoothed = rel(new FakeQuantLlama(model, { scheme: 'w8a8', smooth }).forward(ids));
    console.log(
      `W8A8 logits, RMS relative to float: plain ${plain.toExponential(2)}, SmoothQuant ${smoothed.toExponential(2)}`,
    );
    // INT8 on both sides stays within a few percent of the float logits; smoothing changes which
    // values are rounded (this small model has no strong outlier channels, so it need not help)
    expect(plain).toBeLessThan(0.05);
    expect(smoothed).toBeLessThan(0.05);
    expect(Math.abs(smoothed - plain)).toBeGreaterThan(1e-4);
  });
});
