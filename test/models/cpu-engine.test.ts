/**
 * The engine over the built-in model on the CPU backend (what `npm start` runs without a GPU):
 * decode steps are not recorded there, so the runner must not offer the GPU-resident loop, and a
 * greedy request must still produce the float64 oracle's tokens. The defect this guards: the runner
 * offered `submitDecode` everywhere and threw on the CPU backend, which failed the engine.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CpuBackend } from '../../src/backends/cpu/cpu-backend.js';
import { Engine } from '../../src/engine/engine.js';
import { engineTokenizer } from '../../src/models/engine-tokenizer.js';
import { openLlamaModel } from '../../src/models/llama/llama-family.js';
import { LlamaRunner } from '../../src/models/llama/llama-runner.js';
import { builtinModelPath } from '../../src/models/load-model.js';

const reference = JSON.parse(readFileSync(`${builtinModelPath()}/reference.json`, 'utf8')) as {
  references: { ids: number[]; greedyFloat64: number[] }[];
};

describe('engine on the CPU backend', () => {
  it('serves a greedy request without the resident loop and draws the oracle tokens', async () => {
    const model = await openLlamaModel(builtinModelPath());
    const runner = await LlamaRunner.load(model, {
      backend: new CpuBackend(),
      actDtype: 'f32',
      maxTokens: 64,
      maxSeqs: 2,
      numPages: 16,
    });
    const tokenizer = engineTokenizer(model.tokenizer!);
    await model.weights.close();
    expect(runner.submitDecode).toBeUndefined();
    const engine = new Engine(runner, tokenizer, { seed: 1 });
    const ref = reference.references[0]!;
    const req = await engine.submit(ref.ids, { temperature: 0, maxTokens: 3, ignoreEos: true });
    const result = await req.result;
    expect(result.choices[0]!.tokens.map((t) => t.id)).toEqual(ref.greedyFloat64.slice(0, 3));
    expect(engine.failed).toBeNull();
    await engine.shutdown();
    runner.destroy();
  });
});
