/**
 * `tessera quantize` (quantizeLlamaCheckpoint) on the built-in model: the folder it writes opens
 * as a GGUF whose matrices are Q8_0 (w8) or Q4_0 (w4), loads with every projection kept quantized,
 * keeps the tokenizer, and its logits stay near the unquantized model's.
 *
 * The oracle is the source checkpoint run through the float path. Quantization changes every
 * weight by up to half a step (w8: |w|max/127 per block of 32; w4: |w|max/7), so the logits move:
 * with random-sign errors over K = 256..768 terms, the relative RMS change of the logit vector is
 * about the weights' RMS relative error (≈ 0.5 % for Q8_0, ≈ 8 % for Q4_0) grown through 6 layers;
 * measured: 0.92 % and 17.7 % (the built-in model is deterministic, no seed); q4km (Q4_K with
 * 6-bit sub-block scales, Q6_K for V/down of two layers) 12.2 %. The bounds (3 %, 30 % and 20 %) leave room for a different but equally exact summation order and stay far below what a wrong format or misplaced rows produce (logits unrelated to the source's: a
 * relative change near √2).
 */
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CpuBackend } from '../../../src/backends/cpu/cpu-backend.js';
import { GgufFile } from '../../../src/io/gguf-file.js';
import { openLlamaModel } from '../../../src/models/llama/llama-family.js';
import { LlamaRunner } from '../../../src/models/llama/llama-runner.js';
import { quantizeLlamaCheckpoint } from '../../../src/models/llama/quantize-checkpoint.js';
import { builtinModelPath } from '../../../src/models/load-model.js';
import { tempFolder } from '../../io/helpers.js';

const PROMPT = [0, 477, 504, 12, 1310, 88, 2048, 5];

let dir = '';
beforeAll(async () => {
  dir = await tempFolder();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function logitsOf(path: string): Promise<{ logits: Float32Array; quantized: Record<string, number> }> {
  const model = await openLlamaModel(path);
  const runner = await LlamaRunner.load(model, {
    backend: new CpuBackend(),
    actDtype: 'f32',
    weightDtype: 'f32',
    maxTokens: 16,
    maxSeqs: 1,
    numPages: 4,
  });
  await model.weights.close();
  try {
    const logits = await runner.forward({ seqs: [{ tokens: PROMPT, start: 0, pages: [0] }] });
    return { logits, quantized: { ...runner.quantizedWeights } };
  } finally {
    runner.destroy();
  }
}

describe('tessera quantize on the built-in model', () => {
  let source: Float32Array;
  beforeAll(async () => {
    source = (await logitsOf(builtinModelPath())).logits;
  });

  for (const [scheme, type, bound] of [
    ['w8', 'Q8_0', 0.03],
    ['w4', 'Q4_0', 0.3],
  ] as const) {
    it(`${scheme}: writes ${type} matrices that load quantized, logits within ${bound * 100} % (RMS) of the source's`, async () => {
      const out = join(dir, scheme);
      const r = await quantizeLlamaCheckpoint(builtinModelPath(), scheme, out);
      expect(r.ggmlType).toBe(type);
      const files = (await readdir(out)).sort();
      expect(files).toEqual(
        [
          `model.${type.toLowerCase()}.gguf`,
          'generation_config.json',
          'quantization.json',
          'tokenizer.json',
          'tokenizer_config.json',
        ].sort(),
      );
      expect(JSON.parse(await readFile(join(out, 'quantization.json'), 'utf8'))).toMatchObject({
        scheme,
        matrixType: type,
      });
      const g = await GgufFile.open(r.file);
      try {
        for (const [name, info] of g.tensors) expect(info.ggmlType, name).toBe(info.shape.length === 2 ? type : 'F32');
      } finally {
        await g.close();
      }
      const opened = await openLlamaModel(out);
      expect(opened.tokenizer).not.toBeNull();
      await opened.weights.close();

      const { logits, quantized } = await logitsOf(out);
      // 6 layers × 7 projections; the LM head is the tied embedding table, dequantized at load
      expect(quantized).toEqual({ [type.toLowerCase()]: 42 });
      let diff = 0;
      let norm = 0;
      for (let i = 0; i < source.length; i++) {
        diff += (logits[i]! - source[i]!) ** 2;
        norm += source[i]! ** 2;
      }
      const change = Math.sqrt(diff / norm);
      console.log(`${scheme}: ‖logits − source‖ / ‖source‖ = ${change.toExponential(2)}`);
      expect(change).toBeLessThan(bound);
    });
  }

  it('q4km: writes the Q4_K_M mix, which loads quantized (38 Q4_K, 4 Q6_K), logits within 20 % (RMS)', async () => {
    const out = join(dir, 'q4km');
    const r = await quantizeLlamaCheckpoint(builtinModelPath(), 'q4km', out);
    expect(r.file).toBe(join(out, 'model.q4_k_m.gguf'));
    const g = await GgufFile.open(r.file);
    try {
      expect(g.metadata.get('general.file_type')).toBe(15);
    } finally {
      await g.close();
    }
    const { logits, quantized } = await logitsOf(out);
    // the mix itself is checked in gguf-q4-k-m.test.ts: V and down of layers 2 and 5 are Q6_K
    expect(quantized).toEqual({ q4_k: 38, q6_k: 4 });
    let diff = 0;
    let norm = 0;
    for (let i = 0; i < source.length; i++) {
      diff += (logits[i]! - source[i]!) ** 2;
      norm += source[i]! ** 2;
    }
    const change = Math.sqrt(diff / norm);
    console.log(`q4km: ‖logits − source‖ / ‖source‖ = ${change.toExponential(2)}`);
    expect(change).toBeLessThan(0.2);
  });
});
