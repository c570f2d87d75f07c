/**
 * End-to-end latency of every RAG pipeline with and without lookahead, on an 8B-shaped model and a
 * datastore larger than the GPU cluster budget (bench/telerag-store.ts), in one process on one card.
 *
 * - Without lookahead (the paper's baseline): each retrieval runs after its query is generated,
 *   searched on the CPU (wasm SIMD on the CPU pool).
 * - With lookahead: the pipeline observes its growing query text (what it observes when is in
 *   src/rag/pipelines.ts); the nearest clusters upload into a GPU cache within `--gpu-mib`, and the
 *   final query scans resident clusters on the GPU, the rest on the CPU. The cache starts empty
 *   for every request, so only the request's own prefetch helps it (`keepCache` keeps it across
 *   requests instead, as a server would: earlier requests' clusters may still be resident).
 *
 * A request is the pipeline's gathering plus the grounded answer (`--answer-tokens`), greedy; its
 * latency is host wall clock from start to the answer's last token. Modes alternate per question
 * (which goes first swaps) so drift of the card does not favour one. The engine keeps no prefix
 * cache, so both runs of a question compute the same prompt tokens in the same steps (checked).
 * The checks: both modes generate the same tokens (greedy generation does not depend on how
 * retrieval ran; a first divergence at a near-tie is accepted with its margin printed,
 * bench/telerag-generation.ts) and make the same queries, every retrieval returns the same ids in
 * both modes (as sets: the GPU sums in another order, so two near-equal distances may swap places,
 * reported as order disagreements), the cache never exceeds its budget, the store is larger than
 * it, and lookahead found some probed clusters resident.
 *
 * Each request's phases are logged: generation (its calls' wall time), retrieval, and with
 * lookahead the observations' embedding and ranking, their uploads (count, MiB, host time, cut
 * short), the final query's ranking, its GPU part (dispatches, readbacks, enqueue to readback),
 * CPU part and merge. They are host wall times that overlap (uploads run between decode steps).
 */
import { WebGpuBackend } from '../src/backends/webgpu/webgpu-backend.js';
import { Engine } from '../src/engine/engine.js';
import { engineTokenizer } from '../src/models/engine-tokenizer.js';
import { openLlamaModel } from '../src/models/llama/llama-family.js';
import { LlamaRunner } from '../src/models/llama/llama-runner.js';
import {
  GpuClusterCache,
  type PassageRetriever,
  type PipelineName,
  type TextGenerator,
  TextStoreRetriever,
  clusterBytes,
  gatherPassages,
  groundedPrompt,
} from '../src/rag/index.js';
import { type BenchRow, cardName, median, row, writeResults } from './results.js';
import { type GenerationCall, NEAR_TIE_NATS, firstDivergence, recordingGenerator } from './telerag-generation.js';
import { syntheticTextStore } from './telerag-store.js';
import { type Traffic, countTraffic, trafficSince } from './telerag-traffic.js';
import { cpuRuntime } from '../src/backends/cpu/cpu-runtime.js';
import { Check } from './verify.js';

export interface PipelineBenchOptions {
  readonly modelDir: string;
  readonly seed: number;
  readonly nlist: number;
  readonly rowsPerCluster: number;
  readonly d: number;
  readonly nprobe: number;
  readonly k: number;
  readonly gpuMiB: number;
  readonly questions: number;
  readonly draftTokens: number;
  readonly answerTokens: number;
  readonly pipelines: readonly PipelineName[];
  /** Keep the GPU cache across requests (a busy server's steady state) instead of emptying it per request. */
  readonly keepCache: boolean;
  /** CPU pool threads for ranking and CPU scans in both modes (absent: all of the pool's). */
  readonly cpuThreads?: number;
  /** The device to run on (absent: one opened for the bench). */
  readonly backend?: WebGpuBackend;
}

/** The sizes a run takes unless told otherwise: the GPU machine's regime, and lavapipe's scale (`--small`, tests). */
export const PIPELINE_BENCH_SIZES = {
  gpu: {
    modelDir: '',
    nlist: 1024,
    rowsPerCluster: 1024,
    d: 768,
    nprobe: 128,
    k: 4,
    gpuMiB: 1024,
    questions: 3,
    draftTokens: 96,
    answerTokens: 32,
  },
  small: {
    modelDir: 'models/builtin',
    nlist: 64,
    rowsPerCluster: 128,
    d: 64,
    nprobe: 8,
    k: 4,
    gpuMiB: 1,
    questions: 1,
    draftTokens: 12,
    answerTokens: 4,
  },
} as const;

