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
 * Anchor: HF transformers with static batching, measured on the same card by
 * bench/anchors/hf_serve.py on the same request lengths: fixed batches of 16 in arrival order,
 * left-padded, generate with max_new_tokens = the batch's longest output, a timestamp per step.
 * Its latencies under each rate's arrivals are simulated from those measured timings: a batch
 * starts once its last request has arrived and the previous batch is done (so at low rates a
 * request also waits for its batch to fill); a request's tokens stream at the batch's step
 * times and it ends at its own last useful token (a streaming server's view, generous to HF).
 *
 * Usage (the device run: bench/anchors/hf_serve.py writes the checkpoint and the anchor):
 *   node serve.js --write-workload W.json [--requests N] [--max-total T] [--seed S]
 *   node serve.js --model DIR/llama3-8b-random --anchor DIR/hf-serve.json [--rates 1,2,4,8,inf]
 *     [--anchor-note TEXT] (e.g. where an anchor from an earlier lease is reused) [--deadline-s S]
 * Local check on lavapipe: node serve.js --model models/builtin --requests 8 --rates 4,inf --max-total 256
 */
import '../src/register-all.js';
import { readFileSync, writeFileSync } from 'node:fs';
import { Engine } from '../src/engine/engine.js';
import type { EngineTokenizer } from '../src/engine/tokenizer.js';
import { WebGpuBackend } from '../src/backends/webgpu/webgpu-backend.js';
import { openModel } from '../src/io/open-model.js';
import { LlamaRunner } from '../src/models/llama/llama-runner.js';
import { Rng } from '../src/util/rng.js';
import { type BenchRow, cardName, row, writeResults } from './results.js';

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i]!.replace(/^--/, ''), process.argv[i + 1] ?? '');
const num = (name: string, dflt: number) => (args.has(name) ? Number(args.get(name)) : dflt);

const N = num('requests', 40);
const SEED = num('seed', 2026);
const MAX_TOTAL = num('max-total', 2048);
const BATCH_HF = 16;

interface Shape {
  prompt: number;
  output: number;
}

