/**
 * Streamed chat completions with `rag` through the official `openai` SDK: the first chunk carries
 * the sources (`choices: []`, the `rag` extension field, the stream's id), the chunks after it
 * spell the same answer as the non-streamed reply to the same greedy request, and the sources equal
 * float64 exact search of the pipeline's query (nprobe = nlist). A client that leaves mid-answer
 * cancels the answer; one that leaves while the pipeline is still drafting cancels the pipeline
 * before the answer starts.
 */
import type OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TextStore } from '../../src/rag/index.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { exactIds, tinyEmbedder, tinyStore } from '../rag/tiny-corpus.js';
import { startTestServer, type TestServer } from './helpers.js';

const seed = testSeed();
const embed = tinyEmbedder(seed);
afterAll(() => console.log(`rag stream: ${seedNote(seed)}`));

interface Sources {
  pipeline: string;
  queries: string[];
  drafts: string[];
  passages: { id: number; text: string }[];
  hit_rate: number | null;
}
type Chunk = OpenAI.Chat.ChatCompletionChunk & { rag?: Sources };
type Reply = OpenAI.Chat.ChatCompletion & { rag?: Sources };

async function until(what: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!what()) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

const QUESTION = 'the kitten and the mouse';

function request(model: string, rag: Record<string, unknown>, maxTokens = 8) {
  return {
    model,
    messages: [{ role: 'user' as const, content: QUESTION }],
    max_tokens: maxTokens,
    temperature: 0,
    rag,
  };
}

describe(`streamed chat completions with rag, toy model (${seedNote(seed)})`, () => {
  let server: TestServer;
  let slow: TestServer;
  let store: TextStore;
  beforeAll(async () => {
    store = await tinyStore(seed, embed);
    const rag = [{ name: 'facts', store, embed, nprobe: store.ivf.nlist }];
    server = await startTestServer({ server: { rag } });
    slow = await startTestServer({ runner: { stepDelayMs: 10 }, server: { rag } });
  });
  afterAll(async () => {
    await server?.close();
    await slow?.close();
  });

  it('sends the sources first, then the answer the non-streamed reply gives', async () => {
    for (const pipeline of ['plain', 'hyde', 'subq', 'flare']) {
      const body = request(server.model.modelName, { store: 'facts', pipeline, k: 2 });
      const stream = await server.client.chat.completions.create({ ...body, stream: true } as never);
      const chunks: Chunk[] = [];
      for await (const c of stream as unknown as AsyncIterable<Chunk>) chunks.push(c);
      const [first, ...rest] = chunks;
      expect(first!.choices).toEqual([]);
      expect(first!.rag!.pipeline).toBe(pipeline);
      expect(rest.every((c) => c.rag === undefined && c.id === first!.id)).toBe(true);
      expect(first!.rag!.hit_rate).toBeNull();
      if (pipeline === 'plain' || pipeline === 'hyde')
        expect(first!.rag!.passages.map((p) => p.id)).toEqual(
          await exactIds(store, embed, first!.rag!.queries.at(-1)!, 2),
        );
      const text = rest.flatMap((c) => c.choices.map((ch) => ch.delta.content ?? '')).join('');
      const finish = rest.flatMap((c) => c.choices.map((ch) => ch.finish_reason)).filter(Boolean);
      const json = (await server.client.chat.completions.create(body as never)) as Reply;
      console.log(`[rag stream] ${pipeline}: ${chunks.length} chunks, answer ${JSON.stringify(text)}`);
      expect(json.rag).toEqual(first!.rag);
      expect(text).toBe(json.choices[0]!.message.content);
      expect(finish).toEqual([json.choices[0]!.finish_reason]);
    }
  });

  it('a client that leaves mid-answer cancels the answer', async () => {
    const before = slow.engine.stats().generatedTokens;
    const body = request(slow.model.modelName, { store: 'facts', pipeline: 'plain', k: 2 }, 900);
    const stream = await slow.client.chat.completions.create({ ...body, stream: true } as never);
    let chunks = 0;
    let sources: Sources | undefined;
    for await (const c of stream as unknown as AsyncIterable<Chunk>) {
      sources ??= c.rag;
      if (++chunks === 4) break; // leaving the loop aborts the HTTP response
    }
    expect(sources?.passages).toHaveLength(2);
    await until(() => slow.engine.stats().runningSequences === 0 && slow.state.activeRequests === 0);
    expect(slow.engine.stats().pagesUsed).toBe(0);
    expect(slow.engine.stats().generatedTokens - before).toBeLessThan(300);
  });

  it('a client that leaves while the pipeline drafts cancels it before the answer starts', async () => {
    const before = slow.engine.stats().generatedTokens;
    const body = request(slow.model.modelName, { store: 'facts', pipeline: 'hyde', k: 2 }, 900);
    const stream = await slow.client.chat.completions.create({ ...body, stream: true } as never);
    // the headers are out; the draft (48 tokens at 10 ms a step) is still being written
    await until(() => slow.engine.stats().generatedTokens > before);
    (stream as unknown as { controller: AbortController }).controller.abort();
    await until(() => slow.engine.stats().runningSequences === 0);
    const after = slow.engine.stats().generatedTokens;
    await new Promise((r) => setTimeout(r, 300));
    expect(slow.engine.stats().generatedTokens).toBe(after);
    expect(after - before).toBeLessThan(48);
    expect(slow.state.activeRequests).toBe(0);
  });
});