const QUESTIONS = [
  'which river runs through the old city',
  'who built the first iron ship',
  'what did the early science school teach about light',
  'why was the great stone church built on the north road',
];

interface Run {
  ms: number;
  retrievalMs: number;
  queries: string[];
  drafts: string[];
  ids: number[][];
  hitRate: number | null;
  /** Every generation call of the request (the pipeline's, then the answer). */
  calls: GenerationCall[];
  /** Prompt tokens the engine computed for the request, its steps and the tokens they generated. */
  promptComputed: number;
  steps: number;
  generated: number;
  /** Queue submits and retrieval's GPU traffic during the request. */
  traffic: Traffic;
  /** The submits retrieval accounts for: one per staged chunk, and per GPU search its readbacks plus the scans' submit. */
  ragSubmits: number;
  /** Bytes scanned on the CPU and on the GPU, and their host wall times (ms); bytes uploaded ahead and their host time. */
  cpuBytes: number;
  cpuMs: number;
  gpuBytes: number;
  gpuMs: number;
  uploadedBytes: number;
  uploadMs: number;
  /** The request's phase times and counts, as a log line. */
  phases: string;
}

/** The retriever with each retrieval's ids and wall time recorded. */
function recorded(inner: PassageRetriever): { retriever: PassageRetriever; ids: number[][]; ms: number[] } {
  const ids: number[][] = [];
  const ms: number[] = [];
  return {
    ids,
    ms,
    retriever: {
      observe: (t) => inner.observe(t),
      retrieve: async (q) => {
        const t0 = performance.now();
        const out = await inner.retrieve(q);
        ms.push(performance.now() - t0);
        ids.push(out.map((p) => p.id));
        return out;
      },
    },
  };
}

/** The model as a greedy text generator on `backend`, and a description of its shape. */
async function openGenerator(backend: WebGpuBackend, dir: string, seed: number) {
  const t0 = performance.now();
  const model = await openLlamaModel(dir);
  if (!model.tokenizer)
    throw new Error(`${dir} has no tokenizer.json (bench/anchors/telerag_checkpoint.py writes one)`);
  const cfg = model.config;
  const runner = await LlamaRunner.load(model, {
    backend,
    actDtype: 'f16',
    pageSize: 16,
    numPages: 256,
    maxSeqs: 2,
    maxTokens: 512,
  });
  await model.weights.close();
  const tokenizer = engineTokenizer(model.tokenizer);
  // no prefix cache: the second run of a pair would compute its prompt in other steps than the first
  const engine = new Engine(runner, tokenizer, { maxBatchTokens: 512, maxRunningSeqs: 2, seed, prefixCaching: false });
  const shape = `hidden ${cfg.hiddenSize}, ${cfg.numLayers} layers, vocab ${cfg.vocabSize}`;
  console.log(`model ${dir} (${shape}) loaded in ${((performance.now() - t0) / 1e3).toFixed(1)} s`);
  const close = async () => {
    await engine.shutdown();
    runner.destroy();
  };
  const { generate, calls } = recordingGenerator(engine, tokenizer);
  return { generate: generate as TextGenerator, calls, engine, shape, close };
}

