/**
 * Serving benchmark: a synthetic ShareGPT-like workload arrives as a Poisson process at several
 * rates and runs through the serving Engine in-process (continuous batching, chunked prefill,
 * paged KV; the HTTP layer is tested elsewhere). Per rate: throughput (output tokens/s,
 * requests/s), TTFT and inter-token latency p50/p99, normalized latency (end-to-end ÷ output
 * tokens) p50.
 *
 * Workload: prompt and output lengths lognormal (ShareGPT-like: long-tailed, median prompt ~200,
 * output ~128 tokens at a 2048 context), redrawn while prompt + output > max total; token ids
 * random in the vocabulary; EOS ignored so every output has its drawn length; greedy sampling.
 * The lengths are the same at every rate; token ids differ per rate so the prefix cache never hits.
 *
 * Peers (--peer, repeatable; bench/serving-peers.ts): arrival-driven servers replaying the same
 * lengths and arrival schedules from --write-workload's file in the same run: transformers'
 * continuous batching (bench/anchors/hf_serve_cb.py) and llama.cpp with parallel sequences
 * (bench/peers/llama-cpp-serve.ts). Each row carries every peer's figure in "peers"; the anchor is
 * the first peer with figures at that rate.
 *
 * Static anchor (--anchor): HF transformers with static batching, measured on the same card in the same run
 * (BENCH_RUN_ID) by bench/anchors/hf_serve.py on the same request lengths: fixed batches of 16 in
 * arrival order, left-padded, generate with max_new_tokens = the batch's longest output, a
 * timestamp per step. That is a measurement only of every request arriving at once, batches back
 * to back (the gaps between generate calls left out, in HF's favour); HF has no arrival-driven
 * server, so at finite rates the anchor cells are null with the reason, never simulated.
 *
 * Checks (bench/verify.ts; a failure writes nothing): every request ends with finish reason
 * 'length' and exactly its drawn number of tokens; identical prompts at temperature 0 give
 * identical tokens (the engine here has no detokenizer, so ids are compared, not text).
 *
 * Usage (the device run: bench/anchors/hf_serve.py writes the checkpoint and the anchor):
 *   node serve.js --write-workload W.json [--requests N] [--max-total T] [--seed S]
 *   BENCH_RUN_ID=<id> node serve.js --model DIR/llama3-8b-random [--peer DIR/hf-serve-cb.json] [--peer DIR/llama-cpp-serve.json]
 *     [--anchor DIR/hf-serve.json] [--rates 1,2,4,8,inf] [--deadline-s S]
 *     (--peer repeats: every arrival-driven peer's figures go into each row's "peers", the first with figures is the anchor)
 *     [--prefill-chunk-tokens P]  (prompt tokens per step while others decode; default the engine's)
 *     [--prefill-itl-ratio R]  (chunks sized by measured step times instead, EngineOptions.prefillItlRatio)
 *     [--mixed-rows auto|off|R1,R2,…] [--mixed-buckets K]  (mixed steps' row buckets and how many stay recorded; default the runner's)
 * Local check on lavapipe: node serve.js --model models/builtin --requests 8 --rates 4,inf --max-total 256
 */
import '../src/register-all.js';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { Engine } from '../src/engine/engine.js';
import { DEFAULT_PREFILL_CHUNK_TOKENS } from '../src/engine/scheduler.js';
import { WebGpuBackend } from '../src/backends/webgpu/webgpu-backend.js';
import { openLlamaModel } from '../src/models/llama/llama-family.js';
import { parseMixedRowBuckets } from '../src/models/llama/step-padding.js';
import { Rng } from '../src/util/rng.js';
import { type BenchRow, cardName, cardShort, peerFigure, row, runId, writeResults } from './results.js';
import { driveGreedy, loadServingRunner, TOKEN_IDS_ONLY } from './serving-driver.js';
import {
  type ArrivalPeer,
  type Metrics,
  metrics,
  type PeerSource,
  peersAtRate,
  peerWhyNull,
  rateKey,
  type Trace,
} from './serving-peers.js';
import { type LengthMix, poissonArrivals, type RequestShape, shareGptLikeWorkload } from './serving-workload.js';
import { describeHostPauses, watchHostPauses } from './host-pauses.js';
import { Check } from './verify.js';

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2)
  args.set(process.argv[i]!.replace(/^--/, ''), process.argv[i + 1] ?? '');
