/**
 * Parity with PyTorch: loads each folder written by `bench/parity/make_checkpoints.py` (random
 * weights at real shapes, HF safetensors) and compares Tessera's last-position logits and 64
 * greedy tokens with HF transformers' on the same token ids (f32 arithmetic on bf16 weights).
 * Fails when the logits are off by more than 1e-2 of max|logit| or the greedy tokens part where
 * HF's top two are not a near-tie (bench/verify.ts).
 * Usage: node dist/bench/parity.js DIR
 */
import '../src/register-all.js';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { WebGpuBackend } from '../src/backends/webgpu/webgpu-backend.js';
import { openLlamaModel } from '../src/models/llama/llama-family.js';
import { LlamaRunner } from '../src/models/llama/llama-runner.js';
import { type BenchRow, cardName, row, writeResults } from './results.js';
import { Check, NEAR_TIE } from './verify.js';

const LOGIT_TARGET = 1e-2;

const dir = process.argv[2] ?? 'parity';
const backend = await WebGpuBackend.create();
const rows: BenchRow[] = [];
const notes: string[] = [];
const check = new Check('parity');
for (const name of readdirSync(dir).sort()) {
  const folder = join(dir, name);
  if (!existsSync(join(folder, 'parity-reference.json'))) continue;
  const ref = JSON.parse(readFileSync(join(folder, 'parity-reference.json'), 'utf8')) as {
    ids: number[];
    lastLogits: number[];
    greedy: number[];
    greedyMargins?: number[];
  };
  const m = await openLlamaModel(folder);
  const runner = await LlamaRunner.load(m, {
    backend,
    actDtype: 'f32',
    maxTokens: 64,
    maxSeqs: 1,
    numPages: 8,
    pageSize: 16,
  });
  await m.weights.close();
  const pages = Array.from({ length: 8 }, (_, i) => i);
  let logits = await runner.forward({ seqs: [{ tokens: ref.ids, start: 0, pages }] });
  let maxRef = 0;
  let maxDiff = 0;
  ref.lastLogits.forEach((w, i) => {
    maxRef = Math.max(maxRef, Math.abs(w));
    maxDiff = Math.max(maxDiff, Math.abs(logits[i]! - w));
  });
  const greedy: number[] = [];
  let divergence = '';
  for (let s = 0; s < ref.greedy.length; s++) {
    let best = 0;
    for (let i = 1; i < runner.vocabSize; i++) if (logits[i]! > logits[best]!) best = i;
    if (!divergence && best !== ref.greedy[s]) {
      let maxAbs = 0;
      for (const v of logits) maxAbs = Math.max(maxAbs, Math.abs(v));
      const theirs = ref.greedy[s]!;
      const hfMargin = ref.greedyMargins?.[s];
      check.that(
        hfMargin !== undefined && hfMargin <= NEAR_TIE,
        `${name}: greedy tokens part only at a near-tie (HF's top-2 margin ≤ ${NEAR_TIE} of max|logit|)`,
        `step ${s}: ours ${best}, HF ${theirs}, HF's margin ${hfMargin?.toExponential(2) ?? 'not in the reference'}`,
      );
      divergence = `first divergence at step ${s}: HF's top-2 margin there ${(ref.greedyMargins?.[s] ?? NaN).toExponential(2)} of max|logit|; ours picks ${best} over HF's ${theirs} by ${((logits[best]! - logits[theirs]!) / maxAbs).toExponential(2)}`;
    }
    greedy.push(best);
    logits = await runner.forward({ seqs: [{ tokens: [best], start: ref.ids.length + s, pages }] });
  }
  const firstMismatch = greedy.findIndex((t, i) => t !== ref.greedy[i]);
  const same = firstMismatch < 0 ? greedy.length : firstMismatch;
  console.log(
    `${name}: max |Δlogit|/max|logit| = ${(maxDiff / maxRef).toExponential(2)}; greedy tokens identical: ${same}/${greedy.length} (replayed decode steps: ${runner.stats.replays})${divergence ? `; ${divergence}` : ''}`,
  );
  if (divergence) notes.push(`${name}: ${divergence}`);
  check.that(
    maxDiff / maxRef <= LOGIT_TARGET,
    `${name}: last-position logits within ${LOGIT_TARGET} of max|logit| of HF's`,
    `${(maxDiff / maxRef).toExponential(2)}`,
  );
  rows.push(
    row({
      case: `${name} last-position logits`,
      metric: 'max |Δ| / max |logit|',
      higherIsBetter: false,
      ours: maxDiff / maxRef,
      anchor: null,
      anchorName: null,
      limit: LOGIT_TARGET,
      limitName: `target ${LOGIT_TARGET}`,
      anchorWhyNull: 'an error against HF, not a speed: HF is the reference itself',
    }),
  );
  rows.push(
    row({
      case: `${name} greedy tokens`,
      metric: 'identical prefix (of 64)',
      higherIsBetter: true,
      ours: same,
      anchor: greedy.length,
      anchorName: 'HF transformers eager',
      limit: greedy.length,
      limitName: 'all 64',
    }),
  );
  runner.destroy();
}
writeResults(
  'parity',
  cardName(backend),
  rows,
  `Random bf16 weights at real shapes (layers reduced), same HF folder for both; Tessera WebGPU f32 activations and KV vs HF transformers eager in f32 (bf16 weights upcast, TF32 off). ${notes.join('; ')}`,
  check.passed(),
);
backend.destroy();
