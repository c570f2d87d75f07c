/**
 * Our logits for mixed-adapter batches against `peft`'s (issue 23: max relative error ≤ 1e-2).
 * scripts/lora/peft_parity.py writes peft's float32 logits for every position of each row of one
 * mixed batch (prompts under each adapter and under none); this runs the same rows as one batch on
 * our runner (f32 weights and activations, the adapters loaded from the same PEFT folders), token
 * by token and as one prefill chunk per row (lora-parity-compare.ts). A row's error is
 * max|ours − peft| over max|peft| across its vocabulary, worst over positions; the result JSON
 * holds each row's.
 *
 * Usage: node dist/bench/lora-parity.js PEFT.json
 *   (run from the folder peft_parity.py ran in: the JSON names the base and adapter folders as given to it)
 */
import '../src/register-all.js';
import { readFileSync } from 'node:fs';
import { WebGpuBackend } from '../src/backends/webgpu/webgpu-backend.js';
import { loadPeftAdapter } from '../src/lora/peft-adapter.js';
import { loraShapesOf } from '../src/models/llama/adapter-graph.js';
import { openLlamaModel } from '../src/models/llama/llama-family.js';
import { LlamaRunner } from '../src/models/llama/llama-runner.js';
import { type PeftRows, compareWithPeft, parityPages } from './lora-parity-compare.js';
import { type BenchRow, cardName, row, writeResults } from './results.js';
import { Check, fail } from './verify.js';

/** The bound on max|ours − peft| ÷ max|peft|. */
const TOLERANCE = 1e-2;

const path = process.argv[2];
if (!path) fail('lora-parity: usage: node dist/bench/lora-parity.js PEFT.json');
const ref = JSON.parse(readFileSync(path, 'utf8')) as PeftRows;
const backend = await WebGpuBackend.create();
const check = new Check('lora-parity');
const model = await openLlamaModel(ref.base);
const shapes = loraShapesOf(model.config);
const adapters = await Promise.all(
  Object.entries(ref.adapters).map(([name, folder]) => loadPeftAdapter(folder, name, shapes)),
);
const runner = await LlamaRunner.load(model, {
  backend,
  actDtype: 'f32',
  weightDtype: 'f32',
  ...parityPages(ref),
  lora: { slots: adapters.length, rmax: Math.max(...adapters.map((a) => a.config.rank)) },
});
await model.weights.close();
for (const a of adapters) runner.adapters!.add(a);
const { tokenByToken, prefillChunk } = await compareWithPeft(runner, ref);
runner.destroy();
const R = ref.rows.length;
const T = ref.rows[0]!.tokens.length;
const rows: BenchRow[] = ref.rows.map((r, i) => {
  const name = r.adapter ?? 'base';
  check.that(
    tokenByToken[i]! <= TOLERANCE && prefillChunk[i]! <= TOLERANCE,
    `row ${i} (${name}): logits within ${TOLERANCE} of peft's (max|Δ| ÷ max|peft|)`,
    `token by token ${tokenByToken[i]!.toExponential(2)} over ${T} positions, prefill chunk ${prefillChunk[i]!.toExponential(2)}`,
  );
  return row({
    case: `built-in model, mixed batch of ${R}, row ${i} (${name})`,
    metric: 'max relative logit error',
    higherIsBetter: false,
    ours: Math.max(tokenByToken[i]!, prefillChunk[i]!),
    anchor: null,
    anchorName: null,
    limit: null,
    limitName: null,
    anchorWhyNull: `peft ${ref.peft} (torch ${ref.torch}, float32) is the reference the error is taken against; the bound is ${TOLERANCE}`,
  });
});
const described = adapters.map((a) => `${a.name} (${ref.adapters[a.name]}, rank ${a.config.rank})`).join(', ');
writeResults(
  'lora-parity',
  cardName(backend),
  rows,
  `${R} rows (${[...new Set(ref.rows.map((r) => r.adapter ?? 'base'))].join(', ')}) of ${T} tokens in one batch, f32 weights and activations; adapters ${described}.`,
  check.passed(),
);
