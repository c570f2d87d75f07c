/**
 * Lookahead retrieval end to end: HyDE with the built-in model writing the hypothetical passage, a
 * random tiny BERT encoder embedding it, and a small IVF datastore larger than the GPU cluster
 * budget. The partial passage is observed twice during generation; the final retrieval (resident
 * clusters on the GPU, the rest on the CPU) must return the same ids as retrieval after generation
 * with a CPU-only search of the same query, and both the same as an exhaustive search restricted
 * to the same probed clusters would give (checked through nprobe = nlist against exact search).
 * A second suite checks the adaptive prefetch count on a seeded drift, and that a prefetch uploads
 * in slices with turns of the event loop between them (the thread that writes also drives
 * generation) and is cut short by the final query rather than delaying it, without that counting
 * as drift for the adaptive count.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CpuBackend } from '../../src/backends/cpu/cpu-backend.js';
import type { BertModelConfig } from '../../src/models/bert/bert-config.js';
import { BertEncoder } from '../../src/models/bert/bert-encoder.js';
import { BERT_TEST_VOCAB, writeRandomBertCheckpoint } from '../../src/models/bert/random-checkpoint.js';
import type { OpenedModel } from '../../src/models/family.js';
import { openLlamaModel } from '../../src/models/llama/llama-family.js';
import { LlamaRunner } from '../../src/models/llama/llama-runner.js';
import { openModel } from '../../src/models/open-model.js';
import {
  type Embedder,
  GpuClusterCache,
  LookaheadRetriever,
  buildIvf,
  clusterBytes,
  clusteredVectors,
  exactSearch,
  recallAtK,
  searchIvf,
} from '../../src/rag/index.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { Rng } from '../../src/util/rng.js';
import { gpuBackend, gpuSkipReason } from '../gpu-setup.js';

const seed = testSeed();
const gpu = await gpuBackend();
afterAll(() => console.log(`lookahead: ${seedNote(seed)}`));

const BERT_CONFIG = {
  hidden_size: 32,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  intermediate_size: 64,
  max_position_embeddings: 64,
  type_vocab_size: 2,
  layer_norm_eps: 1e-12,
  hidden_act: 'gelu',
};

/** Seeded documents over the encoder's vocabulary: whole words and short letter strings. */
function documents(n: number): string[] {
  const rng = new Rng(seed + 7);
  const words = BERT_TEST_VOCAB.filter((w) => /^[a-z]{2,}$/.test(w));
  return Array.from({ length: n }, () =>
    Array.from({ length: rng.int(4, 10) }, () =>
      rng.next() < 0.6
        ? rng.pick(words)
        : Array.from({ length: rng.int(2, 5) }, () => rng.pick('abcdefghij'.split(''))).join(''),
    ).join(' '),
  );
}