const num = (name: string, dflt: number) => (args.has(name) ? Number(args.get(name)) : dflt);

const N = num('requests', 40);
const SEED = num('seed', 2026);
const MAX_TOTAL = num('max-total', 2048);
const BATCH_HF = 16;
const PREFILL_CHUNK = num('prefill-chunk-tokens', DEFAULT_PREFILL_CHUNK_TOKENS);
const ITL_RATIO = args.has('prefill-itl-ratio') ? Number(args.get('prefill-itl-ratio')) : undefined;
const MIXED_ROWS = parseMixedRowBuckets(args.get('mixed-rows') ?? 'auto');
if (!Number.isInteger(PREFILL_CHUNK) || PREFILL_CHUNK < 1)
  throw new Error(`--prefill-chunk-tokens must be a positive integer, got '${args.get('prefill-chunk-tokens')}'`);
if (ITL_RATIO !== undefined && !(ITL_RATIO >= 1))
  throw new Error(`--prefill-itl-ratio must be a number ≥ 1, got '${args.get('prefill-itl-ratio')}'`);

/** Request lengths: ShareGPT-like with shorter outputs than nanoflow's mix (the anchors' checkpoints were sized for it). */
const MIX: LengthMix = { promptMedian: 200, promptSigma: 1.0, outputMedian: 128, outputSigma: 0.8, atContext: 2048 };

/** Seeded by the rate, not its place in --rates: a rate's arrivals and ids are the same in any run. */
function rateSeedOf(rate: number): number {
  return SEED + 1 + (Number.isFinite(rate) ? Math.round(1000 * rate) : 999_999);
}

/** HF's measured batches: members (request indices) and seconds from the generate call to each step's token. */
interface HfAnchor {
  card: string;
  name: string;
  requests: [number, number][];
  batches: { members: number[]; steps: number[]; total: number }[];
}

/** HF's measured timeline with every request arriving at 0: its batches back to back. */
function hfAllAtOnce(hf: HfAnchor): Trace[] {
  const traces: Trace[] = [];
  let free = 0;
  for (const b of hf.batches) {
    for (const i of b.members)
      traces[i] = { arrival: 0, tokens: b.steps.slice(0, hf.requests[i]![1]).map((s) => free + s) };
    free += b.total;
  }
  return traces;
}

const shapes = shareGptLikeWorkload(N, MAX_TOTAL, SEED, MIX);
const rateList = (args.get('rates') ?? '1,2,4,8,inf').split(',').map((r) => (r === 'inf' ? Infinity : Number(r)));

if (args.has('write-workload')) {
  writeFileSync(
    args.get('write-workload')!,
    JSON.stringify({
      seed: SEED,
      maxTotal: MAX_TOTAL,
      batch: BATCH_HF,
      requests: shapes.map((s) => [s.prompt, s.output]),
      // the same arrival schedule per rate as ours below, for an arrival-driven peer (hf_serve_cb.py)
      arrivals: Object.fromEntries(rateList.map((rate) => [rateKey(rate), poissonArrivals(N, rate, rateSeedOf(rate))])),
    }) + '\n',
  );
  const sum = (f: (s: RequestShape) => number) => shapes.reduce((a, s) => a + f(s), 0);
  console.log(
    `workload: ${N} requests, prompt mean ${(sum((s) => s.prompt) / N).toFixed(0)}, output mean ${(sum((s) => s.output) / N).toFixed(0)} tokens → ${args.get('write-workload')}`,
  );
  process.exit(0);
}

const hfFile = args.has('anchor')
  ? (JSON.parse(readFileSync(args.get('anchor')!, 'utf8')) as HfAnchor & { runId?: string | null })
  : null;
