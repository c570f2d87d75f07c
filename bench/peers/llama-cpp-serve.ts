/**
 * llama.cpp as a serving peer of bench/serve.ts, through `node-llama-cpp`, on a GGUF of the same
 * weights (bench/peers/write-gguf): the workload file that `serve.js --write-workload` writes
 * (request lengths, per rate the arrival times our engine sees) replayed as a server would.
 *
 * One model, one context with S parallel sequences (llama.cpp's continuous batching: every
 * sequence's pending tokens, prompt chunks and decode steps alike, go into one llama_decode batch
 * of up to --batch-tokens). S = every request of the workload (all of them are in flight at once
 * when they arrive together), capped by --max-sequences and by what the card holds: a context that
 * fails to allocate is retried with half the sequences. Each request is admitted at its arrival
 * time into a FIFO queue and takes a free sequence (history cleared) when one is free; its prompt is
 * the rate's random token ids, greedy, EOS ignored (yieldEogToken: it is sampled and decoding
 * goes on), stopped after exactly its output length. Token times are when each token reaches this
 * process, latencies count from the intended arrival (time in the queue included), as ours do.
 *
 * A warm-up (outside the figures) runs S short requests at once and one long prompt. A rate whose
 * arrivals alone would end past --budget-s is skipped, one still running at the budget is cut; both
 * named in "skipped". OUT is rewritten after every rate, so a kill keeps the finished ones.
 *
 * Writes OUT with $BENCH_RUN_ID in the shape of bench/serving-peers.ts's ArrivalPeer.
 *
 * Usage: LLAMA_CPP_MODULE=.peers/unpacked/node_modules/node-llama-cpp \
 *   node dist/bench/peers/llama-cpp-serve.js MODEL.gguf WORKLOAD.json OUT.json [--gpu vulkan|cuda|cpu]
 *   [--rates inf,4] [--budget-s 220] [--max-sequences 64] [--batch-tokens 512] [--threads N] [--allow-no-device]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { GgufFile } from '../../src/io/gguf-file.js';
import { Rng } from '../../src/util/rng.js';
import {
  type ArrivalPeer,
  type Arrival,
  parseWorkload,
  scheduleOf,
  sequencesFor,
  type Trace,
} from '../serving-peers.js';
import {
  countDecodeBatches,
  type LlamaContext,
  type LlamaModel,
  type LlamaSequence,
  openLlamaCpp,
} from './node-llama-cpp.js';

const VALUE_FLAGS = ['--gpu', '--rates', '--budget-s', '--max-sequences', '--batch-tokens', '--threads'];
function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}
const [modelPath, workloadPath, outPath] = process.argv
  .slice(2)
  .filter((a, i, all) => !a.startsWith('--') && !VALUE_FLAGS.includes(all[i - 1] ?? ''));
if (modelPath === undefined || workloadPath === undefined || outPath === undefined) {
  console.error(
    'usage: node dist/bench/peers/llama-cpp-serve.js MODEL.gguf WORKLOAD.json OUT.json [--gpu vulkan|cuda|cpu] [--rates inf,4] [--budget-s 220] [--max-sequences 64] [--batch-tokens 512] [--threads N] [--allow-no-device]',
  );
  process.exit(2);
}
const tStart = performance.now();
const elapsedS = () => (performance.now() - tStart) / 1e3;
const gpu = option('gpu', 'vulkan');
const BUDGET_S = Number(option('budget-s', '220'));
const MAX_SEQUENCES = Number(option('max-sequences', '64'));
const BATCH_TOKENS = Number(option('batch-tokens', '512'));
const threads = process.argv.includes('--threads') ? Number(option('threads', '0')) : undefined;

const work = parseWorkload(readFileSync(workloadPath, 'utf8'), workloadPath);
// Default order: all at once first, then falling rates (the quick ones before the budget runs low).
const rateOf = (k: string) => (k === 'inf' ? Infinity : Number(k));
const keys = process.argv.includes('--rates')
  ? option('rates', '').split(',')
  : Object.keys(work.arrivals).sort((a, b) => rateOf(b) - rateOf(a));
for (const k of keys) scheduleOf(work, k); // every asked rate is in the file, before minutes of loading

const gguf = await GgufFile.open(modelPath);
const vocab = gguf.metadata.get('llama.vocab_size');
await gguf.close();
if (typeof vocab !== 'number')
  throw new Error(`${modelPath}: no llama.vocab_size metadata (write it with bench/peers/write-gguf)`);

const { llama, version, devices, card } = await openLlamaCpp(gpu, threads, process.argv.includes('--allow-no-device'));
const model: LlamaModel = await llama.loadModel({ modelPath, gpuLayers: gpu === 'cpu' ? 0 : 'max' });
console.log(
  `node-llama-cpp ${version} (${llama.llamaCppRelease.repo} ${llama.llamaCppRelease.release}), ${llama.gpu || 'cpu'} on ${devices.join(', ') || 'cpu'}; loaded ${modelPath} in ${elapsedS().toFixed(1)} s`,
);

// Each sequence holds one request at a time, so its context is the longest request the workload allows.
const perSequence = work.maxTotal + 8;
let context: LlamaContext | null = null;
let SEQUENCES = 0;
const fitNotes: string[] = [];
for (let s = sequencesFor(work, keys, MAX_SEQUENCES); s >= 1 && !context; s = s > 1 ? Math.floor(s / 2) : 0) {
  try {
    context = await model.createContext({
      sequences: s,
      contextSize: perSequence,
      batchSize: BATCH_TOKENS,
      ...(threads ? { threads } : {}),
    });
    SEQUENCES = s;
  } catch (e) {
    fitNotes.push(`${s} sequences did not fit (${String(e).split('\n')[0]})`);
    console.warn(fitNotes[fitNotes.length - 1]);
  }
}
if (!context) throw new Error(`no context of ${perSequence} tokens fits: ${fitNotes.join('; ')}`);
const ctx = context;
const pool: LlamaSequence[] = Array.from({ length: SEQUENCES }, () => ctx.getSequence());
const batchSizes = countDecodeBatches(ctx);
console.log(
  `context: ${SEQUENCES} sequences × ${ctx.contextSize} tokens, ${ctx.batchSize} tokens per batch, flash attention ${String(ctx.flashAttention ?? 'unknown')}`,
);

const randomIds = (rng: Rng, n: number) => Array.from({ length: n }, () => rng.int(0, vocab - 1));

/**
 * Replays `schedule` (prompt ids per request index): each request joins the queue at its arrival,
 * takes a free sequence, streams exactly its output length. Returns traces by request index, or
 * null when `deadlineS` (seconds since the start of the run) passes first.
 */