/** Request lengths: lognormal prompt and output (medians and spreads scaled from a 2048 context). */
function workload(n: number, maxTotal: number, seed: number): Shape[] {
  const rng = new Rng(seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
  const scale = maxTotal / 2048;
  const lognormal = (median: number, sigma: number) => Math.round(median * scale * Math.exp(sigma * normal()));
  const out: Shape[] = [];
  while (out.length < n) {
    const prompt = Math.max(4, lognormal(200, 1.0));
    const output = Math.max(4, lognormal(128, 0.8));
    if (prompt + output <= maxTotal) out.push({ prompt, output }); // like ShareGPT filtering: drop, don't clip
  }
  return out;
}

/** Arrival times in seconds from the first request: Poisson at `rate` req/s, or all at 0 for Infinity. */
function arrivals(n: number, rate: number, seed: number): number[] {
  const rng = new Rng(seed);
  const t = [0];
  for (let i = 1; i < n; i++) t.push(rate === Infinity ? 0 : t[i - 1]! - Math.log(1 - rng.next()) / rate);
  return t;
}

/** Nearest-rank percentile (q in [0, 1]). */
function pct(xs: readonly number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}

/** What each request saw, in seconds from the first arrival. */
interface Trace {
  arrival: number;
  /** Time of each output token. */
  tokens: number[];
}

interface Metrics {
  tokPerS: number;
  reqPerS: number;
  ttftP50: number;
  ttftP99: number;
  itlP50: number;
  itlP99: number;
  normP50: number;
}

function metrics(traces: readonly Trace[]): Metrics {
  const end = Math.max(...traces.map((t) => t.tokens[t.tokens.length - 1]!));
  const outTokens = traces.reduce((a, t) => a + t.tokens.length, 0);
  const ttft = traces.map((t) => t.tokens[0]! - t.arrival);
  const itl = traces.flatMap((t) => t.tokens.slice(1).map((x, i) => x - t.tokens[i]!));
  const norm = traces.map((t) => (t.tokens[t.tokens.length - 1]! - t.arrival) / t.tokens.length);
  const ms = 1000;
  return {
    tokPerS: outTokens / end,
    reqPerS: traces.length / end,
    ttftP50: pct(ttft, 0.5) * ms,
    ttftP99: pct(ttft, 0.99) * ms,
    itlP50: pct(itl, 0.5) * ms,
    itlP99: pct(itl, 0.99) * ms,
    normP50: pct(norm, 0.5) * ms,
  };
}

/** HF's measured batches: members (request indices) and seconds from the generate call to each step's token. */
interface HfAnchor {
  card: string;
  name: string;
  requests: [number, number][];
  batches: { members: number[]; steps: number[]; total: number }[];
}

/** HF static batching under the given arrivals, replayed from the measured batch timings. */
function simulateHf(hf: HfAnchor, arrive: readonly number[]): Trace[] {
  const traces: Trace[] = [];
  let free = 0;
  for (const b of hf.batches) {
    const start = Math.max(free, ...b.members.map((i) => arrive[i]!));
    for (const i of b.members) traces[i] = { arrival: arrive[i]!, tokens: b.steps.slice(0, hf.requests[i]![1]).map((s) => start + s) };
    free = start + b.total;
  }
  return traces;
}

const shapes = workload(N, MAX_TOTAL, SEED);
const rateList = (args.get('rates') ?? '1,2,4,8,inf').split(',').map((r) => (r === 'inf' ? Infinity : Number(r)));

if (args.has('write-workload')) {
  writeFileSync(args.get('write-workload')!, JSON.stringify({ seed: SEED, maxTotal: MAX_TOTAL, batch: BATCH_HF, requests: shapes.map((s) => [s.prompt, s.output]) }) + '\n');
  const sum = (f: (s: Shape) => number) => shapes.reduce((a, s) => a + f(s), 0);
  console.log(`workload: ${N} requests, prompt mean ${(sum((s) => s.prompt) / N).toFixed(0)}, output mean ${(sum((s) => s.output) / N).toFixed(0)} tokens → ${args.get('write-workload')}`);
  process.exit(0);
}

const hf = args.has('anchor') ? (JSON.parse(readFileSync(args.get('anchor')!, 'utf8')) as HfAnchor) : null;
if (hf && (hf.requests.length !== N || hf.requests.some(([p, o], i) => p !== shapes[i]!.prompt || o !== shapes[i]!.output))) {
  throw new Error(`${args.get('anchor')} was measured on another workload (pass the same --requests/--max-total/--seed as --write-workload)`);
}

const backend = await WebGpuBackend.create();
const model = await openModel(args.get('model') ?? 'models/builtin');
const cfg = model.config;
if (MAX_TOTAL > cfg.maxPositionEmbeddings) throw new Error(`--max-total ${MAX_TOTAL} is over the model's context ${cfg.maxPositionEmbeddings}`);
const PAGE = 16;
const MAX_SEQS = Math.min(64, N); // more than N never run at once
const MAX_TOKENS = 512; // tokens per step: the server's default --max-batch-tokens
// Enough KV pages for every request at once (plus the warm-up's), so the numbers show batching, not preemption.
const WARM_PROMPT = Math.floor(MAX_TOKENS / MAX_SEQS);
const warmOutput = (i: number) => Math.min(i + 2, MAX_TOTAL - WARM_PROMPT); // i + 2: the first decode step has all MAX_SEQS
const pagesFor = (tokens: number) => Math.ceil(tokens / PAGE);
const numPages =
  Math.max(shapes.reduce((a, s) => a + pagesFor(s.prompt + s.output), 0), Array.from({ length: MAX_SEQS }, (_, i) => pagesFor(WARM_PROMPT + warmOutput(i))).reduce((a, b) => a + b, 0)) + 2 * MAX_SEQS;
const t0 = performance.now();
const runner = await LlamaRunner.load(model, { backend, actDtype: 'f16', pageSize: PAGE, numPages, maxSeqs: MAX_SEQS, maxTokens: MAX_TOKENS });
await model.weights.close();
console.log(`loaded ${args.get('model') ?? 'models/builtin'} in ${((performance.now() - t0) / 1e3).toFixed(1)} s; ${numPages} KV pages of ${PAGE} tokens`);

// The engine never needs text here: token ids in, token ids out, like the anchor (no detokenizing on either side).
const tokenizer: EngineTokenizer = {
  encode: () => [],
  decode: () => '',
  applyChatTemplate: () => '',
  templateSupportsTools: false,
  stopTokenIds: [],
  vocabulary: () => ({ tokens: [], type: 'raw' }),
};
const newEngine = () => new Engine(runner, tokenizer, { maxBatchTokens: MAX_TOKENS, maxRunningSeqs: MAX_SEQS, seed: SEED });
const randomIds = (rng: Rng, n: number) => Array.from({ length: n }, () => rng.int(0, cfg.vocabSize - 1));

/** Runs one request to its end, returning its token times (seconds since `t0`). */
async function drive(engine: Engine, prompt: number[], output: number, t0: number): Promise<number[]> {
  const req = await engine.submit(prompt, { maxTokens: output, temperature: 0, ignoreEos: true });
  const times: number[] = [];
  for await (const ev of req) if (ev.type === 'delta') for (let k = 0; k < ev.tokens.length; k++) times.push((performance.now() - t0) / 1e3);
  await req.result;
  if (times.length !== output) throw new Error(`a request asked for ${output} tokens and got ${times.length}`);
  return times;
}

// Warm-up, outside the numbers: MAX_SEQS short requests admitted in one step, one finishing per
// step, so every decode batch size 1…MAX_SEQS records its dispatch stream; then a few prefills of
// assorted lengths, chunked, mixed with decodes.
{
  const engine = newEngine();
  const rng = new Rng(SEED ^ 0x5eed);
  const tw = performance.now();
  await Promise.all(Array.from({ length: MAX_SEQS }, (_, i) => drive(engine, randomIds(rng, WARM_PROMPT), warmOutput(i), tw)));
  await Promise.all([0.9, 0.5, 0.25, 0.1].map((f) => drive(engine, randomIds(rng, Math.round(MAX_TOTAL * f) - 8), 8, tw)));
  await engine.shutdown();
  console.log(`warm-up ${((performance.now() - tw) / 1e3).toFixed(1)} s (${runner.stats.steps} steps, ${runner.stats.replays} replayed)`);
}

// A lent device's time is scarce: with --deadline-s, a rate that would end past it (estimated from
// its arrival span and the best throughput so far) is skipped and named in the notes.
const DEADLINE_MS = num('deadline-s', Infinity) * 1000;
let bestTokPerS = 0;
const outputTokens = shapes.reduce((a, s) => a + s.output, 0);

const rows: BenchRow[] = [];
const hfName = hf ? `${hf.name}, static batches of ${BATCH_HF}` : null;
const summary: string[] = [];
for (const rate of rateList) {
  // Seeded by the rate, not its place in --rates: a rate's arrivals and ids are the same in any run.
  const rateSeed = SEED + 1 + (Number.isFinite(rate) ? Math.round(1000 * rate) : 999_999);
  const arrive = arrivals(N, rate, rateSeed);
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
  const replays0 = runner.stats.replays;
  const start = performance.now();
  // Each request is submitted at its arrival time; latencies count from that intended time, so timer lag is ours.
  const traces = await Promise.all(
    shapes.map(
      (s, i) =>
        new Promise<Trace>((resolve, reject) =>
          setTimeout(() => drive(engine, prompts[i]!, s.output, start).then((tokens) => resolve({ arrival: arrive[i]!, tokens }), reject), arrive[i]! * 1000),
        ),
    ),
  );
  const st = engine.stats();
  await engine.shutdown();
  const ours = metrics(traces);
  bestTokPerS = Math.max(bestTokPerS, ours.tokPerS);
  const anchor = hf ? metrics(simulateHf(hf, arrive)) : null;
  const c = `${args.get('label') ?? 'llama3-8b'} ${label}, ${N} reqs`;
  const r = (metric: string, key: keyof Metrics, higherIsBetter: boolean) =>
    rows.push(row({ case: c, metric, higherIsBetter, ours: ours[key], anchor: anchor ? anchor[key] : null, anchorName: hfName, limit: null, limitName: null }));
  r('output tokens/s', 'tokPerS', true);
  r('requests/s', 'reqPerS', true);
  r('TTFT p50 ms', 'ttftP50', false);
  r('TTFT p99 ms', 'ttftP99', false);
  r('ITL p50 ms', 'itlP50', false);
  r('ITL p99 ms', 'itlP99', false);
  r('normalized latency p50 ms/token', 'normP50', false);
  const line = `${label}: ${((performance.now() - start) / 1e3).toFixed(1)} s, ${st.steps} steps (${runner.stats.replays - replays0}/${runner.stats.steps - steps0} replayed), preemptions ${st.preemptions}, prefix-cache hit rate ${st.prefixCacheHitRate.toFixed(3)}`;
  summary.push(line);
  console.log(line);
}

const mean = (f: (s: Shape) => number) => (shapes.reduce((a, s) => a + f(s), 0) / N).toFixed(0);
const notes =
  `${N} requests per rate, seed ${SEED}: prompt lognormal (median ${Math.round((200 * MAX_TOTAL) / 2048)}, σ 1.0; mean ${mean((s) => s.prompt)}), output lognormal (median ${Math.round((128 * MAX_TOTAL) / 2048)}, σ 0.8; mean ${mean((s) => s.output)}), prompt + output ≤ ${MAX_TOTAL}; ` +
  `random token ids, EOS ignored, greedy. Poisson arrivals. Ours: Engine in-process, bf16 weights, f16 activations and KV, ${MAX_TOKENS} tokens/step, ≤ ${MAX_SEQS} sequences, ${numPages} KV pages of ${PAGE}; ` +
  `token times taken when each step's events reach the caller; latencies from the intended arrival time. ` +
  (hf ? `Anchor: ${hf.name} on ${hf.card}${args.has('anchor-note') ? ` (${args.get('anchor-note')})` : ''}, fixed batches of ${BATCH_HF} in arrival order, left-padded, max_new_tokens = longest in batch; batch timings measured once per step, arrivals simulated (a batch starts when its last request has arrived and the previous batch is done; a request ends at its own last useful token). ` : 'No anchor. ') +
  summary.join('; ');
writeResults(args.get('bench') ?? 'serve-llama3-8b', cardName(backend), rows, notes);
runner.destroy();
backend.destroy();
