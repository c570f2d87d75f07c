/**
 * The engine's long-context mode over the built-in model (CPU backend): a long prompt past the
 * threshold decodes greedily with its older pages moved to the runner's CPU store (so the GPU holds
 * sinks + window); with every key a candidate (K = 0) the tokens are those of the engine without
 * the mode, the CPU bytes are accounted and released, and a budget too small for the store keeps
 * the pages on the GPU instead.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CpuBackend } from '../../src/backends/cpu/cpu-backend.js';
import { Engine, type EngineOptions } from '../../src/engine/engine.js';
import { engineTokenizer } from '../../src/models/engine-tokenizer.js';
import { openLlamaModel } from '../../src/models/llama/llama-family.js';
import { LlamaRunner } from '../../src/models/llama/llama-runner.js';
import { builtinModelPath } from '../../src/models/load-model.js';
import { Rng } from '../../src/util/rng.js';

const SEED = 20261217;
const P = 16;
let runner: LlamaRunner;
let tokenizer: ReturnType<typeof engineTokenizer>;

beforeAll(async () => {
  const model = await openLlamaModel(builtinModelPath());
  runner = await LlamaRunner.load(model, {
    backend: new CpuBackend(),
    actDtype: 'f32',
    maxTokens: 512,
    maxSeqs: 2,
    numPages: 40,
    pageSize: P,
  });
  tokenizer = engineTokenizer(model.tokenizer!);
  await model.weights.close();
});
afterAll(() => runner?.destroy());

async function generate(prompt: number[], maxTokens: number, options: EngineOptions) {
  const engine = new Engine(runner, tokenizer, { seed: 1, prefixCaching: false, ...options });
  let peakCpu = 0;
  const req = await engine.submit(prompt, { temperature: 0, maxTokens, ignoreEos: true });
  const watch = setInterval(() => {
    peakCpu = Math.max(peakCpu, engine.stats().longContextCpuBytes);
  }, 1);
  const result = await req.result;
  clearInterval(watch);
  const stats = { ...engine.stats(), moved: engine.longContext?.stats };
  expect(engine.failed).toBeNull();
  await engine.shutdown();
  return { tokens: result.choices[0]!.tokens.map((t) => t.id), stats, peakCpu };
}

describe(`engine long-context mode (built-in model, CPU backend, seed ${SEED})`, () => {
  const rng = new Rng(SEED);
  const prompt = Array.from({ length: 280 }, () => rng.int(3, 4000));
  const N = 40;

  it('K = 0: the tokens of exact attention, with the GPU pages of sinks + window only', async () => {
    const exact = await generate(prompt, N, {});
    const lc = await generate(prompt, N, {
      longContext: { threshold: 200, K: 0, L: 2, sinks: P, window: 4 * P },
    });
    console.log(
      `exact ${exact.tokens.slice(0, 12).join(' ')}…; long-context moved ${lc.stats.moved!.movedPages} pages, peak CPU store ${lc.peakCpu} B`,
    );
    expect(lc.tokens).toEqual(exact.tokens);
    expect(lc.stats.moved!.movedPages).toBeGreaterThanOrEqual(Math.floor((prompt.length + N) / P) - 1 - 4 - 1);
    expect(lc.peakCpu).toBeGreaterThan(0);
    // finished: the store is released
    expect(lc.stats.longContextCpuBytes).toBe(0);
    expect(runner.longContext.bytes()).toBe(0);
  });

  it('K = 4, L = 32 and the baselines run through the engine; a CPU budget too small keeps the pages', async () => {
    const exact = await generate(prompt, 12, {});
    const agree = (t: number[]) => t.filter((x, i) => x === exact.tokens[i]).length / t.length;
    for (const longContext of [
      { threshold: 200, K: 4, L: 32, sinks: P, window: 4 * P, seed: SEED },
      { threshold: 200, K: 0, L: 2, sinks: P, window: 4 * P, policy: { kind: 'topk', k: 32 } as const },
      { threshold: 200, K: 0, L: 2, sinks: P, window: 4 * P, policy: { kind: 'streaming' } as const },
    ]) {
      const r = await generate(prompt, 12, { longContext });
      console.log(
        `${longContext.policy?.kind ?? 'magicpig'}: greedy tokens agree with exact on ${agree(r.tokens).toFixed(2)}`,
      );
      expect(r.stats.moved!.movedPages).toBeGreaterThan(0);
    }
    const tight = await generate(prompt, 12, {
      longContext: { threshold: 200, K: 4, L: 32, sinks: P, window: 4 * P, cpuBytes: 1000 },
    });
    expect(tight.stats.moved!.movedPages).toBe(0);
    expect(tight.stats.moved!.refusedMoves).toBeGreaterThan(0);
    expect(tight.tokens).toEqual(exact.tokens);
  });
});
