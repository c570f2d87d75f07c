/**
 * Host cost of an unrecorded (prefill) step of the built-in model: milliseconds from `forward()`'s
 * call until its logits are asked for — planning, kernel encoding, pipeline and bind-group lookups,
 * uniform writes, submit — per step and per dispatch, median over repeats. Time to first token on a
 * fast GPU is this host part plus the GPU's, so this is the number to cut.
 *
 * The step is one batch of 128 tokens: the three reference prompts of `models/builtin/reference.json`
 * and a filler sequence of seeded random ids. Every timed step's logits of the reference prompts are
 * checked against the float64 oracle's stored last-token logits (f32 activations: within 1e-5 of
 * max|logit|; f16: 3e-2), and the whole logits against the first step's (a stale cached binding or
 * pipeline would change them), so a faster host path that computes something else fails the bench.
 *
 * `--vary` makes every step one token shorter than the one before (the filler shrinks), so each
 * step is the first of its shape — what time to first token meets for a prompt of a new length:
 * kernel encodings are new, though buffers and pipelines may be found again. The whole logits are
 * then compared with the oracle's reference rows only (other rows change with the filler).
 *
 * Runs on WebGPU when an adapter exists, else on the CPU backend.
 * Usage: node dist/bench/host-overhead.js [--steps 20] [--warmup 3] [--act f32|f16] [--vary]
 *   node --cpu-prof --cpu-prof-dir=DIR dist/bench/host-overhead.js   (where the host time goes)
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
const WARMUP = Number(option('warmup', '3'));
const ACT = option('act', 'f32');
const VARY = process.argv.includes('--vary');
if (ACT !== 'f32' && ACT !== 'f16') fail(`host-overhead: --act ${ACT} (f32 or f16)`);
const STEP_TOKENS = 128;
const SEED = 17;
/** Oracle tolerance ÷ max|logit|: ~30× the f32 error measured in test/models/builtin-model.test.ts; f16 rounds every stored activation. */
const TOL = ACT === 'f32' ? 1e-5 : 3e-2;

const check = new Check('host-overhead');
const webgpu = await WebGpuBackend.create().catch((e: Error) => {
  console.log(`no WebGPU (${e.message.split('\n')[0]}): measuring the CPU backend`);
  return null;
});
const backend: Backend = webgpu ?? new CpuBackend();
const dir = builtinModelPath();
const reference = JSON.parse(readFileSync(join(dir, 'reference.json'), 'utf8')) as {
  references: { prompt: string; ids: number[]; lastLogits: number[] }[];
};
const m = await openLlamaModel(dir);
const runner = await LlamaRunner.load(m, {
  backend,
  actDtype: ACT,
  maxTokens: STEP_TOKENS,
  maxSeqs: 8,
  numPages: 32,
  pageSize: 16,
});
await m.weights.close();
const V = runner.vocabSize;

const prompts = reference.references.map((r) => r.ids);
const used = prompts.reduce((a, p) => a + p.length, 0);
const rng = new Rng(SEED);
const filler = Array.from({ length: STEP_TOKENS - used }, () => rng.int(3, V));
if (VARY && WARMUP + STEPS >= filler.length)
  fail(`host-overhead: --vary needs fewer than ${filler.length} steps in all (one token fewer each)`);
/** Step `s`'s sequences: the reference prompts and the filler (shortened by `s` tokens with --vary). */
const seqsOf = (s: number) => {
  let page = 0;
  return [...prompts, VARY ? filler.slice(0, filler.length - s) : filler].map((tokens) => {
    const pages = Array.from({ length: Math.ceil(tokens.length / 16) }, () => page++);
    return { tokens, start: 0, pages };
  });
};
const seqs = seqsOf(0);
console.log(
  `built-in model on ${backend.name}, ${ACT} activations: one step of ${STEP_TOKENS} tokens in ${seqs.length} sequences (filler seed ${SEED}), ${WARMUP} warm-up + ${STEPS} timed` +
    (VARY ? ', each step one token shorter than the last (a new shape every step)' : ''),
);

// the runner reads the logits only after the step is planned and encoded: the moment it asks for
// them, once the encoded work is submitted (which the read does first anyway), ends the host part
let readAt = 0;
const read = backend.read.bind(backend);
backend.read = (t) => {
  webgpu?.submitPending();
  readAt = performance.now();
  return read(t);
};
const dispatches = () => webgpu?.dispatchCount ?? 0;
const buffers = () => webgpu?.buffersCreated ?? 0;

let first: Float32Array | null = null;
const hostMs: number[] = [];
const perDispatchUs: number[] = [];
let stepDispatches = 0;
let timedBuffers = 0;
for (let s = 0; s < WARMUP + STEPS; s++) {
  const d0 = dispatches();
  const b0 = buffers();
  const t0 = performance.now();
  const logits = await runner.forward({ seqs: seqsOf(s) }, { record: false });
  const ms = readAt - t0;
  stepDispatches = dispatches() - d0;
  // the logits readback's staging buffer is counted too
  if (s >= WARMUP) timedBuffers += buffers() - b0;
  checkLogits(logits, s);
  if (s >= WARMUP) {
    hostMs.push(ms);
    if (stepDispatches > 0) perDispatchUs.push((1000 * ms) / stepDispatches);
  }
}

function checkLogits(logits: Float32Array, step: number): void {
  if (logits.length !== seqs.length * V) fail(`host-overhead: ${logits.length} logits, expected ${seqs.length * V}`);
  let worst = 0;
  reference.references.forEach((r, i) => {
    const maxAbs = r.lastLogits.reduce((a, x) => Math.max(a, Math.abs(x)), 0) || 1;
    for (let j = 0; j < V; j++) worst = Math.max(worst, Math.abs(logits[i * V + j]! - r.lastLogits[j]!) / maxAbs);
  });
  if (!(worst <= TOL))
    fail(
      `host-overhead: step ${step}: logits ${worst.toExponential(2)} of max|logit| off the float64 oracle (tolerance ${TOL})`,
    );
  if (first === null) {
    first = logits.slice();
    check.that(
      true,
      `first step's reference rows within ${TOL} of the float64 oracle`,
      `worst ${worst.toExponential(2)}`,
    );
    return;
  }
  if (VARY) return;
  for (let j = 0; j < logits.length; j++)
    if (logits[j] !== first[j] && !(Number.isNaN(logits[j]) && Number.isNaN(first[j])))
      fail(`host-overhead: step ${step}: logit ${j} is ${logits[j]}, the first step's ${first[j]}`);
}
check.that(
  true,
  VARY
    ? `every step's reference rows match the oracle`
    : `every timed step's logits equal the first step's and match the oracle`,
  `${STEPS} steps`,
);

const sorted = [...hostMs].sort((a, b) => a - b);
console.log(
  `host per unrecorded step: median ${median(hostMs).toFixed(2)} ms (min ${sorted[0]!.toFixed(2)}, max ${sorted[sorted.length - 1]!.toFixed(2)}); ` +
    (stepDispatches > 0
      ? `${stepDispatches} dispatches, median ${median(perDispatchUs).toFixed(1)} µs per dispatch; ${(timedBuffers / STEPS).toFixed(1)} GPU buffers created per timed step (mean)`
      : 'no dispatch count on this backend'),
);
runner.destroy();
backend.destroy?.();
