/**
 * Long-context decode on the Llama-3-8B shape (random bf16 weights, f16 activations and KV): decode
 * tok/s and the GPU KV memory per step, full attention on the GPU against the long-context mode
 * (MagicPIG: sinks + window on the GPU, the rest LSH-sampled on the CPU; src/longctx), over
 * contexts and batch sizes up to what fits (issue 24).
 *
 * Full attention: each sequence's pages cover its whole context (their contents do not change
 * the time, so they are not filled). MagicPIG: each sequence keeps SINKS + WINDOW tokens of pages
 * on the GPU; its CPU store holds the rest, synthesized (seeded Gaussian K/V for 512 positions,
 * hashed, repeated to the length: `LlamaLongContext.synthesize`) because prefilling 128K tokens and
 * hashing them on the CPU would take minutes per row. A row is skipped (and said so) where the
 * batch's KV pages or its CPU stores do not fit (KV_GIB, CPU_GIB).
 *
 * The answer is checked first, on a real 2048-token context of the same model: prefilled twice,
 * the second copy's pages past 16 sink tokens and a 256-token window moved to the CPU store, then
 * decoded beside the first in one batch: with the exact policy for the moved part its logits must
 * match the whole copy's within LOGIT_TOL of max|logit| and give the same greedy token; with
 * MagicPIG's K, L the error is reported.
 *
 * Usage (H100, about 4 minutes):
 *   node dist/bench/magicpig-decode.js DIR/llama3-8b-random   (the checkpoint bench/anchors/hf_decode.py writes)
 * Environment: CONTEXTS (default 16384,32768,65536,98304,131072), BATCHES (1,4,16),
 * K (10), L (150), SINKS (16), WINDOW (4096), STEPS (6 timed after 2 warm-up), KV_GIB (50: the
 * device pages), CPU_GIB (100: CPU stores in total), CHECK_TOKENS (2048).
 */
import '../src/register-all.js';
import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import { cpuRuntime } from '../src/backends/cpu/cpu-runtime.js';
import { WebGpuBackend } from '../src/backends/webgpu/webgpu-backend.js';
import type { ForwardSeq } from '../src/engine/model-runner.js';
import { LlamaRunner } from '../src/models/llama/llama-runner.js';
import { maxRelError } from '../src/testing/rel-error.js';
import { Rng } from '../src/util/rng.js';
import { openLlamaForContext } from './long-context-model.js';
import { type BenchRow, cardName, row, writeResults } from './results.js';
import { Check, argmax, fail } from './verify.js';

const env = (k: string, d: string) => process.env[k] ?? d;
const list = (k: string, d: string) => env(k, d).split(',').map(Number);
const CONTEXTS = list('CONTEXTS', '16384,32768,65536,98304,131072');
const BATCHES = list('BATCHES', '1,4,16');
const K = Number(env('K', '10'));
const L = Number(env('L', '150'));
const SINKS = Number(env('SINKS', '16'));
const WINDOW = Number(env('WINDOW', '4096'));
const STEPS = Number(env('STEPS', '6'));
const WARMUP = 2;
const KV_GIB = Number(env('KV_GIB', '50'));
const CPU_GIB = Number(env('CPU_GIB', '100'));
const P = 16;
/** Logits with part of the attention computed in float64 on the CPU against all on the GPU (f16 activations). */
const LOGIT_TOL = 3e-2;
const SEED = 20261218;
/** The context the full-attention step is also timed at, for what the long KV adds. */
const SHORT = 128;
/** Tokens of the check's context (2048; smaller for small checkpoints). */
const CHECK = Number(env('CHECK_TOKENS', '2048'));

const dir = process.argv[2] ?? '';
if (!dir || !existsSync(dir))
  fail(`magicpig-decode: no checkpoint at ${dir} (a Llama-3-8B-shaped folder; bench/decode.ts's llama3-8b-random)`);
const backend = await WebGpuBackend.create();
const card = cardName(backend);
const check = new Check('magicpig-decode');
const { model: m, lifted } = await openLlamaForContext(dir, Math.max(...CONTEXTS) + WARMUP + STEPS + 1);
if (lifted !== null)
  console.log(`context bound lifted from the checkpoint's ${lifted} to ${m.config.maxPositionEmbeddings}`);
