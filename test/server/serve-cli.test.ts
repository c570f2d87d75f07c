import { Command } from 'commander';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { registerServeCommand, serveModel } from '../../src/cli/serve.js';
import { loadServedModel } from '../../src/cli/load.js';
import { writeRandomBertCheckpoint } from '../../src/models/bert/random-checkpoint.js';
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
      '--prefill-chunk-tokens',
      '--max-body-bytes',
      '--drain-timeout-s',
      '--cors',
      '--no-prefix-cache',
      '--no-structured-output',
      '--model',
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

  it('collects --model repeatedly and serves every model under its own name, each chat model with its own engine', async () => {
    const program = new Command();
    let seen: string[] = [];
    registerServeCommand(program, async () => loadTestModel());
    program.commands[0]!.action((_path: string | undefined, o: { model: string[] }) => {
      seen = o.model;
    });
    await program.parseAsync(['node', 'tessera', 'serve', '--model', 'a', '--model', 'b']);
    expect(seen).toEqual(['a', 'b']);

    const dir = await mkdtemp(join(tmpdir(), 'tessera-serve-bert-'));
    const seed = 99;
    console.log(`[serve-cli] BERT checkpoint seed ${seed}`);
    await writeRandomBertCheckpoint(
      join(dir, 'mini-bert'),
      {
        hidden_size: 16,
        num_hidden_layers: 1,
        num_attention_heads: 2,
        intermediate_size: 32,
        max_position_embeddings: 32,
      },
      { seed },
    );
    const embed = await loadServedModel(join(dir, 'mini-bert'));
    expect(embed.kind).toBe('embedding');
    const second = { ...(await loadTestModel()), modelName: 'second-chat' };
    const options = { host: '127.0.0.1', port: '0', maxConcurrent: '4', maxQueue: '4', timeout: '30' };
    const server = await serveModel(
      await loadTestModel(),
      { ...options, maxBatchTokens: '64', prefixCache: false, structuredOutput: false },
      [second, embed],
    );
    try {
      const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
      const ids = [];
      for await (const m of client.models.list()) ids.push(m.id);
      expect(ids).toEqual(['tessera-toy', 'second-chat', 'mini-bert']);
      const chats = server.state.models.chatModels();
      expect(chats.map((m) => m.name)).toEqual(['tessera-toy', 'second-chat']);
      expect(chats[0]!.engine).not.toBe(chats[1]!.engine);
      const r = await client.chat.completions.create({
        model: 'second-chat',
        messages: [{ role: 'user', content: 'hi' }],
        max_tokens: 2,
      });
      expect(r.model).toBe('second-chat');
      const e = await client.embeddings.create({ model: 'mini-bert', input: ['hello', 'world'] });
      expect(e.data.map((d) => d.embedding.length)).toEqual([16, 16]);
    } finally {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