async function replay(
  schedule: readonly Arrival[],
  prompts: readonly number[][],
  deadlineS: number,
): Promise<Trace[] | null> {
  const traces: Trace[] = [];
  const free = [...pool];
  const queue: Arrival[] = [];
  let cut = false;
  let finished = 0;
  let settle: () => void = () => {};
  const allDone = new Promise<void>((resolve) => {
    settle = resolve;
  });
  const t0 = performance.now();
  const now = () => (performance.now() - t0) / 1e3;

  async function serve(r: Arrival, seq: LlamaSequence): Promise<void> {
    const times: number[] = [];
    const stream = seq.evaluate(prompts[r.index]!, { temperature: 0, yieldEogToken: true });
    try {
      while (times.length < r.output && !cut) {
        const next = await stream.next();
        if (next.done) throw new Error(`request ${r.index} ended after ${times.length} of ${r.output} tokens`);
        times.push(now());
      }
    } finally {
      await stream.return();
      await seq.clearHistory();
    }
    traces[r.index] = { arrival: r.at, tokens: times };
    free.push(seq);
    if (++finished === schedule.length) settle();
    admit();
  }
  const failures: unknown[] = [];
  function admit(): void {
    while (queue.length && free.length && !cut) {
      const r = queue.shift()!;
      serve(r, free.pop()!).catch((e: unknown) => {
        failures.push(e);
        cut = true;
        settle();
      });
    }
  }
  const timers = schedule.map((r) =>
    setTimeout(
      () => {
        queue.push(r);
        admit();
      },
      Math.max(0, r.at * 1000 - (performance.now() - t0)),
    ),
  );
  const watchdog = setInterval(() => {
    if (elapsedS() > deadlineS) {
      cut = true;
      settle();
    }
  }, 250);
  await allDone;
  clearInterval(watchdog);
  for (const t of timers) clearTimeout(t);
  if (failures.length) throw failures[0];
  if (cut) {
    // let the requests in flight see the flag and give their sequences back
    while (free.length < pool.length) await new Promise((r) => setTimeout(r, 50));
    return null;
  }
  return traces;
}

