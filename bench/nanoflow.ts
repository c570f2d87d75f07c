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
 * wins). Both arms run on one runner after the same warm-up (the runner's `warmUp`, which records a
 * stream for every step shape the engine's buckets allow, then both modes over a slice of the mix),
 * and each arm prints how many of its steps replayed a recorded stream, how many the host encoded
 * (recorded on the spot or run unrecorded), and its steps by kind and rows with their mean wall
 * time (bench/step-counts.ts), so a reader sees why one arm is faster. Checked before anything is written (a failure exits 1 and writes nothing): every request
 * ends with exactly its drawn number of tokens; every offline step of the baseline replays a
 * recorded stream (one encoded on the host costs ~1 s at 8B and would measure recording, not
 * nano-batching); and the greedy token ids of every request are the
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
import { openLlamaModel } from '../src/models/llama/llama-family.js';
import { llamaTensorShapes } from '../src/models/llama/llama-tensors.js';
import { builtinModelPath } from '../src/models/load-model.js';
import { numel } from '../src/tensor/dtype.js';
import { Rng } from '../src/util/rng.js';
import { type BenchRow, cardName, row, writeResults } from './results.js';
import { loadServingRunner, percentile } from './serving-driver.js';
import { poissonArrivals, type RequestShape, SHAREGPT_LIKE, shareGptLikeWorkload } from './serving-workload.js';
import { checkDivergences, type DivergenceVerdict } from './greedy-divergence.js';
import { Check, UNIT_ROUNDOFF } from './verify.js';
import { type ArmConfig, type Mode, modeName, type Run, serveArm, warmArms } from './nanoflow-arms.js';
import { describeCounts } from './step-counts.js';

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

const armConfig: ArmConfig = {
  maxBatchTokens: MAX_TOKENS,
  prefillChunkTokens: PREFILL_CHUNK,
  maxRunningSeqs: MAX_SEQS,
  seed: SEED,
};

/** One arm (bench/nanoflow-arms.ts); a request that does not end with its drawn length fails the bench. */
async function serve(what: string, mode: Mode, prompts: number[][], outputs: number[], arrive: number[]): Promise<Run> {
  const run = await serveArm(runner, armConfig, what, mode, prompts, outputs, arrive);
  for (const s of run.short) check.that(false, 'every request ends with its drawn token count', s);
  return run;
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

// Warm-up outside the numbers, the same for both arms (bench/nanoflow-arms.ts says why)
const warmShapes = shapes.slice(0, Math.min(MAX_SEQS, 16));
const warmUp = await warmArms(
  runner,
  armConfig,
  NANO,
  randomPrompts(SEED ^ 0x5eed, warmShapes),
  warmShapes.map((s) => Math.min(s.output, 8)),
);

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
  const base = await serve('offline', 'off', prompts, outputs, at0);
  const nano = await serve('offline', NANO, prompts, outputs, at0);
  await sameTokensUpToRounding('offline', prompts, base, nano, NANO);
  const c0 = base.counts;
  check.that(
    c0.recorded === 0 && c0.unrecorded === 0,
    'offline: every step of the baseline replays a stream recorded before the arms (the ratio measures nano-batching, not recording)',
    describeCounts('baseline', c0),
  );
  notes.push(
    `offline ${describeCounts('off', base.counts)}`,
    `offline ${describeCounts(`${NANO} nano-batches`, nano.counts)}`,
  );
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
  const base = await serve(`${rate} req/s`, 'off', prompts, outputs, arrive);
  const nano = await serve(`${rate} req/s`, NANO, prompts, outputs, arrive);
  await sameTokensUpToRounding(`${rate} req/s`, prompts, base, nano, NANO);
  const [b, n] = [latencies(base), latencies(nano)];
  const c = `${rate} req/s, ${N} reqs`;
  versus(c, 'TTFT p50 ms', false, n.ttftP50, b.ttftP50);
  versus(c, 'TTFT p99 ms', false, n.ttftP99, b.ttftP99);
  versus(c, 'ITL p50 ms', false, n.itlP50, b.itlP50);
  versus(c, 'ITL p99 ms', false, n.itlP99, b.itlP99);
  notes.push(
    `${rate} req/s: off ${base.wallS.toFixed(1)} s, nano ${nano.wallS.toFixed(1)} s`,
    `${rate} req/s ${describeCounts('off', base.counts)}`,
    `${rate} req/s ${describeCounts(`${NANO} nano-batches`, nano.counts)}`,
  );
}

const p = SHAREGPT_LIKE;
writeResults(
  'nanoflow',
  card,
  rows,
  `${modelDir}: ${(params / 1e9).toFixed(3)} B params, f16 activations and KV. ${N} requests, seed ${SEED}, ShareGPT-like mix ` +
    `(prompt log-normal median ${p.promptMedian}, σ ${p.promptSigma}; output median ${p.outputMedian}, σ ${p.outputSigma}; at ${p.atContext} context, scaled to ${MAX_TOTAL}): ` +
    `${promptTokens} prompt + ${outputTokens} output tokens. Engine: ${MAX_TOKENS} tokens/step, prefill chunks ${PREFILL_CHUNK}, ≤ ${MAX_SEQS} sequences, no prefix cache, greedy. ` +
    `Nano-batching splits host-driven steps (the resident decode loop keeps whole batches). Both arms after the runner's warm-up (${warmUp.steps} step shapes recorded in ${(warmUp.ms / 1e3).toFixed(1)} s). Peak GEMM ${gemm.tflops.toFixed(1)} TFLOP/s (${gemm.size}³ ${gemm.dtype}) in this run. ` +
    notes.join('; '),
  check.passed(),
);
runner.destroy();
backend.destroy();
