/**
 * CPU backend speed: the built-in model at batch 1 (decode tokens/s and a 128-token prefill) on
 * the CPU backend, beside llama.cpp's CPU build (node-llama-cpp) on the same weights written as
 * GGUF by our writer, both measured in this run on this machine. Prompt ids follow the llama.cpp
 * peer's formula (bench/peers/llama-cpp-decode.ts), so both see the same prompt.
 *
 * Checked before any number is kept: the CPU backend's greedy continuations of the reference
 * prompts equal the float64 oracle's (models/builtin/reference.json).
 *
 * Usage: npm run build && node dist/bench/cpu-decode.js [--steps 64] [--prompt 128] [--no-peer]
 *   The peer runs when LLAMA_CPP_MODULE names a node-llama-cpp package folder or
 *   .peers/build/node_modules/node-llama-cpp exists (scripts/pack-llama-cpp.sh installs it).
 *   TESSERA_THREADS sets our thread count (default: every core); the peer gets the same number.
 */
import '../src/register-all.js';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { CpuBackend } from '../src/backends/cpu/cpu-backend.js';
import { cpuThreads } from '../src/backends/cpu/cpu-runtime.js';
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
  check.that(got.join() === want.join(), `greedy tokens of '${ref.prompt}' equal the float64 oracle's`, `${got.join(' ')}`);
}

// timed: a PROMPT-token prefill, then STEPS decode steps at batch 1 (logits read and argmax included)
const span = Math.min(120000, cfg.vocabSize - 100);
const prompt = Array.from({ length: PROMPT }, (_, i) => 100 + ((i * 104729) % span));
const prefillMs: number[] = [];
const stepMs: number[] = [];
const ours: number[] = [];
for (let rep = 0; rep < 3; rep++) {
  const t0 = performance.now();
  let logits = await runner.forward({ seqs: [{ tokens: prompt, start: 0, pages }] });
  prefillMs.push(performance.now() - t0);
  ours.length = 0;
  ours.push(argmax(logits));
  for (let s = 0; s < STEPS; s++) {
    const ts = performance.now();
    logits = await runner.forward({ seqs: [{ tokens: [ours[s]!], start: PROMPT + s, pages }] });
    ours.push(argmax(logits));
    if (rep > 0) stepMs.push(performance.now() - ts);
  }
}
runner.destroy();
backend.destroy();
const decodeTps = 1000 / median(stepMs);
const prefillTps = (PROMPT * 1000) / median(prefillMs.slice(1));
console.log(
  `tessera cpu (${threads} threads): decode ${median(stepMs).toFixed(3)} ms/token = ${decodeTps.toFixed(1)} tok/s; prefill ${PROMPT} tokens ${median(prefillMs.slice(1)).toFixed(1)} ms`,
);

// the peer: llama.cpp's CPU build on the same weights (bf16 GGUF, as stored)
interface PeerResult {
  peer: string;
  cases: Record<string, number>;
  tokens: Record<string, number[]>;
  prefillMs: number | null;
}
async function peer(): Promise<PeerResult | string> {
  if (process.argv.includes('--no-peer')) return 'not run (--no-peer)';
  const moduleDir = process.env.LLAMA_CPP_MODULE ?? join(process.cwd(), '.peers/build/node_modules/node-llama-cpp');
  if (!existsSync(moduleDir)) return `node-llama-cpp not installed (${moduleDir}; run scripts/pack-llama-cpp.sh)`;
  const tmp = mkdtempSync(join(tmpdir(), 'cpu-decode-'));
  try {
    const gguf = join(tmp, 'builtin-bf16.gguf');
    const out = join(tmp, 'llama-cpp.json');
    const m = await openLlamaModel(dir);
    await writeLlamaGguf(m.weights, m.config, gguf, { type: 'BF16', name: 'builtin' });
    await m.weights.close();
    const script = new URL('./peers/llama-cpp-decode.js', import.meta.url).pathname;
    const args = [script, gguf, out, '--gpu', 'cpu', '--batches', '1', '--prompt', `${PROMPT}`];
    const log = execFileSync(process.execPath, [...args, '--steps', `${STEPS}`, '--threads', `${threads}`], {
      env: { ...process.env, LLAMA_CPP_MODULE: moduleDir },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    process.stdout.write(log);
    const r = JSON.parse(readFileSync(out, 'utf8')) as PeerResult;
    const pm = /prefill of 1×\d+ tokens (\d+) ms/.exec(log);
    return { ...r, prefillMs: pm ? Number(pm[1]) : null };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

const p = await peer();
const peerName = typeof p === 'string' ? null : `${p.peer}, BF16 GGUF, ${threads} threads`;
const why = typeof p === 'string' ? p : null;
if (typeof p !== 'string') {
  const theirs = p.tokens.b1 ?? [];
  const agree = theirs.findIndex((t, i) => t !== ours[i]);
  console.log(
    `greedy continuation of the bench prompt: ${agree < 0 ? `all ${theirs.length}` : agree} leading tokens agree with llama.cpp's`,
  );
}
const rows: BenchRow[] = [
  row({
    case: `builtin b1 decode (${threads} threads)`,
    metric: 'tokens/s',
    higherIsBetter: true,
    ours: decodeTps,
    anchor: typeof p === 'string' ? null : (p.cases.b1 ?? null),
    anchorName: peerName,
    limit: null,
    limitName: null,
    anchorWhyNull: why,
  }),
  row({
    case: `builtin ${PROMPT}-token prefill (${threads} threads)`,
    metric: 'tokens/s',
    higherIsBetter: true,
    ours: prefillTps,
    anchor: typeof p === 'string' || !p.prefillMs ? null : (PROMPT * 1000) / p.prefillMs,
    anchorName: peerName,
    limit: null,
    limitName: null,
    anchorWhyNull: why ?? (typeof p !== 'string' && !p.prefillMs ? 'the peer printed no prefill time' : null),
  }),
];
const cpuModel = `cpu: ${cpus()[0]?.model ?? "unknown"}`;
writeResults(
  'cpu-decode',
  `${cpuModel} (${cpus().length} cores)`,
  rows,
  `built-in model (${cfg.numLayers} layers, hidden ${cfg.hiddenSize}, bf16 weights, f32 activations); decode: median ms of one batch-1 step over ${STEPS} steps × 2 repeats (forward, logits read, host argmax); prefill: median of 2 repeats of a ${PROMPT}-token prompt; the first repeat warms up. The machine's cores are shared with other work, so figures are noisy; both sides ran in the same process run.`,
  check.passed(),
);
process.exit(0);