if (
  hfFile &&
  (hfFile.requests.length !== N ||
    hfFile.requests.some(([p, o], i) => p !== shapes[i]!.prompt || o !== shapes[i]!.output))
) {
  throw new Error(
    `${args.get('anchor')} was measured on another workload (pass the same --requests/--max-total/--seed as --write-workload)`,
  );
}

const backend = await WebGpuBackend.create();
const card = cardName(backend);
const check = new Check(args.get('bench') ?? 'serve-llama3-8b');
// the peer counts only when measured in this run on this card
const hfWhyNull = !hfFile
  ? 'HF static batching did not run in this run (no --anchor)'
  : !runId() || hfFile.runId !== runId()
    ? `the HF figures come from run ${hfFile.runId ?? 'unknown'}, not this run (${runId() ?? 'BENCH_RUN_ID unset'})`
    : cardShort(hfFile.card) !== cardShort(card)
      ? `HF ran on ${hfFile.card}, this run on ${card}`
      : null;
const hf = hfWhyNull ? null : hfFile;
// Every --peer (repeatable): a file that is missing or from another run stays in the rows as null with why.
const requestPairs = shapes.map((s): [number, number] => [s.prompt, s.output]);
const peers: PeerSource[] = process.argv
  .flatMap((a, i) => (a === '--peer' ? [process.argv[i + 1] ?? ''] : []))
  .map((source) => {
    if (!existsSync(source))
      return {
        source,
        peer: null,
        whyNull: `${source} was not written in this run (the peer failed or ran out of time; see its log)`,
      };
    const peer = JSON.parse(readFileSync(source, 'utf8')) as ArrivalPeer;
    return {
      source,
      peer,
      whyNull: peerWhyNull(peer, source, { runId: runId(), card, cardShort, requests: requestPairs }),
    };
  });
const model = await openLlamaModel(args.get('model') ?? 'models/builtin');
const cfg = model.config;
if (MAX_TOTAL > cfg.maxPositionEmbeddings)
  throw new Error(`--max-total ${MAX_TOTAL} is over the model's context ${cfg.maxPositionEmbeddings}`);
const PAGE = 16;
const MAX_SEQS = Math.min(64, N); // more than N never run at once
const MAX_TOKENS = 512; // tokens per step: the server's default --max-batch-tokens
// Enough KV pages for every request at once (plus the warm-up's), so the numbers show batching, not preemption.
const WARM_PROMPT = Math.floor(MAX_TOKENS / MAX_SEQS);
const warmOutput = (i: number) => Math.min(i + 2, MAX_TOTAL - WARM_PROMPT); // i + 2: the first decode step has all MAX_SEQS
const pagesFor = (tokens: number) => Math.ceil(tokens / PAGE);
const numPages =
  Math.max(
    shapes.reduce((a, s) => a + pagesFor(s.prompt + s.output), 0),
    Array.from({ length: MAX_SEQS }, (_, i) => pagesFor(WARM_PROMPT + warmOutput(i))).reduce((a, b) => a + b, 0),
  ) +
  2 * MAX_SEQS;
const runner = await loadServingRunner(
  model,
  backend,
  { pageSize: PAGE, numPages, maxSeqs: MAX_SEQS, maxTokens: MAX_TOKENS },
  args.get('model') ?? 'models/builtin',
  {
    ...(MIXED_ROWS !== undefined ? { mixedRowBuckets: MIXED_ROWS } : {}),
    ...(args.has('mixed-buckets') ? { mixedBuckets: num('mixed-buckets', 0) } : {}),
  },
);

/** Steps that replayed a recorded stream: decode, single-prompt prefill and mixed. */
const replayed = () => runner.stats.replays + runner.stats.prefillReplays + runner.stats.mixedReplays;

// The engine never needs text here: token ids in, token ids out, like the anchor (no detokenizing on either side).
const newEngine = () =>
  new Engine(runner, TOKEN_IDS_ONLY, {
    maxBatchTokens: MAX_TOKENS,
    prefillChunkTokens: PREFILL_CHUNK,
    ...(ITL_RATIO !== undefined ? { prefillItlRatio: ITL_RATIO } : {}),
    maxRunningSeqs: MAX_SEQS,
    seed: SEED,
  });