const cfg = m.config;
const pageBytes = cfg.numLayers * 2 * cfg.numKvHeads * P * cfg.headDim * 2;
const perLayerPage = pageBytes / cfg.numLayers;
const numPages = Math.min(
  Math.floor((KV_GIB * 2 ** 30) / pageBytes),
  Math.floor(backend.caps.maxStorageBufferBindingSize / perLayerPage),
);
// the check decodes two sequences in one batch
const maxBatch = Math.max(2, ...BATCHES);
const runner = await LlamaRunner.load(m, {
  backend,
  actDtype: 'f16',
  maxTokens: CHECK,
  maxSeqs: maxBatch,
  numPages,
  pageSize: P,
});
await m.weights.close();
const V = runner.vocabSize;
const lc = runner.longContext;
console.log(
  `${card}: ${numPages} KV pages of ${P} (${((numPages * pageBytes) / 2 ** 30).toFixed(1)} GiB), K=${K} L=${L} sinks ${SINKS} window ${WINDOW}`,
);

// ---- the check: a real context, the moved part attended exactly, then by LSH sampling
{
  const rng = new Rng(SEED);
  const prompt = Array.from({ length: CHECK }, () => rng.int(10, V - 1));
  const own = CHECK / P + 2;
  const pagesA = Array.from({ length: own }, (_, i) => i);
  const pagesB = Array.from({ length: own }, (_, i) => own + i);
  for (const [name, o] of [
    ['exact', { K: 0, L: 2, policy: { kind: 'exact' } as const }],
    [`magicpig K=${K} L=${L}`, { K, L }],
  ] as const) {
    lc.configure({ threshold: 1, sinks: P, window: 256, seed: SEED, ...o });
    await runner.forward({ seqs: [{ tokens: prompt, start: 0, pages: pagesA }] });
    const first = await runner.forward({ seqs: [{ tokens: prompt, start: 0, pages: pagesB }] });
    const moveTo = CHECK / P - 1 - 256 / P;
    await lc.offload(1, pagesB.slice(1, moveTo), 1, CHECK + 4);
    const pagesMoved = pagesB.map((p, i) => (i >= 1 && i < moveTo ? -1 : p));
    const t = argmax(first);
    const logits = await runner.forward({
      seqs: [
        { tokens: [t], start: CHECK, pages: pagesA },
        { tokens: [t], start: CHECK, pages: pagesMoved, longContext: 1 },
      ],
    });
    const whole = logits.slice(0, V);
    const part = logits.slice(V, 2 * V);
    const err = maxRelError(part, whole);
    lc.release(1);
    if (name === 'exact') {
      check.that(
        err < LOGIT_TOL,
        `${moveTo - 1} pages moved, exact policy: logits within ${LOGIT_TOL} of max|logit|`,
        `${err.toExponential(2)}`,
      );
      check.that(argmax(part) === argmax(whole), 'exact policy: the same greedy token', `${argmax(part)}`);
    } else
      console.log(
        `${name}: logits ${err.toExponential(2)} of max|logit| from the whole context's on this random model`,
      );
  }
}

// ---- decode speed
const rows: BenchRow[] = [];
const notes: string[] = [];
const dummy = Math.min(1000, V - 1);

/**
 * Wall ms per step over STEPS steps after WARMUP, for the sequences `seqs` (positions advance), and
 * the host ms until each forward() returned (a replayed step returns once submitted, so wall ≫
 * host means the GPU sets the pace).
 */
async function timeSteps(seqs: ForwardSeq[]): Promise<{ ms: number; hostMs: number; before: Counters }> {
  let host = 0;
  const step = async () => {
    const t = performance.now();
    await runner.forward({ seqs }, { readLogits: false });
    host += performance.now() - t;
    for (const s of seqs) s.start++;
  };
  for (let i = 0; i < WARMUP; i++) await step();
  await backend.flush();
  host = 0;
  lc.resetTimes();
  const before = { tasks: lc.stats.middleTasks, candidates: lc.stats.middleCandidates, jobs: poolJobs() };
  const t0 = performance.now();
  for (let i = 0; i < STEPS; i++) await step();
  await backend.flush();
  return { ms: (performance.now() - t0) / STEPS, hostMs: host / STEPS, before };
}

/** The long-context mode's and the CPU pool's counters at the start of a timed window. */
interface Counters {
  tasks: number;
  candidates: number;
  jobs: { runs: number; split: number };
}

/**
 * Where a full-attention step's time goes: the recorded step's GPU time (5 replays in one submit),
 * and one unrecorded step's kernels by GPU timestamps, attention (paged attention and its split
 * merge) against the rest. The sequences' positions are left as they were.
 */
