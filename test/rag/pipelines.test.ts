/**
 * RAG pipelines as programs: the text datastore round-trips through its folder, and plain, HyDE and
 * Iter-RetGen gather the passages float64 exact search gives for their final query (nprobe = nlist,
 * so the IVF search must equal exact search), with the queries each program is defined to make.
 * First with a scripted generator on the CPU search, then every pipeline end to end with the
 * built-in model on the GPU (FLARE reading the engine's log-probabilities), the lookahead cache
 * holding half the clusters: retrieval calls equal the queries made, the hit rate lies in [0, 1].
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/engine/engine.js';
import { engineTokenizer } from '../../src/models/engine-tokenizer.js';
import { openLlamaModel } from '../../src/models/llama/llama-family.js';
import { LlamaRunner } from '../../src/models/llama/llama-runner.js';
import {
  GpuClusterCache,
  PIPELINES,
  type TextGenerator,
  TextStoreRetriever,
  chunkText,
  clusterBytes,
  gatherPassages,
  groundedPrompt,
  hydePrompt,
} from '../../src/rag/index.js';
import { loadTextStore, saveTextStore } from '../../src/cli/rag-store-file.js';
import { engineGenerator } from '../../src/server/rag-stores.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { gpuBackend, gpuSkipReason } from '../gpu-setup.js';
import { exactIds, tinyEmbedder, tinyStore } from './tiny-corpus.js';

const seed = testSeed();
afterAll(() => console.log(`pipelines: ${seedNote(seed)}`));
const embed = tinyEmbedder(seed);
const K = 3;

describe(`RAG pipelines over the CPU search (${seedNote(seed)})`, () => {
  it('chunks documents on paragraphs and by words', () => {
    expect(chunkText('a b c\n\nd e\n\nf g h i', 4)).toEqual(['a b c', 'd e', 'f g h i']);
    expect(chunkText('w '.repeat(10), 4)).toEqual(['w w w w', 'w w w w', 'w w']);
    expect(chunkText('  \n\n  ')).toEqual([]);
  });

  it('saves and loads a text store unchanged', async () => {
    const store = await tinyStore(seed, embed);
    const dir = await mkdtemp(join(tmpdir(), 'tessera-ragstore-'));
    try {
      await saveTextStore(dir, store);
      const back = await loadTextStore(dir);
      expect(back.embedder).toBe('tiny');
      expect(back.passages).toEqual(store.passages);
      expect(Array.from(back.ivf.ids)).toEqual(Array.from(store.ivf.ids));
      expect(Array.from(back.ivf.vectors)).toEqual(Array.from(store.ivf.vectors));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('plain, HyDE and Iter-RetGen make their queries and retrieve what exact search gives for them', async () => {
    const store = await tinyStore(seed, embed);
    const prompts: string[] = [];
    const seen: string[] = [];
    // a scripted model: its "passage" names a topic, streamed in pieces
    const generate: TextGenerator = async (prompt, o) => {
      prompts.push(prompt);
      const text = ' ship harbor anchor and the ocean sail with the ship';
      for (let at = 4; at <= text.length; at += 4) o.onText?.(text.slice(0, at));
      return text;
    };
    const retriever = new TextStoreRetriever(store, embed, { k: K, nprobe: store.ivf.nlist });
    const observing = { observe: (t: string) => seen.push(t), retrieve: (q: string) => retriever.retrieve(q) };
    const q = 'where does the cat purr';

    const plain = await gatherPassages('plain', q, generate, observing);
    expect(plain.queries).toEqual([q]);
    expect(plain.passages.map((p) => p.id)).toEqual(await exactIds(store, embed, q, K));
    expect(prompts).toHaveLength(0);

    const hyde = await gatherPassages('hyde', q, generate, observing, { observeEvery: 16 });
    expect(prompts).toEqual([hydePrompt(q)]);
    expect(hyde.drafts).toHaveLength(1);
    expect(hyde.queries).toEqual([`${q} ${hyde.drafts[0]}`]);
    expect(hyde.passages.map((p) => p.id)).toEqual(await exactIds(store, embed, hyde.queries[0]!, K));
    // the partial passage was observed as it grew, prefixed by the question as the query will be
    expect(seen.length).toBeGreaterThanOrEqual(2);
    expect(seen.every((s) => s.startsWith(q))).toBe(true);
    // the draft pulled retrieval to its topic
    expect(hyde.passages.every((p) => p.source.startsWith('ships'))).toBe(true);

    prompts.length = 0;
    const iter = await gatherPassages('iter-retgen', q, generate, observing, { rounds: 3 });
    expect(iter.queries).toHaveLength(3);
    expect(iter.drafts).toHaveLength(2);
    expect(iter.queries[0]).toBe(q);
    expect(iter.queries[2]).toBe(`${q} ${iter.drafts[1]}`);
    // round 1's draft was written from round 0's passages
    expect(prompts[0]).toBe(groundedPrompt(q, plain.passages));
    expect(iter.passages.map((p) => p.id)).toEqual(await exactIds(store, embed, iter.queries[2]!, K));
    expect(iter.passages[0]!.text).toBe(store.passages[iter.passages[0]!.id]!.text);
  });
});

const gpu = await gpuBackend();

describe.skipIf(!gpu)(
  `pipelines end to end with the built-in model and lookahead${gpu ? '' : ` (skipped: ${gpuSkipReason()})`} (${seedNote(seed)})`,
  () => {
    it('every pipeline retrieves with prefetch what exact search gives for its queries', async () => {
      const backend = gpu!;
      const store = await tinyStore(seed, embed);
      let total = 0;
      let largest = 0;
      for (let c = 0; c < store.ivf.nlist; c++) {
        total += clusterBytes(store.ivf, c);
        largest = Math.max(largest, clusterBytes(store.ivf, c));
      }
      const budget = Math.max(largest, Math.floor(total / 2));
      const cache = new GpuClusterCache(backend, store.ivf, budget);
      const dir = new URL('../../models/builtin/', import.meta.url).pathname;
      const model = await openLlamaModel(dir);
      const runner = await LlamaRunner.load(model, {
        backend,
        actDtype: 'f32',
        maxTokens: 128,
        maxSeqs: 2,
        numPages: 32,
      });
      const tokenizer = engineTokenizer(model.tokenizer!);
      await model.weights.close();
      const engine = new Engine(runner, tokenizer, { maxBatchTokens: 128, maxRunningSeqs: 2 });
      try {
        const generate = engineGenerator(engine, tokenizer);
        const q = 'the kitten and the mouse';
        const exactFor = (query: string) => exactIds(store, embed, query, K);
        for (const name of PIPELINES) {
          const retriever = new TextStoreRetriever(store, embed, { k: K, nprobe: store.ivf.nlist, cache });
          const out = await gatherPassages(name, q, generate, retriever, {
            draftTokens: 12,
            observeEvery: 8,
            rounds: 2,
          });
          const got = out.passages.map((p) => p.id);
          console.log(
            `[pipelines] ${name}: ${retriever.retrievals} retrievals, hit rate ${retriever.hitRate}, drafts ${JSON.stringify(out.drafts)}, ids ${got}`,
          );
          expect(retriever.retrievals).toBe(out.queries.length);
          if (retriever.retrievals > 0) {
            expect(retriever.hitRate).toBeGreaterThanOrEqual(0);
            expect(retriever.hitRate).toBeLessThanOrEqual(1);
          } else expect(retriever.hitRate).toBeNull();
          const lists = await Promise.all(out.queries.map(exactFor));
          const union = new Set(lists.flat());
          if (name === 'hyde' || name === 'iter-retgen') {
            expect(out.drafts.length).toBe(1);
            expect(out.drafts[0]!.length).toBeGreaterThan(0);
          }
          if (name === 'self-rag') {
            // the kept passages are among exact search of the question, in its order
            expect(got.every((id) => union.has(id))).toBe(true);
            continue;
          }
          expect(out.queries.length).toBeGreaterThanOrEqual(1);
          // GPU distances are f32: compare as sets (ties may order differently), as recall@k = 1
          if (lists.length === 1 || name === 'iter-retgen') expect(new Set(got)).toEqual(new Set(lists.at(-1)));
          else {
            expect(got.length).toBe(Math.max(...lists.map((l) => l.length)));
            expect(got.every((id) => union.has(id))).toBe(true);
          }
          expect(cache.usedBytes).toBeLessThanOrEqual(budget);
        }
        expect(cache.stats.uploads).toBeGreaterThan(0);
      } finally {
        await engine.shutdown();
        runner.destroy();
      }
    }, 300_000);
  },
);
