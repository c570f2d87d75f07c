/**
 * Nano-batching end to end (docs/nanoflow.md): the serving Engine in-process over a ShareGPT-like
 * request mix (bench/serving-workload.ts), with nano-batching off (the direct baseline, our own
 * non-overlapped engine) and with `--nano N` nano-batches, in the same run on the same card:
 *
 *   offline   every request at once: total tokens/s (prompt + output, NanoFlow's measure) and
 *             output tokens/s, against the optimal throughput as NanoFlow defines it: the peak GEMM
 *             rate measured in this run ÷ (2 × parameters) tokens/s
 *   online    Poisson arrivals at each of --rates: TTFT and inter-token latency p50/p99
 *
 * Rows put the nano-batched figure as ours and the baseline's as the anchor (ratio > 1: nano-batching
 * wins). Checked before anything is written (a failure exits 1 and writes nothing): every request
 * ends with exactly its drawn number of tokens, and the greedy token ids of every request are the
 * same in both modes up to rounding, offline and at every rate: where a request's runs part, both
 * tokens there are near-ties in a reference forward of the shared prefix (bench/greedy-divergence.ts
 * says why exact equality is the wrong oracle and derives the tolerance).
 *
 * Usage:
 *   node dist/bench/nanoflow.js --model DIR [--requests 256] [--max-total 1024] [--nano 2] [--rates 4,16]
 *     [--max-seqs 256] [--max-batch-tokens 2048] [--prefill-chunk-tokens 256] [--seed 2026] [--gemm-size 8192]
 *     [--deadline-s S]  (online rates that would end past S seconds are skipped, and the notes say so)
 *   (lavapipe: node dist/bench/nanoflow.js --requests 6 --max-total 96 --rates 8 --max-seqs 8 --max-batch-tokens 64 --gemm-size 256)
 */
import '../src/register-all.js';
import { measureGemmRate } from '../src/backends/webgpu/measure-gemm.js';
import { WebGpuBackend } from '../src/backends/webgpu/webgpu-backend.js';
import { Engine } from '../src/engine/engine.js';
import { openLlamaModel } from '../src/models/llama/llama-family.js';
import { llamaTensorShapes } from '../src/models/llama/llama-tensors.js';
import { builtinModelPath } from '../src/models/load-model.js';
import { numel } from '../src/tensor/dtype.js';
import { Rng } from '../src/util/rng.js';
import { type BenchRow, cardName, row, writeResults } from './results.js';
import { driveGreedy, loadServingRunner, percentile, TOKEN_IDS_ONLY } from './serving-driver.js';
import { poissonArrivals, type RequestShape, SHAREGPT_LIKE, shareGptLikeWorkload } from './serving-workload.js';
import { checkDivergences, type DivergenceVerdict } from './greedy-divergence.js';
import { Check, UNIT_ROUNDOFF } from './verify.js';

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2)
  args.set(process.argv[i]!.replace(/^--/, ''), process.argv[i + 1] ?? '');
const num = (name: string, dflt: number) => (args.has(name) ? Number(args.get(name)) : dflt);

const N = num('requests', 256);
const SEED = num('seed', 2026);
const NANO = num('nano', 2);
const MAX_SEQS = num('max-seqs', 256);
const MAX_TOKENS = num('max-batch-tokens', 2048);
const PREFILL_CHUNK = num('prefill-chunk-tokens', 256);
const RATES = (args.get('rates') ?? '4,16').split(',').map(Number);
const PAGE = 16;
/** A bounded run: an online rate that would end past this many seconds from the start is skipped and named in the notes. */
const DEADLINE_S = num('deadline-s', Infinity);
const benchStart = performance.now();
if (!Number.isInteger(NANO) || NANO < 2) throw new Error(`--nano must be an integer ≥ 2, got ${args.get('nano')}`);

const check = new Check('nanoflow');
const backend = await WebGpuBackend.create();
const card = cardName(backend);
const modelDir = args.get('model') ?? builtinModelPath();
const model = await openLlamaModel(modelDir);
const cfg = model.config;
const MAX_TOTAL = Math.min(num('max-total', 1024), cfg.maxPositionEmbeddings);
const shapes = shareGptLikeWorkload(N, MAX_TOTAL, SEED);
const pagesFor = (tokens: number) => Math.ceil(tokens / PAGE);
const numPages = shapes.reduce((a, s) => a + pagesFor(s.prompt + s.output), 0) + 2 * MAX_SEQS;
const runner = await loadServingRunner(
  model,
  backend,
  { pageSize: PAGE, numPages, maxSeqs: MAX_SEQS, maxTokens: MAX_TOKENS },
  modelDir,
);

// NanoFlow's optimal throughput: every token costs 2 × params FLOPs at the peak GEMM rate
const params = [...llamaTensorShapes(cfg).values()].reduce((a, s) => a + numel(s), 0);
const gemm = await measureGemmRate(backend, num('gemm-size', 8192));
if (!gemm) throw new Error('no matmul kernel for the peak GEMM measurement on this device');
const optimalTokPerS = (gemm.tflops * 1e12) / (2 * params);
console.log(
  `peak GEMM ${gemm.tflops.toFixed(1)} TFLOP/s (${gemm.size}³ ${gemm.dtype}, ${gemm.path}); ${(params / 1e9).toFixed(3)} B params → optimal ${optimalTokPerS.toFixed(0)} tokens/s`,
);