/** The checks on one question's pair of runs: same steps, same generation, same retrieved ids. */
async function comparePair(check: Check, engine: Engine, what: string, off: Run, on: Run): Promise<void> {
  check.that(
    off.promptComputed === on.promptComputed,
    `${what}: both modes compute the same prompt tokens`,
    `${off.promptComputed} without lookahead, ${on.promptComputed} with`,
  );
  const split = await firstDivergence(engine, off.calls, on.calls);
  console.log(`${what} without lookahead: ${off.phases}`);
  console.log(`${what} with lookahead: ${on.phases}`);
  console.log(`${what} queue: without lookahead ${trafficLine(off)}; with ${trafficLine(on)}`);
  if (split) {
    const at = `generation ${split.call} token ${split.step}: ${split.a ?? 'end'} without lookahead, ${split.b ?? 'end'} with`;
    check.that(
      split.margin <= NEAR_TIE_NATS,
      `${what}: the same tokens with and without lookahead up to a near-tie (logit gap ≤ ${NEAR_TIE_NATS})`,
      `first divergence at ${at}, logit gap ${split.margin.toFixed(4)}`,
    );
    console.log(
      `${what}: the runs diverged at a near-tie; their queries and retrievals differ from there, not compared`,
    );
  } else {
    comparePairRetrievals(check, what, off, on);
    // the same tokens from the same prompts: the engine must have run the same steps (batch shapes
    // follow from prompt tokens computed and tokens generated, one request at a time). A call the
    // pipeline stops early is aborted while the engine may already be running its next step, so
    // each such call may leave one step and token more or less, however retrieval ran.
    const slack = Math.max(off.calls.filter((c) => c.stopped).length, on.calls.filter((c) => c.stopped).length);
    check.that(
      Math.abs(off.steps - on.steps) <= slack && Math.abs(off.generated - on.generated) <= slack,
      `${what}: the same engine steps and generated tokens with and without lookahead, up to one per call stopped early`,
      `${off.steps} steps / ${off.generated} tokens without, ${on.steps} / ${on.generated} with, ${slack} call(s) stopped early`,
    );
  }
  const extra =
    on.traffic.submits === null || off.traffic.submits === null ? '—' : `${on.traffic.submits - off.traffic.submits}`;
  check.that(
    on.traffic.splits === 0 && off.traffic.splits === 0,
    `${what}: no upload found the LLM's work encoded and unsubmitted (none split a step)`,
    `${on.traffic.splits} with lookahead; ${extra} submits more than without, ${on.ragSubmits} from staged chunks and GPU searches`,
  );
  console.log(
    `${what}: ${off.ids.length} retrievals; without ${off.ms.toFixed(0)} ms (retrieval ${off.retrievalMs.toFixed(0)}), with ${on.ms.toFixed(0)} ms (retrieval ${on.retrievalMs.toFixed(0)}), hit rate ${on.hitRate?.toFixed(2) ?? '—'}`,
  );
}

/** Same tokens: then the same drafts and queries, and the same ids from every retrieval. */
function comparePairRetrievals(check: Check, what: string, off: Run, on: Run): void {
  check.that(
    JSON.stringify([off.queries, off.drafts]) === JSON.stringify([on.queries, on.drafts]),
    `${what}: the same tokens, drafts and queries with and without lookahead`,
  );
  let orderSwaps = 0;
  const sameSets =
    off.ids.length === on.ids.length &&
    off.ids.every((ids, i) => {
      if (ids.join() !== on.ids[i]!.join()) orderSwaps++;
      return [...ids].sort().join() === [...on.ids[i]!].sort().join();
    });
  check.that(
    sameSets,
    `${what}: every retrieval returns the same ids with and without lookahead`,
    `${off.ids.length} retrievals, ${orderSwaps} with near-equal distances in another order`,
  );
}

/** Submits and retrieval's readbacks (map round trips) per request and per retrieval. */
function trafficLine(r: Run): string {
  const t = r.traffic;
  const per = r.ids.length > 0 ? (t.ragReads / r.ids.length).toFixed(2) : '—';
  const submits = t.submits === null ? 'submits not counted' : `${t.submits} submits`;
  return `${r.steps} engine steps, ${submits}, retrieval ${t.ragWrites} writes / ${t.ragRuns} dispatches / ${t.ragReads} readbacks (${per} per retrieval)`;
}