// Warm-up, not kept: every sequence at once on a short prompt, then one long prompt alone.
{
  const rng = new Rng(work.seed ^ 0x5eed);
  const warm: Arrival[] = Array.from({ length: SEQUENCES }, (_, index) => ({ index, at: 0, prompt: 16, output: 4 }));
  warm.push({ index: SEQUENCES, at: 0, prompt: Math.max(16, Math.floor(work.maxTotal / 2)), output: 4 });
  const tw = performance.now();
  const traces = await replay(
    warm,
    warm.map((r) => randomIds(rng, r.prompt)),
    Math.min(BUDGET_S, elapsedS() + BUDGET_S / 4),
  );
  console.log(
    `warm-up ${((performance.now() - tw) / 1e3).toFixed(1)} s${traces ? '' : ' (cut at its share of the budget)'}`,
  );
}

const rates: Record<string, Trace[]> = {};
const skipped: Record<string, string> = {};
const decodeBatches: Record<string, { calls: number; maxTokens: number; meanTokens: number }> = {};
// short: it labels the anchor column; the context's shape is in the file's own fields
const name = `llama.cpp ${llama.llamaCppRelease.release} (node-llama-cpp ${version}, ${llama.gpu || 'cpu'}, ${SEQUENCES} parallel sequences)`;
const write = () => {
  const doc: ArrivalPeer & Record<string, unknown> = {
    card,
    runId: process.env.BENCH_RUN_ID ?? null,
    name,
    requests: work.requests,
    rates,
    skipped,
    devices,
    llamaCppRelease: llama.llamaCppRelease,
    sequences: SEQUENCES,
    contextPerSequence: ctx.contextSize,
    batchTokens: ctx.batchSize,
    fit: fitNotes,
    decodeBatches,
    note: 'token times: when each token reaches the driving process, seconds from the rate start; arrival: the intended admission time; decodeBatches: llama_decode calls in the rate and the tokens they carried',
  };
  writeFileSync(outPath, JSON.stringify(doc) + '\n');
};

for (const key of keys) {
  const schedule = scheduleOf(work, key);
  const span = schedule[schedule.length - 1]!.at;
  if (elapsedS() + span > BUDGET_S) {
    skipped[key] =
      `its arrivals alone (${span.toFixed(0)} s) would pass --budget-s ${BUDGET_S} at ${elapsedS().toFixed(0)} s`;
    console.log(`${key}: skipped (${skipped[key]})`);
    continue;
  }
  // ids seeded by the rate key: the same prompts in every run, different at every rate (nothing reused)
  const rng = new Rng([...key].reduce((h, c) => (Math.imul(h, 31) + c.charCodeAt(0)) >>> 0, work.seed + 1));
  const prompts = work.requests.map(([p]) => randomIds(rng, p));
  batchSizes?.splice(0);
  const tr = performance.now();
  let traces: Trace[] | null;
  try {
    traces = await replay(schedule, prompts, BUDGET_S);
  } catch (e) {
    // the rates before it are kept; this one is named with the error
    skipped[key] = `failed: ${String(e).split('\n')[0]}`;
    console.error(`${key}: ${skipped[key]}`);
    write();
    process.exitCode = 1;
    break;
  }
  if (!traces) {
    skipped[key] = `cut at --budget-s ${BUDGET_S} after ${((performance.now() - tr) / 1e3).toFixed(0)} s`;
    console.log(`${key}: ${skipped[key]}`);
    write();
    break;
  }
  rates[key] = traces;
  if (batchSizes?.length)
    decodeBatches[key] = {
      calls: batchSizes.length,
      maxTokens: Math.max(...batchSizes),
      meanTokens: batchSizes.reduce((a, b) => a + b, 0) / batchSizes.length,
    };
  const tokens = traces.reduce((a, t) => a + t.tokens.length, 0);
  const end = Math.max(...traces.map((t) => t.tokens[t.tokens.length - 1]!));
  console.log(
    `${key}: ${tokens} tokens in ${end.toFixed(1)} s = ${(tokens / end).toFixed(1)} tok/s; ${decodeBatches[key] ? `${decodeBatches[key].calls} llama_decode calls, up to ${decodeBatches[key].maxTokens} tokens (mean ${decodeBatches[key].meanTokens.toFixed(1)})` : 'batch sizes not visible'}`,
  );
  write();
}
for (const key of keys)
  if (!rates[key] && !skipped[key]) skipped[key] = `not reached: --budget-s ${BUDGET_S} spent on the rates before it`;
write();
await ctx.dispose();
await model.dispose();
await llama.dispose();
console.log(`wrote ${outPath}: rates ${Object.keys(rates).join(',') || 'none'} in ${elapsedS().toFixed(0)} s`);
