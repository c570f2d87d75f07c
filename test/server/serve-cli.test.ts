import { Command } from 'commander';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { registerServeCommand, serveModel } from '../../src/cli/serve.js';
import { loadTestModel } from '../engine/test-model.js';

describe('tessera serve', () => {
  it('registers the command with its options', () => {
    const program = new Command();
    registerServeCommand(program, async () => loadTestModel());
    const serve = program.commands.find((c) => c.name() === 'serve')!;
    expect(serve).toBeDefined();
    const flags = serve.options.map((o) => o.long);
    for (const f of [
      '--host',
      '--port',
      '--api-key',
      '--max-concurrent',
      '--max-queue',
      '--timeout',
      '--max-batch-tokens',
      '--max-body-bytes',
      '--drain-timeout-s',
      '--cors',
      '--no-prefix-cache',
      '--no-structured-output',
    ])
      expect(flags).toContain(f);
  });

  it('serves a loaded model with the parsed options', async () => {
    const server = await serveModel(await loadTestModel(), {
      host: '127.0.0.1',
      port: '0',
      apiKey: 'k',
      maxConcurrent: '4',
      maxQueue: '2',
      timeout: '30',
      maxBatchTokens: '64',
      prefixCache: false,
      structuredOutput: false,
    });
    try {
      const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'k', maxRetries: 0 });
      const r = await client.chat.completions.create({
        model: 'tessera-toy',
        messages: [{ role: 'user', content: 'hi' }],
        max_tokens: 4,
      });
      expect(r.usage!.completion_tokens).toBe(4);
      expect(server.state.capacity).toBe(6);
      const err = await client.chat.completions
        .create({
          model: 'tessera-toy',
          messages: [{ role: 'user', content: 'hi' }],
          response_format: { type: 'json_object' },
        })
        .catch((e: unknown) => e);
      expect((err as InstanceType<typeof OpenAI.APIError>).status).toBe(400);
      await expect(
        serveModel(await loadTestModel(), {
          host: '127.0.0.1',
          port: '-1',
          maxConcurrent: '1',
          maxQueue: '1',
          timeout: '1',
          maxBatchTokens: '1',
          prefixCache: true,
          structuredOutput: true,
        }),
      ).rejects.toThrow(/--port/);
    } finally {
      await server.close();
    }
  });
});