const randomIds = (rng: Rng, n: number) => Array.from({ length: n }, () => rng.int(0, cfg.vocabSize - 1));

/** Runs one request to its end, returning its token ids and times (seconds since `t0`); checks it ended as asked. */
async function drive(
  engine: Engine,
  prompt: number[],
  output: number,
  t0: number,
): Promise<{ ids: number[]; times: number[] }> {
  const { ids, times, finishReason, resultTokens } = await driveGreedy(engine, prompt, output, t0);
  if (ids.length === 0 || ids.length !== output || finishReason !== 'length' || resultTokens !== output) {
    check.that(
      false,
      'every response has its drawn token count and finish reason length',
      `asked for ${output} tokens, streamed ${ids.length}, result ${resultTokens ?? 'none'} with finish reason ${finishReason ?? 'none'}`,
    );
  }
  return { ids, times };
}

// Warm-up, outside the numbers: what `tessera serve --warmup auto` does before listening (every
// prefill and mixed row bucket compiled and recorded, on a hardware GPU); then MAX_SEQS short
// requests admitted in one step, one finishing per step, so every decode batch size 1…MAX_SEQS
// records its dispatch stream; then a few prefills of assorted lengths, chunked, mixed with decodes.
{
  const engine = newEngine();
  const rng = new Rng(SEED ^ 0x5eed);
  const tw = performance.now();
  const warm = await runner.warmUp();
  if (warm.steps > 0)
    console.log(
      `runner warm-up: ${warm.steps} step shapes in ${(warm.ms / 1e3).toFixed(1)} s, recorded steps hold ${((warm.recordedBytes ?? 0) / 2 ** 20).toFixed(1)} MiB`,
    );
  await Promise.all(
    Array.from({ length: MAX_SEQS }, (_, i) => drive(engine, randomIds(rng, WARM_PROMPT), warmOutput(i), tw)),
  );
  await Promise.all(
    [0.9, 0.5, 0.25, 0.1].map((f) => drive(engine, randomIds(rng, Math.round(MAX_TOTAL * f) - 8), 8, tw)),
  );
  await engine.shutdown();
  console.log(
    `warm-up ${((performance.now() - tw) / 1e3).toFixed(1)} s (${runner.stats.steps} steps, ${replayed()} replayed)`,
  );
}

// Temperature 0 is deterministic: four copies of one prompt submitted at once, twice on fresh
// engines (no prefix cache, so every copy computes its own prompt), give one token sequence.
{
  const rng = new Rng(SEED ^ 0xd1ce);
  const prompt = randomIds(rng, 32);
  const outputs: number[][] = [];
  for (let run = 0; run < 2; run++) {
    const engine = new Engine(runner, TOKEN_IDS_ONLY, {
      maxBatchTokens: MAX_TOKENS,
      prefillChunkTokens: PREFILL_CHUNK,
      maxRunningSeqs: MAX_SEQS,
      seed: SEED,
      prefixCaching: false,
    });
    const t = performance.now();
    for (const r of await Promise.all(Array.from({ length: 4 }, () => drive(engine, prompt, 16, t))))
      outputs.push(r.ids);
    await engine.shutdown();
  }
  const differ = outputs.findIndex((o) => o.some((id, k) => id !== outputs[0]![k]));
  check.that(
    differ < 0,
    'identical prompts at temperature 0 give identical tokens (4 copies at once, on two fresh engines)',
    differ < 0
      ? `${outputs[0]!.length} tokens`
      : `copy ${differ} gave ${outputs[differ]!.join(',')} against ${outputs[0]!.join(',')}`,
  );
}

// A bounded run: with --deadline-s, a rate that would end past it (estimated from
// its arrival span and the best throughput so far) is skipped and named in the notes.
const DEADLINE_MS = num('deadline-s', Infinity) * 1000;
let bestTokPerS = 0;
const outputTokens = shapes.reduce((a, s) => a + s.output, 0);

