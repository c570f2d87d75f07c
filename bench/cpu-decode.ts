/**
 * CPU backend speed: the built-in model at batch 1 (decode tokens/s and a 128-token prefill) on
 * the CPU backend, beside llama.cpp's CPU build (node-llama-cpp) on the same weights written as
 * GGUF by our writer, both measured in this run on this machine. Prompt ids follow the llama.cpp
 * peer's formula (bench/peers/llama-cpp-decode.ts), so both see the same prompt.
 *
 * Checked before any number is kept: the CPU backend's greedy continuations of the reference
 * prompts equal the float64 oracle's (models/builtin/reference.json).
 *
 * Usage: npm run build && node dist/bench/cpu-decode.js [--steps 64] [--prompt 128] [--rounds 5] [--no-peer]
 *   The peer runs when LLAMA_CPP_MODULE names a node-llama-cpp package folder or
 *   .peers/build/node_modules/node-llama-cpp exists (scripts/pack-llama-cpp.sh installs it).
 *   Both sides run at 1 thread and at TESSERA_THREADS (default: every core).
 */
import '../src/register-all.js';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { CpuBackend } from '../src/backends/cpu/cpu-backend.js';
import { cpuRuntime, cpuThreads } from '../src/backends/cpu/cpu-runtime.js';
import { builtinModelPath } from '../src/models/load-model.js';
import { writeLlamaGguf } from '../src/models/llama/gguf-from-hf.js';
import { openLlamaModel } from '../src/models/llama/llama-family.js';
import { LlamaRunner } from '../src/models/llama/llama-runner.js';
import { type BenchRow, median, row, writeResults } from './results.js';
import { Check, argmax } from './verify.js';

const option = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : fallback;
};
const STEPS = Number(option('steps', '64'));
const PROMPT = Number(option('prompt', '128'));
const ROUNDS = Number(option('rounds', '5'));
const threads = cpuThreads();
const dir = builtinModelPath();
const check = new Check('cpu-decode');

const model = await openLlamaModel(dir);
const cfg = model.config;
const backend = new CpuBackend();
const runner = await LlamaRunner.load(model, {
  backend,
  actDtype: 'f32',
  maxTokens: Math.max(PROMPT, 64),
  maxSeqs: 1,
  numPages: Math.ceil((PROMPT + STEPS + 8) / 16) + 1,
});
await model.weights.close();
const pages = Array.from({ length: runner.numPages }, (_, i) => i);

// the oracle's greedy tokens, 8 steps of every reference prompt
const reference = JSON.parse(readFileSync(join(dir, 'reference.json'), 'utf8')) as {
  references: { prompt: string; ids: number[]; greedyFloat64: number[] }[];
};
for (const ref of reference.references) {
  const got: number[] = [];
  let logits = await runner.forward({ seqs: [{ tokens: ref.ids, start: 0, pages }] });
  for (let s = 0; s < 8; s++) {
    got.push(argmax(logits));
    logits = await runner.forward({ seqs: [{ tokens: [got[s]!], start: ref.ids.length + s, pages }] });
  }
  const want = ref.greedyFloat64.slice(0, 8);
  check.that(
    got.join() === want.join(),
    `greedy tokens of '${ref.prompt}' equal the float64 oracle's`,
    `${got.join(' ')}`,
  );
}

// timed: a PROMPT-token prefill, then STEPS decode steps at batch 1 (logits read and argmax included)
const span = Math.min(120000, cfg.vocabSize - 100);
const prompt = Array.from({ length: PROMPT }, (_, i) => 100 + ((i * 104729) % span));
const ours: number[] = [];
async function timeOurs(): Promise<{ decodeMs: number; prefillMs: number }> {
  const t0 = performance.now();
  let logits = await runner.forward({ seqs: [{ tokens: prompt, start: 0, pages }] });
  const prefillMs = performance.now() - t0;
  ours.length = 0;
  ours.push(argmax(logits));
  const steps: number[] = [];
  for (let s = 0; s < STEPS; s++) {
    const ts = performance.now();
    logits = await runner.forward({ seqs: [{ tokens: [ours[s]!], start: PROMPT + s, pages }] });
    ours.push(argmax(logits));
    steps.push(performance.now() - ts);
  }
  return { decodeMs: median(steps), prefillMs };
}

// the peer: llama.cpp's CPU build on the same weights (bf16 GGUF, as stored), one process per run
const moduleDir = process.env.LLAMA_CPP_MODULE ?? join(process.cwd(), '.peers/build/node_modules/node-llama-cpp');
const peerWhy = process.argv.includes('--no-peer')
  ? 'not run (--no-peer)'
  : existsSync(moduleDir)
    ? null
    : `node-llama-cpp not installed (${moduleDir}; run scripts/pack-llama-cpp.sh)`;
