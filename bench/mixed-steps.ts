/**
 * Per-step costs of a small mixed serving workload: requests of varied prompt lengths arrive while
 * others decode, so most steps mix decode tokens with a prefill chunk. For each step the Engine
 * runs it logs its kind (decode / mixed / prefill), token count n, sequences, whether it replayed a
 * recorded stream, and what the backend created during it: pipelines compiled, bind groups,
 * buffers, encodings missed in the encode memo; and its wall time (host encode + GPU + readback).
 * The table goes to stdout as markdown; a summary per kind follows.
 *
 * Usage (lavapipe or a GPU; the built-in model by default):
 *   node mixed-steps.js [--model models/builtin] [--requests 12] [--seed 7] [--mixed-rows auto|off|64,128]
 *     [--mixed-buckets K]  (mixed steps kept recorded; 0: padded but unrecorded; default the runner's)
 *     [--max-batch-tokens 128] [--prefill-chunk 48] [--max-seqs 8] [--stagger-ms 150]
 */
import '../src/register-all.js';
import { Engine } from '../src/engine/engine.js';
import type { DecodeSeq, DeviceSampleRow, ForwardBatch, ForwardOptions } from '../src/engine/model-runner.js';
import { WebGpuBackend } from '../src/backends/webgpu/webgpu-backend.js';
import { openLlamaModel } from '../src/models/llama/llama-family.js';
import { LlamaRunner } from '../src/models/llama/llama-runner.js';
import { parseMixedRowBuckets } from '../src/models/llama/step-padding.js';
import { Rng } from '../src/util/rng.js';
import { driveGreedy, TOKEN_IDS_ONLY } from './serving-driver.js';

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2)
  args.set(process.argv[i]!.replace(/^--/, ''), process.argv[i + 1] ?? '');
const num = (name: string, dflt: number) => (args.has(name) ? Number(args.get(name)) : dflt);

const MODEL = args.get('model') ?? 'models/builtin';
const N = num('requests', 12);
const SEED = num('seed', 7);
const MAX_TOKENS = num('max-batch-tokens', 128);
const CHUNK = num('prefill-chunk', 48);
const MAX_SEQS = num('max-seqs', 8);
const STAGGER = num('stagger-ms', 150);
const MIXED = parseMixedRowBuckets(args.get('mixed-rows') ?? 'auto');
const RECORDED = args.has('mixed-buckets') ? num('mixed-buckets', 0) : undefined;

interface StepRow {
  kind: 'decode' | 'mixed' | 'prefill';
  n: number;
  b: number;
  rows: number;
  replayed: boolean;
  pipelines: number;
  bindGroups: number;
  buffers: number;
  memoMisses: number;
  ms: number;
}

console.log(
  `seed ${SEED}, ${N} requests, model ${MODEL}, mixed rows ${args.get('mixed-rows') ?? 'auto'}, recorded mixed buckets ${RECORDED ?? 'default'}`,
);
const backend = await WebGpuBackend.create();
const model = await openLlamaModel(MODEL);
const runner = await LlamaRunner.load(model, {
  backend,
  maxTokens: MAX_TOKENS,
  maxSeqs: MAX_SEQS,
  numPages: 128,
  ...(MIXED !== undefined ? { mixedRowBuckets: MIXED } : {}),
  ...(RECORDED !== undefined ? { mixedBuckets: RECORDED } : {}),
});
await model.weights.close();

const steps: StepRow[] = [];
const counters = () => ({
  pipelines: backend.pipelines.compiled,
  bindGroups: backend.bindGroups.created,
  buffers: backend.buffersCreated,
  memoMisses: backend.encodeMemo.misses,
  replays: runner.stats.replays + runner.stats.prefillReplays + runner.stats.mixedReplays,
  t: performance.now(),
});
function push(kind: StepRow['kind'], n: number, b: number, rows: number, before: ReturnType<typeof counters>): void {
  const after = counters();
  steps.push({
    kind,
    n,
    b,
    rows,
    replayed: after.replays > before.replays,
    pipelines: after.pipelines - before.pipelines,
    bindGroups: after.bindGroups - before.bindGroups,
    buffers: after.buffers - before.buffers,
    memoMisses: after.memoMisses - before.memoMisses,
    ms: after.t - before.t,
  });
}

