/**
 * The `rag` extension of chat completions through the official `openai` SDK (extra body fields):
 * the passages returned under `rag` are those float64 exact search gives for the pipeline's query
 * (nprobe = nlist), the answer's prompt carries them, and malformed `rag` fields are 400s. First
 * over the toy test model (always runs), then over the built-in model on the GPU with lookahead,
 * streamed with FLARE too (the streaming itself is tested in rag-stream.test.ts).
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/engine/engine.js';
import { engineTokenizer } from '../../src/models/engine-tokenizer.js';
import { openLlamaModel } from '../../src/models/llama/llama-family.js';
import { LlamaRunner } from '../../src/models/llama/llama-runner.js';
import { GpuClusterCache, type TextStore } from '../../src/rag/index.js';
import { startServer, type RunningServer } from '../../src/server/node-server.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { gpuBackend, gpuSkipReason } from '../gpu-setup.js';
import { exactIds, tinyEmbedder, tinyStore } from '../rag/tiny-corpus.js';
import { startTestServer, type TestServer } from './helpers.js';

const seed = testSeed();
const embed = tinyEmbedder(seed);
afterAll(() => console.log(`rag chat: ${seedNote(seed)}`));

interface RagReply {
  rag: {
    store: string;
    pipeline: string;
    queries: string[];
    drafts: string[];
    passages: { id: number; text: string; source: string; distance: number }[];
  };
}

type Body = OpenAI.Chat.ChatCompletionCreateParamsNonStreaming;
const ask = (client: OpenAI, model: string, extra: Record<string, unknown>, content = 'the kitten and the mouse') =>
  client.chat.completions.create({
    model,
    messages: [{ role: 'user', content }],
    max_tokens: 6,
    temperature: 0,
    ...extra,
  } as Body) as Promise<OpenAI.Chat.ChatCompletion & Partial<RagReply>>;

async function status(p: Promise<unknown>): Promise<number | undefined> {
  try {
    await p;
    return 200;
  } catch (e) {
    return (e as { status?: number }).status;
  }
}

describe(`chat completions with rag, toy model (${seedNote(seed)})`, () => {
  let server: TestServer;
  let store: TextStore;
  beforeAll(async () => {
    store = await tinyStore(seed, embed);
    server = await startTestServer({ server: { rag: [{ name: 'facts', store, embed, nprobe: store.ivf.nlist }] } });
  });
  afterAll(async () => server?.close());

  it('plain: returns the exact top-k passages and grounds the prompt in them', async () => {
    const { client, modelName } = { client: server.client, modelName: server.model.modelName };
    const r = await ask(client, modelName, { rag: { store: 'facts', pipeline: 'plain', k: 3 } });
    expect(r.object).toBe('chat.completion');
    expect(r.rag!.store).toBe('facts');
    expect(r.rag!.queries).toEqual(['the kitten and the mouse']);
    expect(r.rag!.passages.map((p) => p.id)).toEqual(await exactIds(store, embed, 'the kitten and the mouse', 3));
    for (const p of r.rag!.passages) expect(p.text).toBe(store.passages[p.id]!.text);
    const bare = await ask(client, modelName, {});
    expect(bare.rag).toBeUndefined();
    const passageTokens = r.rag!.passages.reduce((n, p) => n + server.model.tokenizer.encode(p.text).length, 0);
    expect(r.usage!.prompt_tokens).toBeGreaterThanOrEqual(bare.usage!.prompt_tokens + passageTokens);
  });

  it('hyde and iter-retgen: the passages are exact search of the last query the pipeline made', async () => {
    for (const pipeline of ['hyde', 'iter-retgen']) {
      const r = await ask(server.client, server.model.modelName, { rag: { store: 'facts', pipeline, k: 2 } });
      expect(r.rag!.pipeline).toBe(pipeline);
      expect(r.rag!.drafts).toHaveLength(1);
      expect(r.rag!.queries.at(-1)).toBe(`the kitten and the mouse ${r.rag!.drafts[0]}`);
      expect(r.rag!.passages.map((p) => p.id)).toEqual(await exactIds(store, embed, r.rag!.queries.at(-1)!, 2));
    }
  });

  it('rejects an unknown store, pipeline or sub-field with 400', async () => {
    const m = server.model.modelName;
    expect(await status(ask(server.client, m, { rag: { store: 'nope' } }))).toBe(400);
    expect(await status(ask(server.client, m, { rag: { store: 'facts', pipeline: 'rag-fusion' } }))).toBe(400);
    expect(await status(ask(server.client, m, { rag: { store: 'facts', top: 3 } }))).toBe(400);
    expect(await status(ask(server.client, m, { rag: { store: 'facts', k: 0 } }))).toBe(400);
    expect(await status(ask(server.client, m, { rag: { store: 'facts' }, max_token: 3 }))).toBe(400);
    expect(await status(ask(server.client, m, { rag: 'facts' }))).toBe(400);
  });

  it('is an unrecognized argument on a server without stores', async () => {
    const plain = await startTestServer();
    try {
      const err = await ask(plain.client, plain.model.modelName, { rag: { store: 'facts' } }).catch((e) => e);
      expect(err.status).toBe(400);
      expect(String(err.message)).toContain('Unrecognized request argument supplied: rag');
    } finally {
      await plain.close();
    }
  });
});

const gpu = await gpuBackend();

describe.skipIf(!gpu)(
  `chat completions with rag, built-in model and lookahead${gpu ? '' : ` (skipped: ${gpuSkipReason()})`} (${seedNote(seed)})`,
  () => {
    let server: RunningServer;
    let runner: LlamaRunner;
    let store: TextStore;
    let client: OpenAI;
    beforeAll(async () => {
      store = await tinyStore(seed, embed);
      const model = await openLlamaModel(new URL('../../models/builtin/', import.meta.url).pathname);
      runner = await LlamaRunner.load(model, {
        backend: gpu!,
        actDtype: 'f32',
        maxTokens: 256,
        maxSeqs: 2,
        numPages: 64,
      });
      const tokenizer = engineTokenizer(model.tokenizer!);
      await model.weights.close();
      const engine = new Engine(runner, tokenizer, { maxBatchTokens: 256, maxRunningSeqs: 2 });
      const cache = new GpuClusterCache(gpu!, store.ivf, 1 << 20);
      server = await startServer({
        engine,
        tokenizer,
        modelName: 'tessera-builtin',
        rag: [{ name: 'facts', store, embed, nprobe: store.ivf.nlist, cache }],
      });
      client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    }, 300_000);
    afterAll(async () => {
      await server?.close();
      runner?.destroy();
    });

    it('answers with HyDE over the store, passages returned under rag', async () => {
      const r = await ask(client, 'tessera-builtin', { rag: { store: 'facts', pipeline: 'hyde', k: 3 } });
      console.log(
        `[rag chat] draft ${JSON.stringify(r.rag!.drafts[0])}, answer ${JSON.stringify(r.choices[0]!.message.content)}`,
      );
      expect(typeof r.choices[0]!.message.content).toBe('string');
      // the tiny model may stop at once; that the passages reached its prompt is what is checked
      const bare = await ask(client, 'tessera-builtin', {});
      expect(r.usage!.prompt_tokens).toBeGreaterThan(bare.usage!.prompt_tokens + 3 * 5);
      const want = await exactIds(store, embed, r.rag!.queries[0]!, 3);
      expect(new Set(r.rag!.passages.map((p) => p.id))).toEqual(new Set(want));
    }, 300_000);

    it('streams FLARE over the store: the sources first, with a lookahead hit rate in [0, 1]', async () => {
      const stream = (await client.chat.completions.create({
        model: 'tessera-builtin',
        messages: [{ role: 'user', content: 'the kitten and the mouse' }],
        max_tokens: 6,
        temperature: 0,
        stream: true,
        rag: { store: 'facts', pipeline: 'flare', k: 3 },
      } as never)) as unknown as AsyncIterable<OpenAI.Chat.ChatCompletionChunk & Partial<RagReply>>;
      const chunks = [];
      for await (const c of stream) chunks.push(c);
      const sources = chunks[0]!.rag! as RagReply['rag'] & { hit_rate: number };
      console.log(`[rag chat] streamed flare: ${sources.queries.length} retrievals, hit rate ${sources.hit_rate}`);
      expect(chunks[0]!.choices).toEqual([]);
      expect(chunks.slice(1).every((c) => c.rag === undefined)).toBe(true);
      expect(sources.hit_rate).toBeGreaterThanOrEqual(0);
      expect(sources.hit_rate).toBeLessThanOrEqual(1);
      const union = new Set((await Promise.all(sources.queries.map((q) => exactIds(store, embed, q, 3)))).flat());
      expect(sources.passages.length).toBe(3);
      expect(sources.passages.every((p) => union.has(p.id))).toBe(true);
    }, 300_000);
  },
);