async function explainFullStep(seqs: ForwardSeq[], B: number): Promise<string> {
  const replayMs = await runner.timeDecodeReplay(B, 5);
  let kernels = 'no GPU timestamps on this device';
  if (backend.startProfiling()) {
    await runner.forward({ seqs }, { readLogits: false, record: false });
    const entries = await backend.stopProfiling();
    const attn = entries.filter((e) => e.label.startsWith('attention.'));
    const sum = (es: typeof entries) => es.reduce((a, e) => a + e.ms, 0);
    const merges = attn.filter((e) => e.label.startsWith('attention.merge'));
    // K and V of every layer, f16, over each sequence's context
    const kvBytes = seqs.reduce((a, q) => a + q.start + 1, 0) * cfg.numLayers * 2 * cfg.numKvHeads * cfg.headDim * 2;
    kernels =
      `one unrecorded step's kernels ${sum(entries).toFixed(2)} ms over ${entries.length} dispatches, ` +
      `attention ${sum(attn).toFixed(2)} ms (${attn.length} dispatches, of which split merges ${sum(merges).toFixed(2)} ms; ` +
      `${(kvBytes / 1e6 / sum(attn)).toPrecision(3)} GB/s of KV)`;
  }
  const plan = runner.kv.current.lastPlan;
  // the same runner, pages and batch at a short context: what this step costs without the long KV
  const short = seqs.map((q) => ({ ...q, start: SHORT }));
  await runner.forward({ seqs: short }, { readLogits: false });
  const shortMs = await runner.timeDecodeReplay(B, 5);
  const split = plan
    ? `, plan: ${plan.items.length} work items of ≤ ${plan.kvChunk} keys, ${plan.merges} split units`
    : '';
  return `GPU ${replayMs.toFixed(2)} ms per replayed step (${shortMs.toFixed(2)} ms at ctx ${SHORT}); ${kernels}${split}`;
}

/** The CPU pool's jobs so far, and how many were split over its threads. */
const poolJobs = () => ({ ...cpuRuntime().pool.stats });

/** The MagicPIG step's phases per step (host ms), from the long-context mode's counters over the timed steps. */
function explainMagicPigStep(
  ms: number,
  tasks0: number,
  cands0: number,
  jobs0: { runs: number; split: number },
): string {
  const t = lc.times;
  const per = (x: number) => (x / STEPS).toFixed(1);
  const other = STEPS * ms - t.qReadMs - t.middleMs - t.mergeMs;
  const tasks = lc.stats.middleTasks - tasks0;
  const { pool } = cpuRuntime();
  const jobs = poolJobs();
  const cands = lc.stats.middleCandidates - cands0;
  return (
    `per step: ${t.layers / STEPS} layers with a CPU part; q and its codes on the host ${per(t.qReadMs)} ms (the device's work up to each layer's projection + one round trip a layer), ` +
    `CPU part ${per(t.middleMs)} ms (queries' codes, hashed on the device, ${per(t.hashMs)}, scanning stores ${per(t.scanMs)}), ` +
    `states to the device + merge ${per(t.mergeMs)} ms, the rest ${per(other)} ms (encoding, the last layer's GPU work, LM head); ` +
    `${(tasks / STEPS).toFixed(0)} tasks, ${(cands / Math.max(1, tasks)).toFixed(0)} candidates a task; ` +
    `CPU pool: ${pool.threads} threads (${pool.helpers} helpers up), ${((jobs.runs - jobs0.runs) / STEPS).toFixed(0)} jobs a step, ` +
    `${((jobs.split - jobs0.split) / STEPS).toFixed(0)} split over the threads`
  );
}