const rows: BenchRow[] = [];
const hfName = hf ? `${hf.name}, static batches of ${BATCH_HF}` : null;
let responses = 0;
const summary: string[] = [];
for (const rate of rateList) {
  const rateSeed = rateSeedOf(rate);
  const arrive = poissonArrivals(N, rate, rateSeed);
  const label = rate === Infinity ? 'all at once' : `${rate} req/s`;
  const estimateMs = 1000 * Math.max(arrive[N - 1]!, bestTokPerS ? outputTokens / bestTokPerS : 0) + 5000;
  if (performance.now() + estimateMs > DEADLINE_MS) {
    summary.push(`${label}: skipped (would pass --deadline-s)`);
    console.log(summary[summary.length - 1]);
    continue;
  }
  const rng = new Rng(rateSeed ^ 0x1d5);
  const prompts = shapes.map((s) => randomIds(rng, s.prompt));
  const engine = newEngine();
  const steps0 = runner.stats.steps;
  const replays0 = replayed();
  const mixed0 = runner.stats.mixedReplays;
  // recordings made while serving (a bucket evicted from the recorded set, or never warmed) cost a
  // whole encode of the step on the host: they show as the slow steps of the step-time lines below
  const records0 = runner.stats.mixedRecords + runner.stats.prefillRecords;
  const pauses = watchHostPauses();
  const start = performance.now();
  // Each request is submitted at its arrival time; latencies count from that intended time, so timer lag is ours.
  const traces = await Promise.all(
    shapes.map(
      (s, i) =>
        new Promise<Trace>((resolve, reject) =>
          setTimeout(
            () =>
              drive(engine, prompts[i]!, s.output, start).then(
                (r) => resolve({ arrival: arrive[i]!, tokens: r.times }),
                reject,
              ),
            arrive[i]! * 1000,
          ),
        ),
    ),
  );
  const st = engine.stats();
  const stepTimes = engine.stepSummary();
  await engine.shutdown();
  const ours = metrics(traces);
  bestTokPerS = Math.max(bestTokPerS, ours.tokPerS);
  responses += traces.length;
  // Every peer's figures ride in each row; the anchor is the first --peer with figures at this rate,
  // else HF static batching, measured only with every request at once.
  const atRate = peersAtRate(peers, rateKey(rate), label, requestPairs);
  const first = atRate.find((p) => p.metrics);
  const staticAnchor = hf && rate === Infinity ? metrics(hfAllAtOnce(hf)) : null;
  const anchor = first?.metrics ?? staticAnchor;
  const anchorName = first ? first.name : hfName;
  const peerProblem = atRate.length
    ? atRate.map((p) => p.whyNull).join('; ')
    : 'no arrival-driven peer ran in this run (no --peer)';
  const why = anchor
    ? null
    : `${peerProblem}; ${hfWhyNull ?? 'HF static batching has no arrival-driven server: its latencies at this rate would be simulated, not measured'}`;
  for (const p of atRate)
    console.log(
      `  ${p.name}: ${p.metrics ? `${p.metrics.tokPerS.toFixed(1)} tok/s, TTFT p50 ${p.metrics.ttftP50.toFixed(0)} ms, ITL p50 ${p.metrics.itlP50.toFixed(1)} ms` : `null (${p.whyNull})`}`,
    );
  const c = `${args.get('label') ?? 'llama3-8b'} ${label}, ${N} reqs`;
  const r = (metric: string, key: keyof Metrics, higherIsBetter: boolean) =>
    rows.push(
      row({
        case: c,
        metric,
        higherIsBetter,
        ours: ours[key],
        anchor: anchor ? anchor[key] : null,
        anchorName: anchor ? anchorName : null,
        limit: null,
        limitName: null,
        anchorWhyNull: why,
        peers: atRate.map((p) =>
          peerFigure(p.name, p.metrics ? p.metrics[key] : null, p.whyNull, ours[key], higherIsBetter),
        ),
      }),
    );
  r('output tokens/s', 'tokPerS', true);
  r('requests/s', 'reqPerS', true);
  r('TTFT p50 ms', 'ttftP50', false);
  r('TTFT p99 ms', 'ttftP99', false);
  r('ITL p50 ms', 'itlP50', false);
  r('ITL p99 ms', 'itlP99', false);
  r('normalized latency p50 ms/token', 'normP50', false);
  const line = `${label}: ${((performance.now() - start) / 1e3).toFixed(1)} s, ${st.steps} steps (${replayed() - replays0}/${runner.stats.steps - steps0} replayed: ${runner.stats.mixedReplays - mixed0} mixed; ${runner.stats.mixedRecords + runner.stats.prefillRecords - records0} recorded while serving), preemptions ${st.preemptions}, prefix-cache hit rate ${st.prefixCacheHitRate.toFixed(3)}`;
  summary.push(line);
  console.log(line);
  console.log(`  ${describeHostPauses(pauses.stop())}`);
  // where the inter-token tail comes from: every decoding request waits through each step
  for (const b of stepTimes)
    console.log(
      `  ${b.kind} steps of ≤ ${b.rows} tokens: ${b.count}, p50 ${b.p50Ms.toFixed(1)} ms, p99 ${b.p99Ms.toFixed(1)} ms, max ${b.maxMs.toFixed(1)} ms`,
    );
}