/** A request's phases: generation, retrieval and, with lookahead, prefetch and the search's GPU/CPU split. */
function phaseLine(calls: readonly GenerationCall[], retrievalMs: number, r: TextStoreRetriever): string {
  const ms = (x: number) => x.toFixed(1);
  const gen = calls.reduce((a, c) => a + c.ms, 0);
  const tokens = calls.reduce((a, c) => a + c.ids.length, 0);
  const parts = [
    `generation ${ms(gen)} ms (${calls.length} calls, ${tokens} tokens)`,
    `retrieval ${ms(retrievalMs)} ms`,
  ];
  const la = r.lookaheadStats;
  if (la) {
    parts.push(
      `observe ${ms(la.observeMs)} ms`,
      `uploads ${la.uploaded} (${(la.uploadedBytes / 2 ** 20).toFixed(0)} MiB${r.opts.cache?.stages ? ' staged' : ''}, ${ms(la.uploadMs)} ms host copying, ${la.superseded} prefetches cut short)`,
      `final ranking ${ms(la.queryRankMs)} ms`,
    );
  }
  const sum = (f: (s: (typeof r.searches)[number]) => number) => r.searches.reduce((a, s) => a + f(s), 0);
  parts.push(
    `search GPU ${sum((s) => s.gpuClusters)} clusters / ${sum((s) => s.gpuDispatches)} dispatches / ${sum((s) => s.gpuReads)} readbacks ${ms(sum((s) => s.gpuMs))} ms`,
    `CPU ${sum((s) => s.cpuClusters)} clusters ${ms(sum((s) => s.cpuMs))} ms`,
    `merge ${ms(sum((s) => s.mergeMs))} ms`,
  );
  return parts.join(', ');
}

/**
 * The rates lookahead's gain rests on, from the runs' own phases: CPU scan GB/s (without
 * lookahead), host GB/s of the uploads (queue writes), GPU scan GB/s from enqueue to readback,
 * and the MiB uploaded ahead per request. Lookahead saves at most what the CPU would take to scan
 * the bytes it uploaded ahead, so their ratio bounds its gain per second of generation.
 */
function rateLine(on: readonly Run[], off: readonly Run[]): string {
  const total = (rs: readonly Run[], f: (r: Run) => number) => rs.reduce((a, r) => a + f(r), 0);
  const gbs = (bytes: number, ms: number) => (ms > 0 ? (bytes / 1e9 / (ms / 1e3)).toFixed(1) : '—');
  const cpu = gbs(
    total(off, (r) => r.cpuBytes),
    total(off, (r) => r.cpuMs),
  );
  const up = gbs(
    total(on, (r) => r.uploadedBytes),
    total(on, (r) => r.uploadMs),
  );
  const gpu = gbs(
    total(on, (r) => r.gpuBytes),
    total(on, (r) => r.gpuMs),
  );
  const aheadMiB = median(on.map((r) => r.uploadedBytes / 2 ** 20));
  // what the uploads cost decode: generation with lookahead against without (medians; per MiB only
  // where enough was uploaded to stand out of the run-to-run noise)
  const gen = (rs: readonly Run[]) => median(rs.map((r) => r.calls.reduce((a, c) => a + c.ms, 0)));
  const slower = gen(on) - gen(off);
  const per100 = aheadMiB >= 16 ? `, ${((100 * slower) / aheadMiB).toFixed(1)} ms per 100 MiB uploaded` : '';
  return `CPU scan ${cpu} GB/s (without lookahead), uploads ${up} GB/s of host copying, GPU part ${gpu} GB/s enqueue to readback, ${aheadMiB.toFixed(1)} MiB uploaded ahead per request; generation ${slower >= 0 ? '+' : ''}${slower.toFixed(1)} ms with lookahead${per100} (medians)`;
}

const BASELINE = 'same pipeline without lookahead (CPU search after generation)';

function pipelineRows(c: string, on: readonly Run[], off: readonly Run[]): BenchRow[] {
  const rates = on.map((r) => r.hitRate).filter((x): x is number => x !== null);
  const timing = (metric: string, of: (r: Run) => number) =>
    row({
      case: c,
      metric,
      higherIsBetter: false,
      ours: median(on.map(of)),
      anchor: median(off.map(of)),
      anchorName: BASELINE,
      limit: null,
      limitName: null,
    });
  return [
    timing('end-to-end ms (median)', (r) => r.ms),
    timing('retrieval ms per request (median)', (r) => r.retrievalMs),
    timing('generation ms per request (median)', (r) => r.calls.reduce((x, c) => x + c.ms, 0)),
    timing('retrieval share of end-to-end (median)', (r) => r.retrievalMs / r.ms),
    row({
      case: c,
      metric: 'MiB uploaded ahead per request (median)',
      higherIsBetter: false,
      ours: median(on.map((r) => r.uploadedBytes / 2 ** 20)),
      anchor: null,
      anchorName: null,
      limit: null,
      limitName: null,
      anchorWhyNull: 'without lookahead nothing is uploaded',
    }),
    row({
      case: c,
      metric: 'prefetch hit rate (mean)',
      higherIsBetter: true,
      ours: rates.length ? rates.reduce((x, y) => x + y, 0) / rates.length : 0,
      anchor: null,
      anchorName: null,
      limit: 1,
      limitName: 'every probed cluster resident',
      anchorWhyNull: rates.length
        ? 'without lookahead nothing is prefetched'
        : 'no retrieval ran (the pipeline decided none was needed)',
    }),
  ];
}

