import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import type { Backend } from '../../src/backends/backend.js';
import { CpuBackend } from '../../src/backends/cpu/cpu-backend.js';
import { openLlamaModel } from '../../src/models/llama/llama-family.js';
import { LlamaRunner } from '../../src/models/llama/llama-runner.js';
import { gpuBackend } from '../gpu-setup.js';

const dir = new URL('../../models/builtin/', import.meta.url).pathname;
const reference = JSON.parse(readFileSync(`${dir}reference.json`, 'utf8')) as {
  references: { prompt: string; ids: number[]; greedy: number[]; lastLogits: number[]; greedyFloat64: number[] }[];
};
const gpu = await gpuBackend();

/**
 * Largest logit error allowed, as a fraction of max|logit|, per backend: 3× the error measured on
 * 2026-12-06 against the float64 oracle (scripts/builtin-model/reference_float64.py, which agrees
 * with PyTorch's stored logits to 8.7e-5): WebGPU with f32 activations on lavapipe 2.82e-7; the
 * CPU backend's f32 WebAssembly kernels 5.09e-7 (measured 2026-12-07; f32 sums over K ≤ 768 in a
 * different order than the GPU's, so a few ulps of the logits' scale). A device that rounds differently may need its own measurement (the test
 * prints its error). A wrong RoPE θ (10000 → 10500) moves the logits by far more.
 */
const ERR_WEBGPU_MEASURED = 2.9e-7;
const ERR_CPU_MEASURED = 5.1e-7;

async function greedy(
  runner: LlamaRunner,
  ids: number[],
  steps: number,
): Promise<{ tokens: number[]; first: Float32Array }> {
  const pages = Array.from({ length: Math.ceil((ids.length + steps) / runner.pageSize) }, (_, i) => i);
  let logits = await runner.forward({ seqs: [{ tokens: ids, start: 0, pages }] });
  const first = logits;
  const out: number[] = [];
  for (let s = 0; s < steps; s++) {
    let best = 0;
    for (let i = 1; i < runner.vocabSize; i++) if (logits[i]! > logits[best]!) best = i;
    out.push(best);
    if (s + 1 < steps) logits = await runner.forward({ seqs: [{ tokens: [best], start: ids.length + s, pages }] });
  }
  return { tokens: out, first };
}

describe('built-in model against the float64 oracle and PyTorch (reference.json)', () => {
  const backends: [string, () => Backend | null, number][] = [
    ['webgpu', () => gpu, ERR_WEBGPU_MEASURED],
    ['cpu', () => new CpuBackend(), ERR_CPU_MEASURED],
  ];
  for (const [name, make, measured] of backends) {
    it.skipIf(name === 'webgpu' && !gpu)(
      `${name}: every prompt's full last-position logits and greedy tokens match`,
      async () => {
        const backend = make()!;
        const model = await openLlamaModel(dir);
        const runner = await LlamaRunner.load(model, {
          backend,
          actDtype: 'f32',
          maxTokens: 64,
          maxSeqs: 4,
          numPages: 16,
        });
        await model.weights.close();
        const steps = name === 'cpu' ? 4 : 12;
        let worst = 0;
        try {
          for (const ref of reference.references) {
            const { tokens, first } = await greedy(runner, ref.ids, steps);
            expect(first.length).toBe(ref.lastLogits.length);
            const scale = Math.max(...ref.lastLogits.map(Math.abs));
            let err = 0;
            first.forEach(
              (v, i) => (err = Math.max(err, Number.isNaN(v) ? Infinity : Math.abs(v - ref.lastLogits[i]!) / scale)),
            );
            worst = Math.max(worst, err);
            expect(tokens, `'${ref.prompt}'`).toEqual(ref.greedyFloat64.slice(0, steps));
            expect(tokens, `'${ref.prompt}' (PyTorch)`).toEqual(ref.greedy.slice(0, steps));
          }
        } finally {
          runner.destroy();
        }
        console.log(
          `${name}: worst logit error ${worst.toExponential(2)} of max|logit| over ${reference.references.length} prompts × ${reference.references[0]!.lastLogits.length} logits`,
        );
        expect(worst).toBeLessThanOrEqual(3 * measured);
      },
    );
  }
});
