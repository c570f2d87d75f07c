import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import type { Backend } from '../../src/backends/backend.js';
import { CpuBackend } from '../../src/backends/cpu/cpu-backend.js';
import { openModel } from '../../src/io/open-model.js';
import { LlamaRunner } from '../../src/models/llama/llama-runner.js';
import { gpuBackend } from '../gpu-setup.js';

const dir = new URL('../../models/builtin/', import.meta.url).pathname;
const reference = JSON.parse(readFileSync(`${dir}reference.json`, 'utf8')) as {
  references: { prompt: string; ids: number[]; greedy: number[]; lastLogitsHead: number[]; lastLogitsArgmax: number }[];
};
const gpu = await gpuBackend();

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

describe('built-in model against PyTorch (reference.json)', () => {
  const backends: [string, () => Backend | null][] = [
    ['webgpu', () => gpu],
    ['cpu', () => new CpuBackend()],
  ];
  for (const [name, make] of backends) {
    it.skipIf(name === 'webgpu' && !gpu)(`${name}: last-position logits and greedy tokens match`, async () => {
      const backend = make()!;
      const model = await openModel(dir);
      const runner = await LlamaRunner.load(model, {
        backend,
        actDtype: 'f32',
        maxTokens: 64,
        maxSeqs: 4,
        numPages: 16,
      });
      await model.weights.close();
      const ref = reference.references[0]!;
      const steps = name === 'cpu' ? 4 : 12;
      const { tokens, first } = await greedy(runner, ref.ids, steps);
      const head = [...first.slice(0, 16)];
      const scale = Math.max(...ref.lastLogitsHead.map(Math.abs));
      head.forEach((v, i) =>
        expect(Math.abs(v - ref.lastLogitsHead[i]!), `logit ${i}`).toBeLessThan(2e-3 * scale + 1e-3),
      );
      expect(tokens).toEqual(ref.greedy.slice(0, steps));
      runner.destroy();
    });
  }
});
