/**
 * The server over the real built-in model (LlamaRunner on WebGPU; lavapipe in CI): greedy
 * completions served in one mixed batch equal PyTorch's greedy continuations (reference.json),
 * and the chat template, streaming, n > 1 and the prefix cache work on the real executor.
 */
import { readFileSync } from 'node:fs';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/engine/engine.js';
import type { EngineTokenizer } from '../../src/engine/tokenizer.js';
import { openLlamaModel } from '../../src/models/llama/llama-family.js';
import { engineTokenizer } from '../../src/models/engine-tokenizer.js';
import { LlamaRunner } from '../../src/models/llama/llama-runner.js';
import { startServer, type RunningServer } from '../../src/server/node-server.js';
import { gpuBackend } from '../gpu-setup.js';

const dir = new URL('../../models/builtin/', import.meta.url).pathname;
const reference = JSON.parse(readFileSync(`${dir}reference.json`, 'utf8')) as {
  references: { prompt: string; ids: number[]; greedy: number[] }[];
};
const backend = await gpuBackend();
const STEPS = 12;

describe.skipIf(!backend)('server over the built-in model', () => {
  let server: RunningServer;
  let client: OpenAI;
  let tokenizer: EngineTokenizer;
  let runner: LlamaRunner;

  beforeAll(async () => {
    const model = await openLlamaModel(dir);
    runner = await LlamaRunner.load(model, {
      backend: backend!,
      actDtype: 'f32',
      maxTokens: 128,
      maxSeqs: 8,
      numPages: 64,
    });
    tokenizer = engineTokenizer(model.tokenizer!);
    await model.weights.close();
    const engine = new Engine(runner, tokenizer, { maxBatchTokens: 128, maxRunningSeqs: 8 });
    server = await startServer({ engine, tokenizer, modelName: 'tessera-builtin' });
    client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  });
  afterAll(async () => {
    await server?.close();
    runner?.destroy();
  });

  it("greedy completions in one batch equal PyTorch's", async () => {
    const results = await Promise.all(
      reference.references.map((ref) =>
        client.completions.create({ model: 'tessera-builtin', prompt: ref.prompt, max_tokens: STEPS, temperature: 0 }),
      ),
    );
    results.forEach((r, i) =>
      expect(r.choices[0]!.text).toBe(tokenizer.decode(reference.references[i]!.greedy.slice(0, STEPS))),
    );
  });

  it('chat streaming, n > 1 and the prefix cache on the real executor', async () => {
    const system =
      'You answer questions about the news of the day in the plain style of a newspaper of 1961, in one or two sentences.';
    const req = {
      model: 'tessera-builtin',
      messages: [
        { role: 'system' as const, content: system },
        { role: 'user' as const, content: 'What did the jury say?' },
      ],
      max_tokens: 10,
      temperature: 0,
    };
    const full = await client.chat.completions.create(req);
    let streamed = '';
    for await (const c of await client.chat.completions.create({ ...req, stream: true }))
      streamed += c.choices[0]?.delta.content ?? '';
    expect(streamed).toBe(full.choices[0]!.message.content);
    // The second identical request reused the first one's full prompt pages.
    expect(full.usage!.prompt_tokens).toBeGreaterThan(2 * runner.pageSize);
    expect((await client.chat.completions.create(req)).usage!.prompt_tokens_details!.cached_tokens).toBeGreaterThan(0);
    const many = await client.chat.completions.create({ ...req, n: 3, temperature: 1, seed: 4 });
    expect(many.choices).toHaveLength(3);
    expect(many.usage!.completion_tokens).toBeGreaterThan(3);
  });
});
