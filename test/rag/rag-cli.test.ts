/**
 * `tessera rag index` and `tessera rag ask` through the command definitions: a folder of documents
 * and a .jsonl are chunked and embedded by a random tiny BERT checkpoint (`--embedder <folder>`) on
 * the CPU backend, and `ask --json` with the built-in model returns the passages float64 exact
 * search gives for the question (plain pipeline, nprobe = nlist).
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { CpuBackend } from '../../src/backends/cpu/cpu-backend.js';
import { openTextEmbedder } from '../../src/cli/rag-embedder.js';
import { readDocuments, registerRagCommands } from '../../src/cli/rag.js';
import { BERT_TEST_VOCAB, writeRandomBertCheckpoint } from '../../src/models/bert/random-checkpoint.js';
import { loadTextStore } from '../../src/cli/rag-store-file.js';
import { exactSearch } from '../../src/rag/index.js';
import { seedNote, testSeed } from '../../src/testing/seed.js';
import { Rng } from '../../src/util/rng.js';

const seed = testSeed();
afterAll(() => console.log(`rag cli: ${seedNote(seed)}`));

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

async function run(args: string[]): Promise<string> {
  const program = new Command().exitOverride();
  registerRagCommands(program);
  const lines: string[] = [];
  const spy = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void lines.push(a.join(' ')));
  try {
    await program.parseAsync(['node', 'tessera', ...args]);
  } finally {
    spy.mockRestore();
  }
  return lines.join('\n');
}

describe(`tessera rag index / ask (${seedNote(seed)})`, () => {
  it('indexes documents and answers with the exact nearest passages', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tessera-ragcli-'));
    try {
      const bert = join(dir, 'bert');
      await writeRandomBertCheckpoint(bert, BERT_CONFIG, { seed, pooling: 'mean', normalize: true });
      const rng = new Rng(seed + 5);
      const words = BERT_TEST_VOCAB.filter((w) => /^[a-z]{2,}$/.test(w));
      const sentence = () => Array.from({ length: rng.int(4, 8) }, () => rng.pick(words)).join(' ');
      const docs = join(dir, 'docs');
      await mkdir(join(docs, 'sub'), { recursive: true });
      await writeFile(join(docs, 'a.txt'), Array.from({ length: 6 }, sentence).join('\n\n'));
      await writeFile(join(docs, 'sub', 'b.md'), Array.from({ length: 6 }, sentence).join('\n\n'));
      await writeFile(join(docs, 'skip.bin'), 'not a document');
      const jsonl = join(dir, 'more.jsonl');
      await writeFile(jsonl, `${JSON.stringify({ text: sentence() })}\n${JSON.stringify(sentence())}\n`);
      expect((await readDocuments(docs)).map((d) => d.source)).toEqual(['a.txt', 'sub/b.md']);
      expect((await readDocuments(jsonl)).map((d) => d.source)).toEqual(['more.jsonl:1', 'more.jsonl:2']);

      const store = join(dir, 'store');
      // chunks of at most 8 words keep each paragraph one passage
      const said = await run([
        'rag',
        'index',
        docs,
        '--out',
        store,
        '--embedder',
        bert,
        '--chunk-words',
        '8',
        '--nlist',
        '3',
        '--seed',
        String(seed),
        '--backend',
        'cpu',
      ]);
      expect(said).toContain('Indexed 12 passages');
      const loaded = await loadTextStore(store);
      expect(loaded.embedder).toBe(bert);
      expect(loaded.ivf.nlist).toBe(3);

      const question = sentence();
      const out = JSON.parse(
        await run([
          'rag',
          'ask',
          store,
          question,
          '--pipeline',
          'plain',
          '-k',
          '3',
          '--nprobe',
          '3',
          '-n',
          '4',
          '--json',
          '--backend',
          'cpu',
        ]),
      ) as { answer: string; passages: { id: number; text: string }[]; queries: string[] };
      expect(out.queries).toEqual([question]);
      expect(typeof out.answer).toBe('string');
      const embedder = await openTextEmbedder(bert, new CpuBackend());
      const [q] = await embedder.embed([question]);
      embedder.close();
      const want = Array.from(exactSearch(loaded.ivf, q!, 3).ids);
      expect(out.passages.map((p) => p.id)).toEqual(want);
      for (const p of out.passages) expect(p.text).toBe(loaded.passages[p.id]!.text);
      // without a GPU cache there is no lookahead: the hit rate is null, never a made-up number
      expect((out as { hitRate?: unknown }).hitRate).toBeNull();

      const irg = JSON.parse(
        await run([
          'rag',
          'ask',
          store,
          question,
          '--pipeline',
          'irg',
          '--rounds',
          '2',
          '-k',
          '2',
          '-n',
          '2',
          '--draft-tokens',
          '8',
          '--json',
          '--backend',
          'cpu',
        ]),
      ) as { queries: string[]; drafts: string[]; passages: { id: number }[] };
      expect(irg.queries[0]).toBe(question);
      expect(irg.queries.length).toBeGreaterThanOrEqual(1);
      expect(irg.queries.length).toBeLessThanOrEqual(2);
      expect(irg.passages.length).toBeLessThanOrEqual(2);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 300_000);
});
