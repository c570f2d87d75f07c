/**
 * `tessera rag index <docs> --out <store>`: chunks documents (a folder of .txt/.md files, one .txt
 * file, or a .jsonl of {"text"} lines or strings), embeds the passages and writes the datastore
 * folder (`src/rag/pipelines-store.ts`). `tessera rag ask <store> <question>`: runs a pipeline
 * over it with a chat model and prints the answer and the passages it was grounded in.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import type { Command } from 'commander';
import { Engine } from '../engine/engine.js';
import { PIPELINES, buildTextStore, chunkText, gatherPassages, groundedPrompt, isPipelineName } from '../rag/index.js';
import { engineGenerator, retrieverFor } from '../server/rag-stores.js';
import { loadRunnerWithProgress } from './load.js';
import { openTextEmbedder } from './rag-embedder.js';
import { saveTextStore } from './rag-store-file.js';
import { DEFAULT_RAG_GPU_MIB, openRagBackend, openRagStore } from './rag-stores.js';

const TEXT_EXTENSIONS = new Set(['.txt', '.md']);

/** The documents under `input`, each as (text, source name). */
export async function readDocuments(input: string): Promise<{ text: string; source: string }[]> {
  const info = await stat(input);
  if (info.isDirectory()) {
    const out: { text: string; source: string }[] = [];
    const entries = (await readdir(input, { recursive: true, withFileTypes: true }))
      .filter((e) => e.isFile() && TEXT_EXTENSIONS.has(extname(e.name).toLowerCase()))
      .map((e) => join(e.parentPath, e.name))
      .sort();
    for (const path of entries)
      out.push({ text: await readFile(path, 'utf8'), source: path.slice(input.length + 1) || basename(path) });
    return out;
  }
  const text = await readFile(input, 'utf8');
  if (extname(input).toLowerCase() !== '.jsonl') return [{ text, source: basename(input) }];
  return text
    .split('\n')
    .map((line, i) => ({ line: line.trim(), i }))
    .filter(({ line }) => line)
    .map(({ line, i }) => {
      const v = JSON.parse(line) as unknown;
      const t = typeof v === 'string' ? v : (v as { text?: unknown }).text;
      if (typeof t !== 'string') throw new Error(`${input}:${i + 1}: expected a string or an object with "text"`);
      return { text: t, source: `${basename(input)}:${i + 1}` };
    });
}

interface IndexFlags {
  out: string;
  embedder: string;
  chunkWords: string;
  nlist?: string;
  seed: string;
  backend?: string;
}

interface AskFlags {
  model: string;
  pipeline: string;
  k: string;
  nprobe?: string;
  maxTokens: string;
  draftTokens: string;
  rounds?: string;
  gpuMib: string;
  json?: boolean;
  backend?: string;
}

export function registerRagCommands(program: Command): void {
  const rag = program.command('rag').description('retrieval-augmented generation over your documents');
  rag
    .command('index')
    .description('chunk and embed documents into an IVF datastore folder')
    .argument('<docs>', 'a folder of .txt/.md files, a .txt file, or a .jsonl of {"text"} lines')
    .requiredOption('--out <store>', 'the datastore folder to write')
    .option('--embedder <name>', "'glove' or a BERT checkpoint folder", 'glove')
    .option('--chunk-words <n>', 'most words per passage', '100')
    .option('--nlist <n>', 'IVF clusters (default: about the square root of the passages)')
    .option('--seed <n>', 'k-means seed', '1')
    .option('--backend <name>', 'webgpu, cpu or auto (default: $TESSERA_BACKEND, else auto)')
    .action(indexDocuments);

  rag
    .command('ask')
    .description('answer a question from a datastore, printing the answer and the retrieved passages')
    .argument('<store>', 'a datastore folder written by `tessera rag index`')
    .argument('<question>')
    .option('--model <path>', "HF folder, .gguf file, or 'builtin'", 'builtin')
    .option('--pipeline <name>', PIPELINES.join(', '), 'hyde')
    .option('-k <n>', 'passages to retrieve', '4')
    .option('--nprobe <n>', 'clusters probed per query (default: a quarter of them)')
    .option('-n, --max-tokens <n>', 'tokens of the answer', '128')
    .option('--draft-tokens <n>', "tokens of the pipeline's intermediate text", '48')
    .option('--rounds <n>', 'retrievals at most of iter-retgen (default 2), irg and flare (default 3)')
    .option('--gpu-mib <n>', 'GPU memory for prefetched clusters (lookahead)', String(DEFAULT_RAG_GPU_MIB))
    .option('--json', 'print one JSON object instead of text')
    .option('--backend <name>', 'webgpu, cpu or auto (default: $TESSERA_BACKEND, else auto)')
    .action(ask);
}

/** `tessera rag index`: chunk, embed and write the datastore folder. */
async function indexDocuments(docs: string, f: IndexFlags): Promise<void> {
  const passages = (await readDocuments(docs)).flatMap((d) =>
    chunkText(d.text, Number(f.chunkWords)).map((text) => ({ text, source: d.source })),
  );
  const backend = await openRagBackend(f.backend);
  const embedder = await openTextEmbedder(f.embedder, backend);
  try {
    const store = await buildTextStore(passages, embedder.embed, {
      embedderName: f.embedder,
      seed: Number(f.seed),
      ...(f.nlist ? { nlist: Number(f.nlist) } : {}),
      ...(backend.name === 'cpu' ? {} : { backend }),
    });
    await saveTextStore(f.out, store);
    console.log(
      `Indexed ${store.passages.length} passages (d ${store.ivf.d}, ${store.ivf.nlist} clusters) into ${f.out}`,
    );
  } finally {
    embedder.close();
  }
}

/** `tessera rag ask`: gather passages through the pipeline, then answer grounded in them. */
async function ask(storeDir: string, question: string, f: AskFlags): Promise<void> {
  if (!isPipelineName(f.pipeline)) throw new Error(`--pipeline must be one of ${PIPELINES.join(', ')}`);
  const k = Number(f.k);
  const { runner, tokenizer, backend } = await loadRunnerWithProgress(f.model, f.backend);
  const served = await openRagStore('cli', storeDir, backend, {
    gpuMiB: Number(f.gpuMib),
    ...(f.nprobe ? { nprobe: Number(f.nprobe) } : {}),
  });
  const engine = new Engine(runner, tokenizer, {
    maxBatchTokens: runner.maxTokens,
    maxRunningSeqs: runner.maxSeqs,
  });
  try {
    const generate = engineGenerator(engine, tokenizer);
    const retriever = retrieverFor(served, k);
    const gathered = await gatherPassages(f.pipeline, question, generate, retriever, {
      draftTokens: Number(f.draftTokens),
      ...(f.rounds ? { rounds: Number(f.rounds) } : {}),
    });
    const answer = await generate(groundedPrompt(question, gathered.passages), { maxTokens: Number(f.maxTokens) });
    if (f.json) console.log(JSON.stringify({ answer, pipeline: f.pipeline, ...gathered, hitRate: retriever.hitRate }));
    else {
      console.log(answer.trim());
      console.log('\nPassages:');
      gathered.passages.forEach((p, i) =>
        console.log(`[${i + 1}] (${p.source}, distance ${p.distance.toFixed(3)}) ${p.text}`),
      );
    }
  } finally {
    await engine.shutdown();
    served.close();
    runner.destroy();
  }
}
