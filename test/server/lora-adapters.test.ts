/**
 * LoRA adapters served end to end through the official `openai` SDK on the built-in model: two
 * random adapters of ranks 4 and 8 (seeds printed), added at run time through POST /v1/adapters
 * behind the API key. A batch of concurrent requests for the base model and both adapters gives
 * every request the greedy tokens it gets when served alone; removing an adapter makes its name
 * unknown. Logits of base+adapter against merged float64 weights: test/lora/llama-lora-runner.test.ts.
 *
 * The CPU backend keeps the run short and deterministic; the WebGPU path of the same runner code is
 * checked by the runner test.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CpuBackend } from '../../src/backends/cpu/cpu-backend.js';
import { Engine } from '../../src/engine/engine.js';
import { writeRandomPeftAdapter } from '../../src/lora/random-adapter.js';
import { loraShapesOf } from '../../src/models/llama/adapter-graph.js';
import { engineTokenizer } from '../../src/models/engine-tokenizer.js';
import { openLlamaModel } from '../../src/models/llama/llama-family.js';
import { LlamaRunner } from '../../src/models/llama/llama-runner.js';
import { type RunningServer, startServer } from '../../src/server/node-server.js';

const dir = new URL('../../models/builtin/', import.meta.url).pathname;
const SEED = 4242;
const KEY = 'sk-lora-test';
const tmp = mkdtempSync(join(tmpdir(), 'tessera-lora-api-'));

describe('LoRA adapters over the OpenAI API (built-in model, CPU backend)', () => {
  let server: RunningServer;
  let client: OpenAI;
  let runner: LlamaRunner;
  const admin = (method: string, path: string, body?: unknown, key: string | null = KEY) =>
    fetch(`${server.url}${path}`, {
      method,
      headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });

  beforeAll(async () => {
    console.log(`[lora api] adapter seeds ${SEED} (rank 4), ${SEED + 1} (rank 8)`);
    const model = await openLlamaModel(dir);
    const shapes = loraShapesOf(model.config);
    await writeRandomPeftAdapter(join(tmp, 'a'), shapes, {
      rank: 4,
      targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
      seed: SEED,
    });
    await writeRandomPeftAdapter(join(tmp, 'b'), shapes, {
      rank: 8,
      targets: ['q_proj', 'v_proj', 'down_proj'],
      seed: SEED + 1,
    });
    runner = await LlamaRunner.load(model, {
      backend: new CpuBackend(),
      actDtype: 'f32',
      maxTokens: 64,
      maxSeqs: 8,
      numPages: 64,
      lora: { slots: 2, rmax: 8 },
    });
    const tokenizer = engineTokenizer(model.tokenizer!);
    await model.weights.close();
    const engine = new Engine(runner, tokenizer, { maxBatchTokens: 64, maxRunningSeqs: 8, seed: 5 });
    server = await startServer({ engine, tokenizer, modelName: 'tessera-builtin', apiKey: KEY });
    client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: KEY, maxRetries: 0 });
  });
  afterAll(async () => {
    await server?.close();
    runner?.destroy();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('adds adapters at run time behind the API key, with clear 4xx errors', async () => {
    expect((await admin('POST', '/v1/adapters', { name: 'a', path: join(tmp, 'a') }, null)).status).toBe(401);
    const added = await admin('POST', '/v1/adapters', { name: 'a', path: join(tmp, 'a') });
    expect(added.status).toBe(201);
    expect(await added.json()).toMatchObject({ id: 'a', parent: 'tessera-builtin', rank: 4 });
    expect((await admin('POST', '/v1/adapters', { name: 'b', path: join(tmp, 'b') })).status).toBe(201);
    const dup = await admin('POST', '/v1/adapters', { name: 'a', path: join(tmp, 'a') });
    expect(dup.status).toBe(409);
    const missing = await admin('POST', '/v1/adapters', { name: 'c', path: join(tmp, 'nope') });
    expect(missing.status).toBe(400);
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe('invalid_adapter');
    expect((await admin('POST', '/v1/adapters', { path: join(tmp, 'a') })).status).toBe(400);
    const ids = (await client.models.list()).data.map((m) => m.id);
    expect(ids).toEqual(expect.arrayContaining(['tessera-builtin', 'a', 'b']));
  });

  it('a concurrent batch of base, rank-4 and rank-8 requests matches each served alone', async () => {
    const prompt = 'the jury said that the city';
    const models = ['tessera-builtin', 'tessera-builtin:a', 'b', 'a', 'tessera-builtin', 'tessera-builtin:b'];
    const run = async (model: string) =>
      (await client.completions.create({ model, prompt, max_tokens: 8, temperature: 0 })).choices[0]!.text;
    const alone: string[] = [];
    for (const m of models) alone.push(await run(m));
    const together = await Promise.all(models.map(run));
    console.log(
      `[lora api] greedy: base ${JSON.stringify(alone[0])}, a ${JSON.stringify(alone[1])}, b ${JSON.stringify(alone[2])}`,
    );
    expect(together).toEqual(alone);
    // the same adapter by either name
    expect(alone[3]).toBe(alone[1]);
    expect(alone[5]).toBe(alone[2]);
    // each adapter changes the model: a server ignoring them would fail here
    expect(alone[1]).not.toBe(alone[0]);
    expect(alone[2]).not.toBe(alone[0]);
  });

  it('a chat response names the model as asked: base:adapter, the adapter alone, or the base', async () => {
    const messages = [{ role: 'user' as const, content: 'the city' }];
    for (const model of ['tessera-builtin:a', 'a', 'tessera-builtin']) {
      const whole = await client.chat.completions.create({ model, messages, max_tokens: 3, temperature: 0 });
      expect(whole.model).toBe(model);
      const stream = await client.chat.completions.create({
        model,
        messages,
        max_tokens: 3,
        temperature: 0,
        stream: true,
        stream_options: { include_usage: true },
      });
      const names = new Set<string>();
      let text = '';
      for await (const chunk of stream) {
        names.add(chunk.model);
        text += chunk.choices[0]?.delta.content ?? '';
      }
      expect([...names]).toEqual([model]);
      expect(text).toBe(whole.choices[0]!.message.content);
    }
    const plain = await client.completions.create({ model: 'a', prompt: 'the', max_tokens: 2, temperature: 0 });
    expect(plain.model).toBe('a');
  });

  it('removes an adapter at run time; its name is then unknown', async () => {
    expect((await admin('DELETE', '/v1/adapters/b', undefined, null)).status).toBe(401);
    expect((await admin('DELETE', '/v1/adapters/b')).status).toBe(200);
    expect((await admin('DELETE', '/v1/adapters/b')).status).toBe(404);
    await expect(
      client.completions.create({ model: 'tessera-builtin:b', prompt: 'the', max_tokens: 2, temperature: 0 }),
    ).rejects.toMatchObject({ status: 404 });
    const ids = (await client.models.list()).data.map((m) => m.id);
    expect(ids).not.toContain('b');
    // the other adapter still serves
    const r = await client.completions.create({ model: 'a', prompt: 'the', max_tokens: 2, temperature: 0 });
    expect(r.choices[0]!.text.length).toBeGreaterThan(0);
  });
});