describe.skipIf(!gpu)(
  `HyDE with lookahead retrieval${gpu ? '' : ` (skipped: ${gpuSkipReason()})`} (${seedNote(seed)})`,
  () => {
    it('retrieves the same ids as retrieval after generation, and prefetches during it', async () => {
      const backend = gpu!;
      const dir = await mkdtemp(join(tmpdir(), 'tessera-rag-bert-'));
      let encoder: BertEncoder | null = null;
      let runner: LlamaRunner | null = null;
      try {
        await writeRandomBertCheckpoint(dir, BERT_CONFIG, { seed, pooling: 'mean', normalize: true });
        const bert = (await openModel(dir)) as OpenedModel<BertModelConfig>;
        encoder = await BertEncoder.load(bert, { backend, maxTokens: 256, maxTexts: 16 });
        const enc = encoder;
        const tok = bert.tokenizer!;
        const embed: Embedder = async (texts) =>
          enc.embed(
            texts.map((t) => {
              const ids = tok.encode(t);
              // keep [SEP] when a long passage is cut to the encoder's context
              return ids.length <= 64 ? ids : [...ids.slice(0, 63), ids.at(-1)!];
            }),
          );

        const docs = documents(240);
        const vectors = new Float32Array(docs.length * 32);
        for (let at = 0; at < docs.length; at += 16)
          (await embed(docs.slice(at, at + 16))).forEach((v, i) => vectors.set(v, (at + i) * 32));
        const nlist = 8;
        const store = await buildIvf(vectors, 32, { nlist, seed, backend });
        let total = 0;
        let largest = 0;
        for (let c = 0; c < nlist; c++) {
          total += clusterBytes(store, c);
          largest = Math.max(largest, clusterBytes(store, c));
        }
        const budget = Math.max(largest, Math.floor(total / 2));
        expect(budget).toBeLessThan(total);
        const cache = new GpuClusterCache(backend, store, budget);
        const k = 5;
        const nprobe = 3;
        const retriever = new LookaheadRetriever(store, cache, embed, { k, nprobe });

        const llm = await openLlamaModel(new URL('../../models/builtin/', import.meta.url).pathname);
        runner = await LlamaRunner.load(llm, { backend, actDtype: 'f32', maxTokens: 64, maxSeqs: 1, numPages: 8 });
        await llm.weights.close();
        const ltok = llm.tokenizer!;
        const steps = 8;
        const observeAt = new Set([3, 6]);

        for (const question of ['the cat sat on the mat', 'is the world good', 'a dog said hello']) {
          const prompt = ltok.encode(`Question: ${question}?\nPassage:`);
          const pages = Array.from({ length: Math.ceil((prompt.length + steps) / runner.pageSize) }, (_, i) => i);
          let logits = await runner.forward({ seqs: [{ tokens: prompt, start: 0, pages }] });
          const generated: number[] = [];
          for (let s = 0; s < steps; s++) {
            let best = 0;
            for (let i = 1; i < runner.vocabSize; i++) if (logits[i]! > logits[best]!) best = i;
            generated.push(best);
            if (observeAt.has(generated.length)) retriever.observe(`${question} ${ltok.decode(generated)}`);
            if (s + 1 < steps)
              logits = await runner.forward({ seqs: [{ tokens: [best], start: prompt.length + s, pages }] });
          }
          const hypothetical = `${question} ${ltok.decode(generated)}`;
          const withLookahead = await retriever.retrieve(hypothetical);
          const [q] = await embed([hypothetical]);
          const after = await searchIvf(store, q!, { k, nprobe });
          expect(after.stats.gpuClusters).toBe(0);
          console.log(
            `[lookahead] '${question}': hit rate ${withLookahead.hitRate.toFixed(2)} (${withLookahead.stats.gpuClusters} GPU / ${withLookahead.stats.cpuClusters} CPU clusters), ids ${Array.from(withLookahead.result.ids)}`,
          );
          expect(Array.from(withLookahead.result.ids)).toEqual(Array.from(after.result.ids));
          expect(cache.usedBytes).toBeLessThanOrEqual(budget);
          // all clusters probed: the split search equals float64 exact search
          const full = await searchIvf(store, q!, { k, nprobe: nlist, cache });
          expect(recallAtK(full.result, exactSearch(store, q!, k))).toBe(1);
        }
        expect(retriever.stats.uploaded).toBeGreaterThan(0);
        expect(retriever.stats.queries).toBe(3);
        console.log(
          `[lookahead] overall hit rate ${retriever.hitRate.toFixed(2)}, prefetch count now ${retriever.prefetchCount}, ${retriever.stats.uploaded} uploads`,
        );
      } finally {
        runner?.destroy();
        encoder?.destroy();
        await rm(dir, { recursive: true, force: true });
      }
    });
  },
);