const tmp = mkdtempSync(join(tmpdir(), 'cpu-decode-'));
const gguf = join(tmp, 'builtin-bf16.gguf');
let peerName = '';
let peerTokens: number[] = [];
if (!peerWhy) {
  const m = await openLlamaModel(dir);
  await writeLlamaGguf(m.weights, m.config, gguf, { type: 'BF16', name: 'builtin' });
  await m.weights.close();
}
function timePeer(t: number): { decodeMs: number; prefillMs: number } {
  const out = join(tmp, 'llama-cpp.json');
  const script = new URL('./peers/llama-cpp-decode.js', import.meta.url).pathname;
  const args = [script, gguf, out, '--gpu', 'cpu', '--batches', '1', '--prompt', `${PROMPT}`, '--steps', `${STEPS}`];
  const log = execFileSync(process.execPath, [...args, '--threads', `${t}`], {
    env: { ...process.env, LLAMA_CPP_MODULE: moduleDir },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const r = JSON.parse(readFileSync(out, 'utf8')) as {
    peer: string;
    msPerStep: { b1: number };
    tokens: { b1: number[] };
  };
  const pm = /prefill of 1×\d+ tokens (\d+) ms/.exec(log);
  if (!pm) throw new Error(`the llama.cpp peer printed no prefill time:\n${log}`);
  peerName = `${r.peer}, BF16 GGUF`;
  peerTokens = r.tokens.b1;
  return { decodeMs: r.msPerStep.b1, prefillMs: Number(pm[1]) };
}

// rounds alternate ours and the peer at each thread count, so load from other work hits both alike
const counts = [...new Set([1, threads])];
const pool = cpuRuntime().pool;
const timesOurs = new Map(counts.map((t) => [t, [] as { decodeMs: number; prefillMs: number }[]]));
const timesPeer = new Map(counts.map((t) => [t, [] as { decodeMs: number; prefillMs: number }[]]));
await timeOurs(); // warm-up
for (let round = 0; round < ROUNDS; round++) {
  for (const t of counts) {
    pool.active = t;
    timesOurs.get(t)!.push(await timeOurs());
    if (!peerWhy) timesPeer.get(t)!.push(timePeer(t));
  }
}
pool.active = threads;
runner.destroy();
backend.destroy();
rmSync(tmp, { recursive: true, force: true });
if (!peerWhy) {
  const agree = peerTokens.findIndex((t, i) => t !== ours[i]);
  console.log(
    `greedy continuation of the bench prompt: ${agree < 0 ? `all ${peerTokens.length}` : agree} leading tokens agree with llama.cpp's`,
  );
}

const med = (xs: { decodeMs: number; prefillMs: number }[], k: 'decodeMs' | 'prefillMs') => median(xs.map((x) => x[k]));
const rows: BenchRow[] = [];
for (const t of counts) {
  const o = timesOurs.get(t)!;
  const p = timesPeer.get(t)!;
  console.log(
    `${t} thread(s): ours decode ${med(o, 'decodeMs').toFixed(3)} ms, prefill ${med(o, 'prefillMs').toFixed(1)} ms` +
      (peerWhy
        ? ''
        : `; llama.cpp decode ${med(p, 'decodeMs').toFixed(3)} ms, prefill ${med(p, 'prefillMs').toFixed(1)} ms`),
  );
  const common = {
    higherIsBetter: true,
    anchorName: peerWhy ? null : `${peerName}, ${t} thread${t > 1 ? 's' : ''}`,
    limit: null,
    limitName: null,
    anchorWhyNull: peerWhy,
  };
  rows.push(
    row({
      ...common,
      case: `builtin b1 decode, ${t} thread${t > 1 ? 's' : ''}`,
      metric: 'tokens/s',
      ours: 1000 / med(o, 'decodeMs'),
      anchor: peerWhy ? null : 1000 / med(p, 'decodeMs'),
    }),
    row({
      ...common,
      case: `builtin ${PROMPT}-token prefill, ${t} thread${t > 1 ? 's' : ''}`,
      metric: 'tokens/s',
      ours: (PROMPT * 1000) / med(o, 'prefillMs'),
      anchor: peerWhy ? null : (PROMPT * 1000) / med(p, 'prefillMs'),
    }),
  );
}
const cpuModel = `cpu: ${cpus()[0]?.model ?? 'unknown'}`;
writeResults(
  'cpu-decode',
  `${cpuModel} (${cpus().length} cores)`,
  rows,
  `built-in model (${cfg.numLayers} layers, hidden ${cfg.hiddenSize}, bf16 weights; ours f32 activations; llama.cpp on a BF16 GGUF of the same weights). Per thread count, ${ROUNDS} rounds alternate ours and llama.cpp (a fresh process per round); decode: median over rounds of each round's median batch-1 step over ${STEPS} steps (ours: forward, logits read, host argmax; llama.cpp: llama_decode plus its greedy sampling); prefill: median over rounds of one ${PROMPT}-token prompt. Cores shared with other work: figures are noisy, both sides were measured interleaved in this one run.`,
  check.passed(),
);
process.exit(0);