type Mode = 'off' | number;
const modeName = (m: Mode) => (m === 'off' ? 'nano-batching off' : `${m} nano-batches`);

interface Run {
  ids: number[][];
  /** Per request: arrival and each token's time, seconds from the start. */
  traces: { arrival: number; tokens: number[] }[];
  wallS: number;
  forwards: number;
}

/** Serves `prompts` (arriving at `arrive`) on a fresh engine in `mode`; checks each ends with its length. */
async function serve(mode: Mode, prompts: number[][], outputs: number[], arrive: number[]): Promise<Run> {
  const engine = new Engine(runner, TOKEN_IDS_ONLY, {
    maxBatchTokens: MAX_TOKENS,
    prefillChunkTokens: PREFILL_CHUNK,
    maxRunningSeqs: MAX_SEQS,
    prefixCaching: false,
    seed: SEED,
    nanoBatches: mode,
  });
  const forwards0 = runner.stats.steps;
  const start = performance.now();
  const one = async (i: number) => {
    await new Promise((r) => setTimeout(r, arrive[i]! * 1000));
    const { ids, times, finishReason } = await driveGreedy(engine, prompts[i]!, outputs[i]!, start);
    if (ids.length !== outputs[i] || finishReason !== 'length')
      check.that(
        false,
        'every request ends with its drawn token count',
        `${modeName(mode)}: request ${i} asked for ${outputs[i]}, got ${ids.length} (${finishReason})`,
      );
    return { ids, trace: { arrival: arrive[i]!, tokens: times } };
  };
  const done = await Promise.all(prompts.map((_, i) => one(i)));
  const wallS = (performance.now() - start) / 1e3;
  await engine.shutdown();
  return {
    ids: done.map((d) => d.ids),
    traces: done.map((d) => d.trace),
    wallS,
    forwards: runner.stats.steps - forwards0,
  };
}

/** Partings checked per comparison: each costs two reference forwards of its prefix. */
const DIVERGENCE_CAP = 32;

/**
 * The nano-batched run draws the baseline's greedy tokens up to rounding (bench/greedy-divergence.ts):
 * not token for token, since a nano-batch runs its rows' GEMMs at another row count and so with
 * another kernel and summation order, which flips greedy picks at near-ties; but every request
 * agrees up to where the runs part, and at that point both runs' tokens are within the rounding
 * tolerance of the largest logit of a reference forward of the shared prefix.
 */
async function sameTokensUpToRounding(what: string, prompts: number[][], a: Run, b: Run, mode: Mode): Promise<void> {
  const r = await checkDivergences(runner, prompts, a.ids, b.ids, {
    pageSize: PAGE,
    unitRoundoff: UNIT_ROUNDOFF.f16,
    cap: DIVERGENCE_CAP,
  });
  const bad = r.bad[0];
  const gaps = (v: DivergenceVerdict) =>
    `request ${v.request} output ${v.at}: baseline ${v.base} (${v.gapBase.toFixed(4)} below the reference's top logit), ` +
    `${modeName(mode)} ${v.other} (${v.gapOther.toFixed(4)} below)`;
  const summary =
    `${r.diverged} of ${a.ids.length} requests part, first ${r.checked} checked; ` +
    `${r.agreedTokens} of ${r.totalTokens} tokens before the partings agree; tolerance ${r.tol.toFixed(4)} ` +
    `(reference noise ${r.noise.toExponential(2)}, f16 rounding)`;
  check.that(
    !bad,
    `${what}: ${modeName(mode)} draws the baseline's greedy tokens, or parts from them only at near-ties of the logits`,
    bad
      ? `${gaps(bad)}, tolerance ${r.tol.toFixed(4)}; ${r.bad.length} such of ${r.checked} checked`
      : `${summary}${r.worst ? `; largest gap: ${gaps(r.worst)}` : ''}`,
  );
  notes.push(`${what}: ${summary}`);
}

function latencies(r: Run) {
  const ttft = r.traces.map((t) => (t.tokens[0]! - t.arrival) * 1e3);
  const itl = r.traces.flatMap((t) => t.tokens.slice(1).map((x, i) => (x - t.tokens[i]!) * 1e3));
  return {
    ttftP50: percentile(ttft, 0.5),
    ttftP99: percentile(ttft, 0.99),
    itlP50: percentile(itl, 0.5),
    itlP99: percentile(itl, 0.99),
  };
}

const randomPrompts = (seed: number, ss: readonly RequestShape[]) => {
  const rng = new Rng(seed);
  return ss.map((s) => Array.from({ length: s.prompt }, () => rng.int(0, cfg.vocabSize - 1)));
};

