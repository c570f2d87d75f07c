/**
 * `tessera serve` wires each chat model's loader into recovery: when a model's `lost` resolves,
 * the server calls that model's `reload`, starts an engine with the options of the first
 * (here --prefill-chunk-tokens), releases the lost one, and serves again; a model on another
 * device serves throughout. The GPU path itself is device-loss.test.ts; here the loss is a promise.
 */
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { type LoadedModel, serveModel, type ServeOptions } from '../../src/cli/serve.js';
import { Engine } from '../../src/engine/engine.js';
import { startServer } from '../../src/server/node-server.js';
import { loadTestModel } from '../engine/test-model.js';
import { TEST_SERVE_OPTIONS } from './serve-test-options.js';

const options: ServeOptions = { ...TEST_SERVE_OPTIONS, maxQueue: '4', prefillChunkTokens: '8', prefixCache: false };

/** A toy model whose device loss the test triggers, and whose reloads it counts. */
async function losableModel(name: string) {
  const log = { reloads: 0, disposed: 0 };
  let lose!: (e: Error) => void;
  const lost = new Promise<Error>((r) => (lose = r));
  const reload = async (): Promise<LoadedModel> => {
    log.reloads++;
    return { ...(await loadTestModel()), modelName: name, lost: new Promise<Error>(() => {}) };
  };
  const model: LoadedModel = {
    ...(await loadTestModel()),
    modelName: name,
    lost,
    reload,
    dispose: () => log.disposed++,
  };
  return { model, lose, log };
}

async function health(url: string) {
  const res = await fetch(`${url}/health/ready`);
  return {
    status: res.status,
    body: (await res.json()) as { status: string; models: { id: string; status: string }[] },
  };
}

describe('tessera serve: recovery wiring', () => {
  it('reloads the lost model with the same engine options while the other one serves', async () => {
    const first = await losableModel('tessera-toy');
    const second = await losableModel('second-chat');
    const server = await serveModel(first.model, options, [second.model]);
    const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const ask = (model: string) =>
      client.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 3 });
    try {
      const [firstModel, secondModel] = server.state.models.chatModels();
      const engineBefore = secondModel!.engine;
      second.lose(new Error('the GPU device was lost (unknown: simulated)'));
      await new Promise((r) => setTimeout(r, 0));
      const during = await health(server.url);
      expect(during.status).toBe(503);
      expect(during.body.models.map((m) => [m.id, m.status])).toEqual([
        ['tessera-toy', 'ok'],
        ['second-chat', 'recovering'],
      ]);
      await expect(ask('second-chat')).rejects.toMatchObject({ status: 503, code: 'model_recovering' });
      expect((await ask('tessera-toy')).choices[0]!.finish_reason).toBe('length');

      const t0 = performance.now();
      while ((await health(server.url)).status !== 200) {
        if (performance.now() - t0 > 20_000) throw new Error('the model did not come back');
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(second.log).toEqual({ reloads: 1, disposed: 1 });
      expect(first.log).toEqual({ reloads: 0, disposed: 0 });
      expect(secondModel!.engine).not.toBe(engineBefore);
      expect(secondModel!.engine.scheduler.config.prefillChunkTokens).toBe(8);
      expect(firstModel!.engine.scheduler.config.prefillChunkTokens).toBe(8);
      expect((await ask('second-chat')).usage!.completion_tokens).toBe(3);
    } finally {
      await server.close();
    }
  }, 60_000);

  it('a model without a loss promise (the CPU backend) is served without recovery', async () => {
    const server = await serveModel(await loadTestModel(), options);
    try {
      expect(server.state.models.chatModels()[0]!.recovery).toBeNull();
    } finally {
      await server.close();
    }
  });

  it('a model whose reloads all fail stays not-ready with the reason; 503 model_unavailable', async () => {
    const toy = await loadTestModel();
    let attempts = 0;
    let lose!: (e: Error) => void;
    const server = await startServer({
      engine: new Engine(toy.runner, toy.tokenizer, { seed: 3 }),
      tokenizer: toy.tokenizer,
      modelName: toy.modelName,
      recovery: {
        lost: new Promise<Error>((r) => (lose = r)),
        reload: async () => {
          attempts++;
          throw new Error('requestAdapter() returned null');
        },
      },
      recoveryPolicy: { maxAttempts: 2, backoffMs: 1 },
    });
    const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    try {
      lose(new Error('the GPU device was lost (unknown: simulated)'));
      await new Promise((r) => setTimeout(r, 0));
      await server.state.models.chatModels()[0]!.recovery!.settled();
      expect(attempts).toBe(2);
      const h = await health(server.url);
      expect(h.status).toBe(503);
      expect(h.body.status).toBe('failing');
      expect((h.body as unknown as { error: string }).error).toBe(
        'the GPU device was lost (unknown: simulated); gave up after 2 reload attempts, the last failed with: requestAdapter() returned null',
      );
      const refused = await client.chat.completions
        .create({ model: toy.modelName, messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 })
        .catch((e: unknown) => e);
      expect(refused).toMatchObject({ status: 503, code: 'model_unavailable' });
    } finally {
      await server.close();
    }
  });
});