// every step the engine runs passes through these two entry points
const forward = runner.forward.bind(runner);
(runner as { forward: LlamaRunner['forward'] }).forward = async (batch: ForwardBatch, o?: ForwardOptions) => {
  const before = counters();
  const lens = batch.seqs.map((s) => s.tokens.length);
  const n = lens.reduce((a, c) => a + c, 0);
  const kind = lens.every((l) => l === 1) ? 'decode' : lens.some((l) => l === 1) ? 'mixed' : 'prefill';
  const out = await forward(batch, o);
  push(kind, n, lens.length, runner.lastStepRows, before);
  return out;
};
const submit = runner.submitDecode!;
(runner as { submitDecode: typeof submit }).submitDecode = async (
  seqs: readonly DecodeSeq[],
  tokens: Int32Array | null,
  rows: readonly DeviceSampleRow[],
) => {
  const before = counters();
  const out = await submit(seqs, tokens, rows);
  push('decode', seqs.length, seqs.length, seqs.length, before);
  return out;
};

const rng = new Rng(SEED);
const requests = Array.from({ length: N }, () => ({
  prompt: Array.from({ length: 20 + Math.floor(rng.next() * 180) }, () => 3 + Math.floor(rng.next() * 4000)),
  output: 8 + Math.floor(rng.next() * 24),
}));
const engine = new Engine(runner, TOKEN_IDS_ONLY, {
  maxBatchTokens: MAX_TOKENS,
  prefillChunkTokens: CHUNK,
  maxRunningSeqs: MAX_SEQS,
  prefixCaching: false,
});
const t0 = performance.now();
const done = await Promise.all(
  requests.map(async (r, i) => {
    await new Promise((res) => setTimeout(res, i * STAGGER));
    return driveGreedy(engine, r.prompt, r.output, t0);
  }),
);
const wall = (performance.now() - t0) / 1e3;
await engine.shutdown?.();

console.log('\n| # | kind | n | seqs | rows | replayed | pipelines | bind groups | buffers | memo misses | ms |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|');
steps.forEach((s, i) =>
  console.log(
    `| ${i + 1} | ${s.kind} | ${s.n} | ${s.b} | ${s.rows} | ${s.replayed ? 'yes' : 'no'} | ${s.pipelines} | ${s.bindGroups} | ${s.buffers} | ${s.memoMisses} | ${s.ms.toFixed(1)} |`,
  ),
);
console.log(
  '\n| kind | steps | replayed | distinct n | distinct rows | pipelines | bind groups | buffers | ms mean | ms p50 |',
);
console.log('|---|---|---|---|---|---|---|---|---|---|');
for (const kind of ['decode', 'mixed', 'prefill'] as const) {
  const of = steps.filter((s) => s.kind === kind);
  if (!of.length) continue;
  const ms = of.map((s) => s.ms).sort((a, b) => a - b);
  const sum = (f: (s: StepRow) => number) => of.reduce((a, s) => a + f(s), 0);
  console.log(
    `| ${kind} | ${of.length} | ${of.filter((s) => s.replayed).length} | ${new Set(of.map((s) => s.n)).size} | ${new Set(of.map((s) => s.rows)).size} | ${sum((s) => s.pipelines)} | ${sum((s) => s.bindGroups)} | ${sum((s) => s.buffers)} | ${(sum((s) => s.ms) / of.length).toFixed(1)} | ${ms[Math.floor(ms.length / 2)]!.toFixed(1)} |`,
  );
}
const tokens = done.reduce((a, d) => a + d.ids.length, 0);
console.log(`\n${steps.length} steps, ${tokens} output tokens in ${wall.toFixed(1)} s`);
console.log(`first tokens: ${done.map((d) => d.ids.slice(0, 3).join(',')).join(' | ')}`);
runner.destroy();
process.exit(0);