const gib = (b: number) => b / 2 ** 30;
for (const ctx of CONTEXTS) {
  for (const B of BATCHES) {
    const pagesPerSeq = Math.ceil((ctx + WARMUP + STEPS + 1) / P);
    const caseName = `${basename(dir)} ctx ${ctx / 1024}K b${B}`;
    if (B * pagesPerSeq > numPages) {
      notes.push(`${caseName} full attention: ${B * pagesPerSeq} pages do not fit in ${numPages}`);
    } else {
      const seqs = Array.from({ length: B }, (_, i) => ({
        tokens: [dummy],
        start: ctx,
        pages: Array.from({ length: pagesPerSeq }, (_, j) => i * pagesPerSeq + j),
      }));
      const { ms, hostMs } = await timeSteps(seqs);
      const why = await explainFullStep(seqs, B);
      rows.push(
        row({
          case: `${caseName} full attention`,
          metric: 'tok/s',
          higherIsBetter: true,
          ours: (1000 * B) / ms,
          anchor: null,
          anchorName: null,
          anchorWhyNull: 'the baseline row of this bench',
          limit: null,
          limitName: null,
        }),
        row({
          case: `${caseName} full attention`,
          metric: 'GPU KV GiB',
          higherIsBetter: false,
          ours: gib(B * pagesPerSeq * pageBytes),
          anchor: null,
          anchorName: null,
          anchorWhyNull: 'memory, not a speed',
          limit: null,
          limitName: null,
        }),
      );
      console.log(
        `${caseName} full attention: ${((1000 * B) / ms).toFixed(1)} tok/s, ${ms.toFixed(1)} ms/step (host ${hostMs.toFixed(2)} ms until forward() returns); ${why}`,
      );
    }
    // MagicPIG: sink pages, the moved middle, the window's pages and room for the steps
    const sinkPages = Math.ceil(SINKS / P);
    const ctxPages = Math.ceil(ctx / P);
    const windowPages = Math.ceil(WINDOW / P);
    const movedPages = ctxPages - sinkPages - windowPages;
    const gpuPages = sinkPages + windowPages + Math.ceil((WARMUP + STEPS + 1) / P) + 1;
    lc.configure({ threshold: 1, K, L, sinks: SINKS, window: WINDOW, seed: SEED });
    const cpuBytes = B * movedPages * P * lc.bytesPerToken();
    if (movedPages <= 0 || B * gpuPages > numPages || cpuBytes > CPU_GIB * 2 ** 30) {
      notes.push(
        `${caseName} MagicPIG: skipped (${gib(cpuBytes).toFixed(0)} GiB of CPU stores against CPU_GIB ${CPU_GIB})`,
      );
      continue;
    }
    const t0 = performance.now();
    const seqs = Array.from({ length: B }, (_, i) => {
      const id = 100 + i;
      lc.synthesize(id, sinkPages * P, movedPages * P, ctx + WARMUP + STEPS + 1, SEED + i);
      const own = Array.from({ length: gpuPages }, (_, j) => i * gpuPages + j);
      const pages = [
        ...own.slice(0, sinkPages),
        ...Array.from({ length: movedPages }, () => -1),
        ...own.slice(sinkPages),
      ];
      return { tokens: [dummy], start: ctx, pages, longContext: id };
    });
    const fillS = (performance.now() - t0) / 1e3;
    const { ms, before } = await timeSteps(seqs);
    const why = explainMagicPigStep(ms, before.tasks, before.candidates, before.jobs);
    for (const s of seqs) lc.release(s.longContext);
    rows.push(
      row({
        case: `${caseName} MagicPIG K${K} L${L}`,
        metric: 'tok/s',
        higherIsBetter: true,
        ours: (1000 * B) / ms,
        anchor: null,
        anchorName: null,
        anchorWhyNull: 'compared with the full-attention row of the same case',
        limit: null,
        limitName: null,
      }),
      row({
        case: `${caseName} MagicPIG K${K} L${L}`,
        metric: 'GPU KV GiB',
        higherIsBetter: false,
        ours: gib(B * gpuPages * pageBytes),
        anchor: null,
        anchorName: null,
        anchorWhyNull: 'memory, not a speed',
        limit: null,
        limitName: null,
      }),
      row({
        case: `${caseName} MagicPIG K${K} L${L}`,
        metric: 'CPU store GiB',
        higherIsBetter: false,
        ours: gib(cpuBytes),
        anchor: null,
        anchorName: null,
        anchorWhyNull: 'memory, not a speed',
        limit: null,
        limitName: null,
      }),
    );
    console.log(
      `${caseName} MagicPIG: ${((1000 * B) / ms).toFixed(1)} tok/s, ${ms.toFixed(1)} ms/step (stores synthesized in ${fillS.toFixed(1)} s); ${why}`,
    );
  }
}
console.log(notes.join('\n'));
writeResults(
  'magicpig-decode',
  card,
  rows,
  `Random bf16 weights, f16 activations and KV, page ${P}. Wall time per step over ${STEPS} steps after ${WARMUP} (full attention: the recorded decode step replayed, host-planned, no readback per step; MagicPIG: host-driven unrecorded steps, each layer's queries read back, the CPU's states merged on the device). MagicPIG: K=${K}, L=${L}, T=2, ${SINKS} sink tokens and a ${WINDOW}-token window on the GPU; CPU stores synthesized (512 hashed positions repeated). ${notes.join('; ')}`,
  check.passed(),
);
runner.destroy();
backend.destroy();