const mean = (f: (s: RequestShape) => number) => (shapes.reduce((a, s) => a + f(s), 0) / N).toFixed(0);
const notes =
  `${N} requests per rate, seed ${SEED}: prompt lognormal (median ${Math.round((MIX.promptMedian * MAX_TOTAL) / MIX.atContext)}, σ ${MIX.promptSigma.toFixed(1)}; mean ${mean((s) => s.prompt)}), output lognormal (median ${Math.round((MIX.outputMedian * MAX_TOTAL) / MIX.atContext)}, σ ${MIX.outputSigma.toFixed(1)}; mean ${mean((s) => s.output)}), prompt + output ≤ ${MAX_TOTAL}; ` +
  `random token ids, EOS ignored, greedy. Poisson arrivals. Ours: Engine in-process, bf16 weights, f16 activations and KV, ${MAX_TOKENS} tokens/step (prefill chunks of ≤ ${PREFILL_CHUNK} tokens while others decode${ITL_RATIO !== undefined ? `, sized so such a step takes ≤ ${ITL_RATIO}× a decode-only one by measured step times` : ''}), ≤ ${MAX_SEQS} sequences, ${numPages} KV pages of ${PAGE}; mixed steps in row buckets ${runner.mixedRowBuckets?.join('/') ?? 'off'}, ${runner.mixedRowBuckets ? `${runner.stats.mixedRecords} recorded, ${runner.stats.mixedReplays} replayed` : 'unrecorded'}; ` +
  `token times taken when each step's events reach the caller; latencies from the intended arrival time. ` +
  (peers.some((p) => p.peer && !p.whyNull)
    ? `Peers (each row's "peers"; the anchor is the first with figures at the rate): ${peers
        .filter((p) => p.peer && !p.whyNull)
        .map((p) => `${p.peer!.name} on ${p.peer!.card}`)
        .join(
          '; ',
        )}, this run, the same lengths and arrival schedules (random ids, EOS ignored, greedy); token times from each peer's own per-token timestamps. `
    : '') +
  (peers.some((p) => p.whyNull)
    ? `Peers left out: ${peers
        .filter((p) => p.whyNull)
        .map((p) => p.whyNull)
        .join('; ')}. `
    : peers.length
      ? ''
      : 'No arrival-driven peer ran in this run (no --peer). ') +
  (hf
    ? `Static anchor (all-at-once rows only where the arrival-driven peer is missing): ${hf.name} on ${hf.card}, this run, fixed batches of ${BATCH_HF} in arrival order, left-padded, max_new_tokens = longest in batch, batches back to back (gaps between generate calls left out); a request ends at its own last useful token. `
    : `No anchor: ${hfWhyNull}. `) +
  summary.join('; ');
check.that(
  responses > 0,
  'responses were checked',
  `${responses} responses, each with its token count and finish reason length`,
);
writeResults(args.get('bench') ?? 'serve-llama3-8b', card, rows, notes, check.passed());
runner.destroy();
backend.destroy();