describe(`adaptive prefetch count (${seedNote(seed)})`, () => {
  // ivf_scan on the CPU backend is its float64 reference: the cache logic runs without a device
  const d = 16;
  const data = clusteredVectors(seed, 800, d, 16, 0.2);

  it('grows when the final queries drift from the partial text and shrinks back when they do not', async () => {
    const store = await buildIvf(data, d, { nlist: 16, seed });
    const cache = new GpuClusterCache(new CpuBackend(), store, 1 << 30);
    const rng = new Rng(seed + 3);
    // text "i:drift" embeds to vector i moved by `drift` along a fixed seeded direction
    const dir = Float32Array.from({ length: d }, () => rng.normal());
    const embed: Embedder = async (texts) =>
      texts.map((t) => {
        const [i, drift] = t.split(':').map(Number);
        return Float32Array.from(data.subarray(i! * d, (i! + 1) * d), (x, j) => x + drift! * dir[j]!);
      });
    const r = new LookaheadRetriever(store, cache, embed, { k: 5, nprobe: 2, maxPrefetch: 12 });
    expect(r.prefetchCount).toBe(2);
    for (let i = 0; i < 6; i++) {
      cache.clear();
      r.observe(`${i * 7}:0`);
      await r.settled(); // the generation an observation overlaps gives it time to upload
      await r.retrieve(`${i * 7}:1.5`);
    }
    const widened = r.prefetchCount;
    const driftRate = r.hitRate;
    console.log(`[adaptive] drifting queries: hit rate ${driftRate.toFixed(2)}, prefetch count ${widened}`);
    expect(driftRate).toBeLessThan(0.9);
    expect(widened).toBeGreaterThan(2);
    for (let i = 0; i < 20; i++) {
      cache.clear();
      r.observe(`${i * 5}:0`);
      await r.settled();
      const out = await r.retrieve(`${i * 5}:0`);
      expect(out.hitRate).toBe(1);
    }
    expect(r.prefetchCount).toBe(2);
  });
});

describe(`prefetch uploads in slices (${seedNote(seed)})`, () => {
  const d = 16;
  const data = clusteredVectors(seed + 11, 1600, d, 16, 0.2);

  it('yields to the event loop between slices, and the final query drops the uploads not yet made', async () => {
    const store = await buildIvf(data, d, { nlist: 16, seed });
    const cache = new GpuClusterCache(new CpuBackend(), store, 1 << 30);
    const embed: Embedder = async (texts) => texts.map((t) => data.slice(Number(t) * d, (Number(t) + 1) * d));
    const slice = Math.max(...Array.from({ length: 16 }, (_, c) => clusterBytes(store, c)));
    const r = new LookaheadRetriever(store, cache, embed, {
      k: 5,
      nprobe: 4,
      minPrefetch: 12,
      uploadSliceBytes: slice,
    });
    r.observe('3');
    await r.settled();
    expect(r.stats.uploaded).toBeGreaterThanOrEqual(11);
    // the loop got turns while it uploaded: a callback queued at the start ran before the last upload
    cache.clear();
    const uploadsBefore = cache.stats.uploads;
    let seenMidway = -1;
    r.observe('5');
    setImmediate(() => (seenMidway = cache.stats.uploads - uploadsBefore));
    await r.settled();
    const all = cache.stats.uploads - uploadsBefore;
    console.log(`[slices] ${all} uploads, ${seenMidway} of them before the event loop's first turn`);
    expect(seenMidway).toBeGreaterThan(0);
    expect(seenMidway).toBeLessThan(all);
    // the final query comes while the prefetch is uploading: it supersedes it and still answers exactly
    cache.clear();
    r.observe('7');
    await new Promise((res) => setImmediate(res));
    const out = await r.retrieve('7');
    expect(r.stats.superseded).toBeGreaterThan(0);
    expect(out.stats.cpuClusters).toBeGreaterThan(0);
    // the ranking covered the query: uploads cut short are not drift, so the count does not grow
    expect(r.prefetchCount).toBe(12);
    const [q] = await embed(['7']);
    const cpu = await searchIvf(store, q!, { k: 5, nprobe: 4 });
    expect(Array.from(out.result.ids)).toEqual(Array.from(cpu.result.ids));
  });
});