// warm-up outside the numbers: both modes over a slice of the mix, so shaders and decode streams exist
{
  const warm = shapes.slice(0, Math.min(MAX_SEQS, 16));
  const prompts = randomPrompts(SEED ^ 0x5eed, warm);
  for (const mode of ['off', NANO] as const)
    await serve(
      mode,
      prompts,
      warm.map((s) => Math.min(s.output, 8)),
      warm.map(() => 0),
    );
}

const rows: BenchRow[] = [];
const notes: string[] = [];
/** Wall seconds of the offline pair (both modes), the estimate of one online rate's pair. */
let pairS = 0;
const promptTokens = shapes.reduce((a, s) => a + s.prompt, 0);
const outputTokens = shapes.reduce((a, s) => a + s.output, 0);
const outputs = shapes.map((s) => s.output);
const versus = (c: string, metric: string, higherIsBetter: boolean, ours: number, base: number, limit?: number) =>
  rows.push(
    row({
      case: c,
      metric,
      higherIsBetter,
      ours,
      anchor: base,
      anchorName: 'our engine, nano-batching off',
      limit: limit ?? null,
      limitName: limit ? 'NanoFlow optimal: peak GEMM ÷ (2 × params)' : null,
    }),
  );

// offline: every request at once
{
  const prompts = randomPrompts(SEED + 1, shapes);
  const at0 = shapes.map(() => 0);
  const base = await serve('off', prompts, outputs, at0);
  const nano = await serve(NANO, prompts, outputs, at0);
  await sameTokensUpToRounding('offline', prompts, base, nano, NANO);
  pairS = base.wallS + nano.wallS;
  const total = (r: Run) => (promptTokens + outputTokens) / r.wallS;
  const c = `offline ${N} reqs`;
  versus(c, 'total tokens/s', true, total(nano), total(base), optimalTokPerS);
  versus(c, 'output tokens/s', true, outputTokens / nano.wallS, outputTokens / base.wallS);
  rows.push(
    row({
      case: `${c}, nano-batching off`,
      metric: 'total tokens/s',
      higherIsBetter: true,
      ours: total(base),
      anchor: null,
      anchorName: null,
      limit: optimalTokPerS,
      limitName: 'NanoFlow optimal: peak GEMM ÷ (2 × params)',
      anchorWhyNull: 'the baseline itself: its fraction of the optimal throughput',
    }),
  );
  notes.push(
    `offline: off ${base.wallS.toFixed(1)} s in ${base.forwards} forwards, ${NANO} nano-batches ${nano.wallS.toFixed(1)} s in ${nano.forwards} forwards; ` +
      `fractions of optimal ${((100 * total(base)) / optimalTokPerS).toFixed(1)}% and ${((100 * total(nano)) / optimalTokPerS).toFixed(1)}%`,
  );
}

// online: Poisson arrivals
for (const rate of RATES) {
  if ((performance.now() - benchStart) / 1e3 + pairS > DEADLINE_S) {
    notes.push(`${rate} req/s: skipped (would pass --deadline-s ${DEADLINE_S})`);
    console.log(notes[notes.length - 1]);
    continue;
  }
  const seed = SEED + 1 + Math.round(1000 * rate);
  const prompts = randomPrompts(seed, shapes);
  const arrive = poissonArrivals(N, rate, seed);
  const base = await serve('off', prompts, outputs, arrive);
  const nano = await serve(NANO, prompts, outputs, arrive);
  await sameTokensUpToRounding(`${rate} req/s`, prompts, base, nano, NANO);
  const [b, n] = [latencies(base), latencies(nano)];
  const c = `${rate} req/s, ${N} reqs`;
  versus(c, 'TTFT p50 ms', false, n.ttftP50, b.ttftP50);
  versus(c, 'TTFT p99 ms', false, n.ttftP99, b.ttftP99);
  versus(c, 'ITL p50 ms', false, n.itlP50, b.itlP50);
  versus(c, 'ITL p99 ms', false, n.itlP99, b.itlP99);
  notes.push(`${rate} req/s: off ${base.wallS.toFixed(1)} s, nano ${nano.wallS.toFixed(1)} s`);
}

const p = SHAREGPT_LIKE;
writeResults(
  'nanoflow',
  card,
  rows,
  `${modelDir}: ${(params / 1e9).toFixed(3)} B params, f16 activations and KV. ${N} requests, seed ${SEED}, ShareGPT-like mix ` +
    `(prompt log-normal median ${p.promptMedian}, σ ${p.promptSigma}; output median ${p.outputMedian}, σ ${p.outputSigma}; at ${p.atContext} context, scaled to ${MAX_TOTAL}): ` +
    `${promptTokens} prompt + ${outputTokens} output tokens. Engine: ${MAX_TOKENS} tokens/step, prefill chunks ${PREFILL_CHUNK}, ≤ ${MAX_SEQS} sequences, no prefix cache, greedy. ` +
    `Nano-batching splits host-driven steps (the resident decode loop keeps whole batches). Peak GEMM ${gemm.tflops.toFixed(1)} TFLOP/s (${gemm.size}³ ${gemm.dtype}) in this run. ` +
    notes.join('; '),
  check.passed(),
);
runner.destroy();
backend.destroy();