export async function pipelineBench(o: PipelineBenchOptions): Promise<void> {
  const check = new Check('telerag-pipelines');
  const backend = o.backend ?? (await WebGpuBackend.create());
  const t0 = performance.now();
  const { store, embed } = syntheticTextStore({
    seed: o.seed,
    nlist: o.nlist,
    rowsPerCluster: o.rowsPerCluster,
    d: o.d,
  });
  let storeBytes = 0;
  for (let c = 0; c < store.ivf.nlist; c++) storeBytes += clusterBytes(store.ivf, c);
  const budget = o.gpuMiB * 2 ** 20;
  const gib = (storeBytes / 2 ** 30).toFixed(2);
  console.log(
    `datastore: ${store.passages.length} rows, d ${o.d}, ${o.nlist} clusters, ${gib} GiB (GPU budget ${o.gpuMiB} MiB), made in ${((performance.now() - t0) / 1e3).toFixed(1)} s`,
  );
  check.that(storeBytes > budget, 'the datastore is larger than the GPU cluster budget', `${storeBytes} > ${budget}`);
  const traffic = countTraffic(backend);
  const cache = new GpuClusterCache(traffic.rag, store.ivf, budget);
  const pool = cpuRuntime().pool;
  const cpuThreads = Math.min(o.cpuThreads ?? pool.threads, pool.threads);
  console.log(
    `CPU search (both modes): ${cpuThreads} of the CPU pool's ${pool.threads} threads${traffic.snapshot().submits === null ? '; queue submits not countable here' : ''}`,
  );
  const clusterMiB = clusterBytes(store.ivf, 0) / 2 ** 20;
  const { generate, calls, engine, shape, close } = await openGenerator(backend, o.modelDir, o.seed);

  const request = async (name: PipelineName, question: string, lookahead: boolean): Promise<Run> => {
    if (lookahead && !o.keepCache) cache.clear();
    const inner = new TextStoreRetriever(store, embed, {
      k: o.k,
      nprobe: o.nprobe,
      threads: cpuThreads,
      ...(lookahead ? { cache } : {}),
    });
    const rec = recorded(inner);
    const firstCall = calls.length;
    const before = engine.stats();
    const trafficBefore = traffic.snapshot();
    const chunksBefore = cache.stats.stagedChunks;
    const start = performance.now();
    const g = await gatherPassages(name, question, generate, rec.retriever, { draftTokens: o.draftTokens });
    await generate(groundedPrompt(question, g.passages), { maxTokens: o.answerTokens });
    const ms = performance.now() - start;
    // an observation after the last retrieval may still upload: not into the next request's time
    await inner.settled();
    const after = engine.stats();
    check.that(cache.usedBytes <= budget, `${name}: the GPU cache stays within its budget`);
    const retrievalMs = rec.ms.reduce((a, b) => a + b, 0);
    const mine = calls.slice(firstCall);
    // every cluster of the synthetic store holds the same rows: bytes are clusters × one cluster's
    const sum = (f: (s: (typeof inner.searches)[number]) => number) => inner.searches.reduce((a, s) => a + f(s), 0);
    const la = inner.lookaheadStats;
    return {
      ...{ ms, retrievalMs, queries: g.queries, drafts: g.drafts, ids: rec.ids, hitRate: inner.hitRate },
      calls: mine,
      promptComputed: after.promptTokensComputed - before.promptTokensComputed,
      steps: after.steps - before.steps,
      generated: after.generatedTokens - before.generatedTokens,
      traffic: trafficSince(trafficBefore, traffic.snapshot()),
      ragSubmits: cache.stats.stagedChunks - chunksBefore + sum((s) => (s.gpuReads > 0 ? s.gpuReads + 1 : 0)),
      cpuBytes: sum((s) => s.cpuClusters) * clusterMiB * 2 ** 20,
      cpuMs: sum((s) => s.cpuMs),
      gpuBytes: sum((s) => s.gpuClusters) * clusterMiB * 2 ** 20,
      gpuMs: sum((s) => s.gpuMs),
      uploadedBytes: la?.uploadedBytes ?? 0,
      uploadMs: la?.uploadMs ?? 0,
      phases: phaseLine(mine, retrievalMs, inner),
    };
  };

  // warm-up: shaders, the CPU pool, the store's copy into wasm memory; discarded
  for (const lookahead of [false, true]) await request('flare', QUESTIONS[0]!, lookahead);

  const rows: BenchRow[] = [];
  const means = { on: [] as number[], off: [] as number[] };
  let anyHit = false;
  for (const name of o.pipelines) {
    const on: Run[] = [];
    const off: Run[] = [];
    for (let qi = 0; qi < o.questions; qi++) {
      const question = QUESTIONS[qi % QUESTIONS.length]!;
      for (const lookahead of qi % 2 === 0 ? [false, true] : [true, false])
        (lookahead ? on : off).push(await request(name, question, lookahead));
      await comparePair(check, engine, `${name} q${qi}`, off.at(-1)!, on.at(-1)!);
      if ((on.at(-1)!.hitRate ?? 0) > 0) anyHit = true;
    }
    means.on.push(median(on.map((r) => r.ms)));
    means.off.push(median(off.map((r) => r.ms)));
    // lookahead hides retrieval only: removing all of it is the most it can gain
    const offMs = median(off.map((r) => r.ms));
    const offRetrieval = median(off.map((r) => r.retrievalMs));
    const onMs = median(on.map((r) => r.ms));
    console.log(
      `${name}: without lookahead ${offMs.toFixed(0)} ms of which retrieval ${offRetrieval.toFixed(1)} ms (${((100 * offRetrieval) / offMs).toFixed(1)}%, medians): lookahead can gain at most ${(offMs / Math.max(1e-9, offMs - offRetrieval)).toFixed(3)}×; with lookahead ${onMs.toFixed(0)} ms (${(offMs / onMs).toFixed(3)}×)`,
    );
    console.log(`${name}: ${rateLine(on, off)}`);
    const c = `${name}, ${shape}, ${store.passages.length} rows d${o.d} nlist ${o.nlist} nprobe ${o.nprobe}, GPU budget ${o.gpuMiB} MiB, CPU search on ${cpuThreads} threads${o.keepCache ? ', cache kept across requests' : ''}`;
    rows.push(...pipelineRows(c, on, off));
  }
  check.that(anyHit, 'lookahead found probed clusters resident in some request');
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  rows.push(
    row({
      case: `all ${o.pipelines.length} pipelines, mean of medians`,
      metric: 'end-to-end ms',
      higherIsBetter: false,
      ours: mean(means.on),
      anchor: mean(means.off),
      anchorName: 'without lookahead',
      limit: null,
      limitName: null,
    }),
  );
  writeResults(
    'telerag-pipelines',
    cardName(backend),
    rows,
    `Each pipeline (src/rag/pipelines.ts) on ${o.questions} questions, greedy, ${o.draftTokens} tokens per intermediate generation, a ${o.answerTokens}-token grounded answer, k=${o.k}; model ${shape} (random bf16 weights, f16 activations; Llama-3-8B layer shapes, the built-in tokenizer's vocabulary). CPU search (both modes) on ${cpuThreads} of the pool's ${pool.threads} threads. Datastore: ${store.passages.length} synthetic rows (bench/telerag-store.ts: centroids near a rank-16 subspace, rows around them, a hashed bag-of-words query embedder), f32, ${gib} GiB in CPU memory against a ${o.gpuMiB} MiB GPU cluster cache ${o.keepCache ? 'kept across requests' : 'emptied before every request'}. Without lookahead: every search on the CPU after its query is generated. With: prefetch during generation, resident clusters scanned on the GPU, the rest on the CPU. Host wall clock per request; modes alternate per question.`,
    check.passed(),
  );
  await cache.close();
  await close();
  traffic.restore();
}
