/**
 * Time to first token's host part for fresh prompts, recorded prefill against unrecorded, on the
 * built-in model: each step is one sequence's prefill of a prompt of a length not seen before
 * (lengths count down from `--tokens`), run twice — replaying its recorded bucket (the runner's
 * default) and unrecorded at its own length (`record: false`) — in alternating order, so both
 * modes meet the same host load. Host ms: from `forward()`'s call until it asks for the logits
 * (planning, encoding or replay, submit); wall ms: until the logits are on the host.
 *
 * Checks: the recorded path's logits of the three reference prompts against the float64 oracle's
 * (f32 activations: within 1e-5 of max|logit|); at every timed step, the recorded logits against
 * the unrecorded step's within the same bound and with the same greedy token.
 *
 * Usage: node dist/bench/ttft-host.js [--steps 20] [--warmup 2] [--tokens 128]
 */
import '../src/register-all.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Backend } from '../src/backends/backend.js';
import { CpuBackend } from '../src/backends/cpu/cpu-backend.js';
import { WebGpuBackend } from '../src/backends/webgpu/webgpu-backend.js';
import { openLlamaModel } from '../src/models/llama/llama-family.js';
import { LlamaRunner } from '../src/models/llama/llama-runner.js';
import { builtinModelPath } from '../src/models/load-model.js';
import { Rng } from '../src/util/rng.js';
import { median } from './results.js';
import { Check, fail } from './verify.js';

const option = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : fallback;
};
const STEPS = Number(option('steps', '20'));
const WARMUP = Number(option('warmup', '2'));
const TOKENS = Number(option('tokens', '128'));
if (WARMUP + STEPS >= TOKENS / 2) fail(`ttft-host: ${WARMUP + STEPS} steps of one token fewer each from ${TOKENS}`);
const SEED = 23;
/** Oracle tolerance ÷ max|logit|: ~30× the f32 error measured in test/models/builtin-model.test.ts. */
const TOL = 1e-5;

const check = new Check('ttft-host');
const webgpu = await WebGpuBackend.create().catch((e: Error) => {
  console.log(`no WebGPU (${e.message.split('\n')[0]}): measuring the CPU backend (nothing is recorded there)`);
  return null;
});
const backend: Backend = webgpu ?? new CpuBackend();
const dir = builtinModelPath();
const reference = JSON.parse(readFileSync(join(dir, 'reference.json'), 'utf8')) as {
  references: { prompt: string; ids: number[]; lastLogits: number[] }[];
};
const m = await openLlamaModel(dir);
const runner = await LlamaRunner.load(m, { backend, actDtype: 'f32', maxTokens: TOKENS, maxSeqs: 8, numPages: 32 });
await m.weights.close();
const V = runner.vocabSize;
const pages = Array.from({ length: Math.ceil(TOKENS / runner.pageSize) }, (_, i) => i);

let readAt = 0;
const read = backend.read.bind(backend);
backend.read = (t) => {
  webgpu?.submitPending();
  readAt = performance.now();
  return read(t);
};

function relErr(a: Float32Array, b: ArrayLike<number>): number {
  let scale = 0;
  let diff = 0;
  for (let i = 0; i < V; i++) {
    scale = Math.max(scale, Math.abs(b[i]!));
    diff = Math.max(diff, Number.isNaN(a[i]!) ? Infinity : Math.abs(a[i]! - b[i]!));
  }
  return diff / (scale || 1);
}
const argmax = (x: Float32Array) => x.reduce((best, v, i) => (v > x[best]! ? i : best), 0);

let worstOracle = 0;
for (const r of reference.references) {
  const logits = await runner.forward({ seqs: [{ tokens: r.ids, start: 0, pages }] });
  worstOracle = Math.max(worstOracle, relErr(logits, r.lastLogits));
}
check.that(
  worstOracle <= TOL,
  `recorded prefill of the reference prompts within ${TOL} of the float64 oracle`,
  `worst ${worstOracle.toExponential(2)}`,
);

const rng = new Rng(SEED);
const prompt = Array.from({ length: TOKENS }, () => rng.int(3, V));
console.log(
  `built-in model on ${backend.name}, f32 activations: ${WARMUP} warm-up + ${STEPS} timed prefills of one sequence, ` +
    `${TOKENS}…${TOKENS - WARMUP - STEPS + 1} tokens (a new length each step, seed ${SEED}), recorded and unrecorded alternately`,
);
const host = { recorded: [] as number[], unrecorded: [] as number[] };
const wall = { recorded: [] as number[], unrecorded: [] as number[] };
let worstPair = 0;
for (let s = 0; s < WARMUP + STEPS; s++) {
  const batch = { seqs: [{ tokens: prompt.slice(0, TOKENS - s), start: 0, pages }] };
  const out: Partial<Record<'recorded' | 'unrecorded', Float32Array>> = {};
  const order = s % 2 ? (['unrecorded', 'recorded'] as const) : (['recorded', 'unrecorded'] as const);
  for (const mode of order) {
    const t0 = performance.now();
    out[mode] = await runner.forward(batch, mode === 'recorded' ? {} : { record: false });
    const t1 = performance.now();
    if (s === 0 && mode === 'recorded')
      console.log(`first prefill of the ${TOKENS}-row bucket (records it): host ${(readAt - t0).toFixed(2)} ms`);
    if (s >= WARMUP) {
      host[mode].push(readAt - t0);
      wall[mode].push(t1 - t0);
    }
  }
  const err = relErr(out.recorded!, out.unrecorded!);
  worstPair = Math.max(worstPair, err);
  if (!(err <= TOL)) fail(`ttft-host: step ${s}: recorded logits ${err.toExponential(2)} of max|logit| off unrecorded`);
  if (argmax(out.recorded!) !== argmax(out.unrecorded!))
    fail(`ttft-host: step ${s}: recorded greedy token ${argmax(out.recorded!)}, unrecorded ${argmax(out.unrecorded!)}`);
}
check.that(
  true,
  `every step's recorded logits within ${TOL} of the unrecorded step's, same greedy token`,
  `worst ${worstPair.toExponential(2)}`,
);
const fmt = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return `median ${median(xs).toFixed(2)} ms (min ${s[0]!.toFixed(2)}, max ${s[s.length - 1]!.toFixed(2)})`;
};
for (const mode of ['recorded', 'unrecorded'] as const)
  console.log(`${mode.padEnd(10)} host ${fmt(host[mode])}; wall ${fmt(wall[mode])}`);
console.log(
  `prefill replays ${runner.stats.prefillReplays}, recorded ${runner.stats.prefillRecords}; buckets ${runner
    .prefillBucketInfo()
    .map((b) => `${b.rows} rows ${(b.bytes / 2 ** 20).toFixed(2)} MiB`)
    .join(', ')}`,
);
runner.destroy();
backend.destroy?.();
