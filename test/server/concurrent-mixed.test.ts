/**
 * Concurrency regression over the real built-in model on WebGPU (lavapipe in CI): rounds of five
 * concurrent requests of mixed prompt lengths, so prefill chunks and decode steps of different
 * shapes alternate and recorded decode streams meet transient prefill steps of the same token
 * count. Every request must succeed (zero 5xx), streamed or not, and `/health` must stay ok.
 *
 * The defect this guards: step scratch buffers were cached by token count and freed by a prefill
 * step while a recorded decode stream of the same count still bound them
 * ("[Buffer "step.lse"] used in submit while destroyed").
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/engine/engine.js';
import { openLlamaModel } from '../../src/models/llama/llama-family.js';
import { engineTokenizer } from '../../src/models/engine-tokenizer.js';
import { LlamaRunner } from '../../src/models/llama/llama-runner.js';
import { startServer, type RunningServer } from '../../src/server/node-server.js';
import { gpuBackend } from '../gpu-setup.js';

const dir = new URL('../../models/builtin/', import.meta.url).pathname;
const backend = await gpuBackend();
const ROUNDS = 2;
const words =
  'the jury said that the city of atlanta had been praised for the manner in which the election was conducted'.split(
    ' ',
  );
/** Prompt lengths chosen so that prefill token counts (5, 3, 4, 2…) equal decode batch sizes seen in other rounds. */
const promptOf = (round: number, i: number) => words.slice(0, 1 + ((round * 5 + i * 3) % 9)).join(' ');

describe.skipIf(!backend)('concurrent mixed batches on the built-in model (WebGPU)', () => {
  let server: RunningServer;
  let client: OpenAI;
  let runner: LlamaRunner;

  beforeAll(async () => {
    const model = await openLlamaModel(dir);
    // small step budget: prompts are split into chunks, so chunk and decode shapes interleave
    runner = await LlamaRunner.load(model, {
      backend: backend!,
      actDtype: 'f32',
      maxTokens: 16,
      maxSeqs: 8,
      numPages: 64,
    });
    const tokenizer = engineTokenizer(model.tokenizer!);
    await model.weights.close();
    const engine = new Engine(runner, tokenizer, { maxBatchTokens: 16, maxRunningSeqs: 8, seed: 5 });
    server = await startServer({ engine, tokenizer, modelName: 'tessera-builtin' });
    client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  });
  afterAll(async () => {
    await server?.close();
    runner?.destroy();
  });

  it(`serves ${ROUNDS} rounds of 5 concurrent mixed requests with zero failures`, async () => {
    const failures: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const jobs = Array.from({ length: 5 }, async (_, i) => {
        // staggered arrivals: later prompts are prefilled while earlier ones decode
        await new Promise((r) => setTimeout(r, 40 * i));
        const prompt = promptOf(round, i);
        const max_tokens = 3 + ((round + i) % 4) * 2;
        try {
          if ((round + i) % 2 === 0) {
            const r = await client.completions.create({
              model: 'tessera-builtin',
              prompt,
              max_tokens,
              temperature: 0.7,
              seed: round * 10 + i,
            });
            if (!r.usage || r.usage.completion_tokens < 1) failures.push(`round ${round} #${i}: no tokens`);
          } else {
            const stream = await client.completions.create({
              model: 'tessera-builtin',
              prompt,
              max_tokens,
              temperature: 0,
              stream: true,
            });
            let finish: string | null = null;
            for await (const ch of stream) finish = ch.choices[0]?.finish_reason ?? finish;
            if (!finish) failures.push(`round ${round} #${i}: stream ended without finish_reason`);
          }
        } catch (e) {
          failures.push(`round ${round} #${i} (${prompt.split(' ').length} words): ${(e as Error).message}`);
        }
      });
      await Promise.all(jobs);
    }
    expect(failures).toEqual([]);
    const health = await fetch(`${server.url}/health`);
    expect(health.status).toBe(200);
    expect(((await health.json()) as { status: string }).status).toBe('ok');
  });
});
